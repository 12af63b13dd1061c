from django.urls import path

from exercises.api import fhir_views, views

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("auth/check/", views.TokenCheckView.as_view(), name="api-token-check"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("me/plan/", views.PlanView.as_view(), name="api-plan"),
    path("me/progress/", views.ProgressView.as_view(), name="api-progress"),
    path("me/sets/", views.SetListView.as_view(), name="api-sets"),
    path("me/sets/batch/", views.SetBatchView.as_view(), name="api-sets-batch"),
    path("patients/<str:pk>/fhir/", fhir_views.PatientFHIRView.as_view(), name="api-patient-fhir"),
]
