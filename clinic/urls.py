from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from clinic import access_log, dashboard, me, patient_report, patient_views, reports, views
from clinic.forms import AdminSignInForm
from clinic.sources import views as sources

admin.site.site_header = "Clamshell clinic administration"
admin.site.site_title = "Clamshell clinic admin"
admin.site.login_form = AdminSignInForm

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
    # The patient page (care team) and its actions; patient management lives in patients.urls.
    path("patients/", include("patients.urls")),
    path("patients/<int:pk>/", patient_views.patient_detail, name="patient-detail"),
    path("patients/<int:pk>/history/", patient_views.patient_history, name="patient-history"),
    path(
        "patients/<int:pk>/sides/<str:side>/start/",
        patient_views.prescription_start_view,
        name="patient-prescription-start",
    ),
    path(
        "patients/<int:pk>/prescriptions/<int:rx>/advance/",
        patient_views.prescription_advance_view,
        name="patient-prescription-advance",
    ),
    path(
        "patients/<int:pk>/prescriptions/<int:rx>/regress/",
        patient_views.prescription_regress_view,
        name="patient-prescription-regress",
    ),
    path(
        "patients/<int:pk>/prescriptions/<int:rx>/stop/",
        patient_views.prescription_stop_view,
        name="patient-prescription-stop",
    ),
    path("patients/<int:pk>/sets/", patient_views.set_log_view, name="patient-set-log"),
    path(
        "patients/<int:pk>/sets/<int:set_pk>/void/",
        patient_views.set_void_view,
        name="patient-set-void",
    ),
    path(
        "patients/<int:pk>/clearance/",
        patient_views.clearance_record_view,
        name="patient-clearance-record",
    ),
    path(
        "patients/<int:pk>/clearance/<int:note_pk>/document/",
        patient_views.clearance_document,
        name="patient-clearance-document",
    ),
    path(
        "patients/<int:pk>/sides/<str:side>/pain-review/",
        patient_views.pain_review_view,
        name="patient-pain-review",
    ),
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
handler400 = "clinic.error_pages.bad_request"
handler403 = "clinic.error_pages.permission_denied"
handler404 = "clinic.error_pages.page_not_found"
handler500 = "clinic.error_pages.server_error"
