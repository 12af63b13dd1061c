"""The readiness backlog of the clinic report: sides ready to progress for more than N days with no
decision (docs/reports.md, "Readiness backlog"). One query of the readiness rule itself
(`PrescriptionQuerySet.with_readiness`), then at most one for when each readiness began
(`exercises.progression.ready_since`) and one for the stage each side is ready for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from clinic.reports.clinic_figures.scope import Scope
from exercises.models import Prescription, Stage
from exercises.progression import next_stages, ready_since
from patients.models import Patient


@dataclass(frozen=True)
class Waiting:
    """A side that has been ready to progress for a while with no decision."""

    prescription: Prescription
    ready_since: dt.datetime
    days: int
    # The stage it is ready for (None at the top of the ladder).
    next_stage: Stage | None = None

    @property
    def patient(self) -> Patient:
        return self.prescription.patient


def readiness_backlog(scope: Scope) -> list[Waiting]:
    """Active prescriptions ready to progress for more than `ready_days` days (as of now).

    Ready since = when the first set that met the readiness rule was performed; any stage change
    ends the prescription, so a side still on it has had no decision since.
    """
    # In calendar days, like "days waiting": ready on a day more than N days before today.
    cutoff = dt.datetime.combine(
        scope.today - dt.timedelta(days=scope.ready_days), dt.time.min, tzinfo=scope.clinic.tzinfo
    )
    ready = list(
        Prescription.objects.active()
        .filter(scope.patients("patient__"), patient__discharged_at__isnull=True)
        .with_readiness()
        .filter(is_ready=True)
        .select_related("patient", "stage")
        # The table names the patient and the stage: not the stage's instructions.
        .defer("stage__position", "stage__movement", "stage__cues", "stage__source", "notes")
    )
    since = ready_since(ready)
    following = next_stages(ready)
    waiting = [
        Waiting(
            p,
            since[p.pk],
            (scope.today - scope.clinic.local_date(since[p.pk])).days,
            following.get(p.pk),
        )
        for p in ready
        if since[p.pk] < cutoff
    ]
    return sorted(waiting, key=lambda w: (w.ready_since, w.patient.last_name, w.prescription.side))
