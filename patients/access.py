"""Who may see what: the helpers each door scopes its reads of patient data with (private by
default). docs/domain.md, "Who sees what", says which door uses which."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from patients.models import Clinic, Membership, Patient, Role

if TYPE_CHECKING:
    from django.contrib.auth import models as auth

# Who asks (`request.user`): a signed-in user or an anonymous visitor.
type User = auth.User | auth.AnonymousUser


def clinics_for(user: User, role: Role | None = None) -> QuerySet[Clinic]:
    """The clinics where the user holds a membership (optionally with one role)."""
    if not user.is_authenticated:
        return Clinic.objects.none()
    memberships = Membership.objects.filter(user=user)
    if role is not None:
        memberships = memberships.filter(role=role)
    return Clinic.objects.filter(pk__in=memberships.values("clinic"))


def is_therapist(user: User) -> bool:
    return clinics_for(user, Role.THERAPIST).exists()


def is_clinic_staff(user: User) -> bool:
    """Staff or therapist somewhere: both may read their clinic's reports."""
    return clinics_for(user).exists()


def patient_of(user: User) -> Patient | None:
    """The patient record this login belongs to, if the user is a patient."""
    if not user.is_authenticated:
        return None
    return Patient.objects.select_related("clinic").filter(user=user).first()


def role_in(user: User, clinic: Clinic) -> str | None:
    """The user's role in this clinic, or None."""
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(user=user, clinic=clinic).values_list("role", flat=True).first()
    )


def can_change_clinical(user: User, patient: Patient) -> bool:
    """Therapists of the patient's clinic change clinical data; staff only read it (docs/domain.md,
    "Who sees what")."""
    return role_in(user, patient.clinic) == Role.THERAPIST


def staff_patient_for_user(user: User, pk: int) -> Patient:
    """A patient for the care-team pages: a therapist or staff member of the patient's clinic.

    404 for anyone else — including the patient themselves, who has their own page — so the answer
    never tells an outsider that the patient exists.
    """
    patient = (
        Patient.objects.filter(clinic__in=clinics_for(user), pk=pk)
        .select_related("clinic", "primary_therapist")
        .first()
    )
    if patient is None:
        raise Http404("No such patient.")
    return patient


def patient_for_change(user: User, pk: int) -> Patient:
    """A patient of the user's clinics (404 otherwise) whom the user may change (403 otherwise)."""
    patient = staff_patient_for_user(user, pk)
    if not can_change_clinical(user, patient):
        raise PermissionDenied("Only the clinic's therapists change patients.")
    return patient
