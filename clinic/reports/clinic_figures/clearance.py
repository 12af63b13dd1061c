"""The clearance figures of the clinic report (docs/reports.md, "Clearance"): who waits for a
clearance and whose clearance is due for review, by the one rule of
`patients.clearance.clearance_status` (two queries: the patients, then their notes).
"""

from __future__ import annotations

from dataclasses import dataclass

from clinic.reports.clinic_figures.scope import Scope
from patients.clearance import ClearanceState, clearance_status
from patients.models import ClearanceNote, Patient


@dataclass(frozen=True)
class ClearanceFigures:
    waiting: list[tuple[Patient, str]]
    due_for_review: list[tuple[Patient, ClearanceNote]]


def clearance(scope: Scope) -> ClearanceFigures:
    """Active patients who need clearance and have none in force today (missing, not cleared or
    lapsed), and those whose clearance is due for review within the clinic's warning days."""
    patients = list(
        Patient.objects.active()
        .filter(scope.patients(), requires_clearance=True)
        .prefetch_related("clearance_notes")
        .order_by("last_name", "first_name", "pk")
    )
    waiting, due = [], []
    for patient in patients:
        status = clearance_status(
            patient,
            scope.today,
            patient.clearance_notes.all(),
            review_soon_days=scope.clinic.review_soon_days,
        )
        if status.state == ClearanceState.DUE_FOR_REVIEW:
            assert status.note is not None
            due.append((patient, status.note))
        elif not status.in_force:
            waiting.append((patient, status.summary))
    return ClearanceFigures(waiting, due)
