"""Recording who read or exported patient data (the other half of the audit trail).

Changes are recorded by django-simple-history on every save; reads and exports leave no row of
their own, so the pages and downloads that show a patient's record (the admin's change pages
included) call `record_access` once per successful request. So does disabling or enabling a
patient's login, the one change with no history table to hold it (the user table has none).
Lives in `patients`, the lowest app, so that `exercises` (the FHIR export) and `clinic` (pages and
reports) can both record.

One insert and nothing else: no lookups, no `full_clean()` (which would query each foreign key),
so a page's query count grows by exactly one whatever the data. A refused or failed request shows
nothing, so it records nothing (`recorded` records only a 2xx response).
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpResponseBase

from patients.models import AccessAction, AccessEvent, Clinic, Patient

DETAIL_MAX = AccessEvent._meta.get_field("detail").max_length or 200


def record_access(
    *,
    user: AbstractBaseUser | AnonymousUser,
    action: AccessAction,
    patient: Patient | None = None,
    clinic: Clinic | None = None,
    detail: str = "",
) -> AccessEvent:
    """Record that `user` read or exported `patient`'s data (or, with no patient, a clinic's).

    `detail` must be a value the app chose (a table's name, a period), never text someone typed:
    the audit trail must not become a second copy of the record. Misuse is a programming error,
    so it raises instead of quietly storing something else.
    """
    if not user.is_authenticated:
        raise ValueError("Only a signed-in user's access is recorded.")
    if patient is not None:
        if clinic is not None and clinic.pk != patient.clinic_id:
            raise ValueError("The patient belongs to another clinic.")
        clinic_id = patient.clinic_id
    elif clinic is not None:
        clinic_id = clinic.pk
    else:
        raise ValueError("Give the patient, or the clinic for a clinic-wide event.")
    if action not in AccessAction.values:
        raise ValueError(f"Unknown access action {action!r}.")
    if len(detail) > DETAIL_MAX:
        raise ValueError(f"detail is longer than {DETAIL_MAX} characters.")
    return AccessEvent.objects.create(
        user_id=user.pk,
        username=user.get_username(),
        clinic_id=clinic_id,
        patient=patient,
        action=action,
        detail=detail,
    )


def recorded[Response: HttpResponseBase](
    response: Response,
    *,
    user: AbstractBaseUser | AnonymousUser,
    action: AccessAction,
    patient: Patient | None = None,
    clinic: Clinic | None = None,
    detail: str = "",
) -> Response:
    """`response`, after recording the access if it succeeded: one call at a view's return.

    A 400 (an unknown table, a bad period) showed nothing, so it leaves no event.
    """
    if 200 <= response.status_code < 300:
        record_access(user=user, action=action, patient=patient, clinic=clinic, detail=detail)
    return response
