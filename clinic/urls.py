from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from clinic.accounts import views
from clinic.accounts.forms import AdminSignInForm
from clinic.audit import views as access_log
from clinic.caseload import views as dashboard
from clinic.my_exercises import views as me
from clinic.reports import clinic_views as reports
from clinic.reports import patient_views as patient_report
from clinic.sources import views as sources

admin.site.site_header = "Clamshell clinic administration"
admin.site.site_title = "Clamshell clinic admin"
admin.site.login_form = AdminSignInForm
# The admin's sign-in, limited per minute like the sign-in page (the lockout covers both already).
admin.site.login = views.throttled_admin_sign_in(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", views.root, name="root"),
    # Before Django's auth URLs: the same sign-in page, with the API's sign-in limits.
    path("accounts/login/", views.ThrottledLoginView.as_view(), name="login"),
    # Sign-out and the password change page. No "forgot password" pages: the app sends no mail, so
    # an administrator resets a password (a therapist, for their patient's login).
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("home/", views.home, name="home"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("reports/", reports.clinic_report, name="reports"),
    path("reports/patients/<int:pk>/", patient_report.patient_report, name="patient-report"),
    # Who viewed or exported what, clinic-wide (docs/audit.md).
    path("audit/", access_log.access_log, name="access-log"),
    path("sources/", sources.sources, name="sources"),
    path("me/", me.me, name="me"),
    path("me/log/", me.me_log, name="me-log"),
    path("patients/", include("clinic.patient_page.urls")),
    path("api/v1/", include("exercises.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        csp_override(settings.API_DOCS_CSP)(SpectacularSwaggerView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("admin/", admin.site.urls),
]

# Errors Django answers itself: JSON in the API's error shape under /api/, pages elsewhere.
handler400 = "clinic.serving.error_pages.bad_request"
handler403 = "clinic.serving.error_pages.permission_denied"
handler404 = "clinic.serving.error_pages.page_not_found"
handler500 = "clinic.serving.error_pages.server_error"
