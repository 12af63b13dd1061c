"""The pain figures of the clinic report (docs/reports.md, "Pain"): the valid and the painful sets in
the range in one aggregate, and the open pain alerts by the dashboard's rule (one query of
`exercises.progression.open_pain_alerts`, at most one for their patients).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q

from clinic.reports.clinic_figures.scope import Scope
from exercises.models import SetLog
from exercises.progression import PainAlert, open_pain_alerts
from patients.models import Patient


@dataclass(frozen=True)
class OpenPainAlert:
    """A side's open pain alert, for the report's table."""

    patient: Patient
    alert: PainAlert

    @property
    def side(self) -> str:
        return self.alert.side


@dataclass(frozen=True)
class PainFigures:
    sets: int
    painful_sets: int
    painful_patients: int
    open_alerts: list[OpenPainAlert]


def pain(scope: Scope) -> PainFigures:
    """Valid sets in the range, those above the pain alert threshold in force for them (their
    prescription's, else the clinic's), the patients who had them; and the sides of active
    patients with a pain alert open now (the rule of `exercises.progression`: painful sets no
    therapist has reviewed yet)."""
    painful = Q(pain__gt=F("alert_threshold"))
    totals = (
        SetLog.objects.valid()
        .filter(scope.patients("patient__"))
        .filter(performed_at__gte=scope.start, performed_at__lt=scope.end)
        .with_alert_threshold()
        .aggregate(
            # Not COUNT(id): the id is not in the index the range is read from; pain is (and
            # never empty).
            sets=Count("*"),
            painful_sets=Count("pain", filter=painful),
            painful_patients=Count("patient", distinct=True, filter=painful),
        )
    )
    in_scope = Patient.objects.active().filter(scope.patients())
    alerts = open_pain_alerts(Q(patient__in=in_scope.values("pk")), [scope.clinic])
    patients = in_scope.in_bulk({patient_id for patient_id, _ in alerts})
    rows = [OpenPainAlert(patients[patient_id], a) for (patient_id, _), a in alerts.items()]
    rows.sort(key=lambda r: (-r.alert.highest_pain, r.patient.last_name, r.side))
    return PainFigures(open_alerts=rows, **totals)
