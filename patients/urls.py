"""Patient management pages (therapists). The patient page itself is `clinic.patient_views`."""

from django.urls import path

from patients import views

urlpatterns = [
    path("new/", views.patient_create, name="patient-create"),
    path("<int:pk>/edit/", views.patient_edit, name="patient-edit"),
    path("<int:pk>/login/", views.patient_login, name="patient-login"),
]
