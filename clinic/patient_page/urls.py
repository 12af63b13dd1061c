"""Every page under /patients/: managing a patient (create, edit, their sign-in), the patient page
for the care team, its actions, and the patient's history."""

from django.urls import path

from clinic.patient_page import actions, manage, views

urlpatterns = [
    path("new/", manage.patient_create, name="patient-create"),
    path("<int:pk>/edit/", manage.patient_edit, name="patient-edit"),
    path("<int:pk>/login/", manage.patient_login, name="patient-login"),
    path("<int:pk>/", views.patient_detail, name="patient-detail"),
    path("<int:pk>/history/", views.patient_history, name="patient-history"),
    path(
        "<int:pk>/sides/<str:side>/start/",
        actions.prescription_start_view,
        name="patient-prescription-start",
    ),
    path(
        "<int:pk>/prescriptions/<int:rx>/advance/",
        actions.prescription_advance_view,
        name="patient-prescription-advance",
    ),
    path(
        "<int:pk>/prescriptions/<int:rx>/regress/",
        actions.prescription_regress_view,
        name="patient-prescription-regress",
    ),
    path(
        "<int:pk>/prescriptions/<int:rx>/stop/",
        actions.prescription_stop_view,
        name="patient-prescription-stop",
    ),
    path("<int:pk>/sets/", actions.set_log_view, name="patient-set-log"),
    path(
        "<int:pk>/sets/<int:set_pk>/void/",
        actions.set_void_view,
        name="patient-set-void",
    ),
    path(
        "<int:pk>/clearance/",
        actions.clearance_record_view,
        name="patient-clearance-record",
    ),
    path(
        "<int:pk>/clearance/<int:note_pk>/document/",
        views.clearance_document,
        name="patient-clearance-document",
    ),
    path(
        "<int:pk>/sides/<str:side>/pain-review/",
        actions.pain_review_view,
        name="patient-pain-review",
    ),
]
