from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from clinic import dashboard, me, views

admin.site.site_header = "Clamshell clinic administration"
admin.site.site_title = "Clamshell clinic admin"

urlpatterns = [
    path("", views.root, name="root"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("home/", views.home, name="home"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("reports/", views.reports, name="reports"),
    path("me/", me.me, name="me"),
    path("api/v1/", include("exercises.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
