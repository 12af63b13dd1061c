"""Only patients use `me/`: their own data, and nobody else's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from patients.models import Patient

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def request_user(request: Request) -> User:
    """The signed-in user. The API's views let no one else in (IsAuthenticated by default), so
    the refusal here is never reached; it says so to the type checker."""
    user = request.user
    if not user.is_authenticated:
        raise NotAuthenticated
    return user


def request_patient(request: Request) -> Patient:
    """The signed-in patient (IsPatient has already checked there is one)."""
    return request_user(request).patient


class IsPatient(BasePermission):
    message = "This API is for patients: sign in with a patient's account."

    def has_permission(self, request: Request, view: Any) -> bool:
        # A user without a patient record raises RelatedObjectDoesNotExist, an AttributeError.
        patient = getattr(request.user, "patient", None)
        if patient is None:
            return False
        if not patient.is_active:
            self.message = "Your programme has ended (discharged): contact your clinic."
            return False
        return True
