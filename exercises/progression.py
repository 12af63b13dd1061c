"""Readiness to progress and the alerts (DESIGN §4): rules that read many rows.

`alerts_for` works on a whole caseload in a fixed number of queries (three, whatever the number of
patients), so a dashboard can call it for a page of patients without N+1.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from exercises.models import PAIN_ALERT_ABOVE, Prescription, SetLog
from patients.clearance import ClearanceState, clearance_problem, clearance_status
from patients.models import ClearanceNote, Patient

# "No logs for 7 days" and "pain above 5 in the last 7 days" (DESIGN §4).
NO_LOG_DAYS = 7
PAIN_WINDOW = dt.timedelta(days=7)


def is_ready(prescription: Prescription) -> bool:
    """Readiness for one prescription; the rule itself is `PrescriptionQuerySet.with_readiness`."""
    return bool(
        Prescription.objects.with_readiness()
        .filter(pk=prescription.pk)
        .values_list("is_ready", flat=True)
        .first()
    )


class AlertKind(enum.StrEnum):
    PAIN = "pain"
    NO_LOGS = "no_logs"
    CLEARANCE_MISSING = "clearance_missing"
    CLEARANCE_LAPSED = "clearance_lapsed"
    CLEARANCE_REVIEW_DUE = "clearance_review_due"
    READY = "ready"


_BLOCKING = (AlertKind.CLEARANCE_MISSING, AlertKind.CLEARANCE_LAPSED)
# Most urgent first: the order a dashboard lists them in.
ALERT_ORDER = list(AlertKind)


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    message: str
    side: str | None = None
    # A READY alert at the top stage: nothing to progress to, the therapist decides what next.
    ladder_complete: bool = False

    @property
    def label(self) -> str:
        if self.ladder_complete:
            return "Ladder complete"
        return {
            AlertKind.PAIN: "Pain above 5",
            AlertKind.NO_LOGS: f"No logs for {NO_LOG_DAYS} days",
            AlertKind.CLEARANCE_MISSING: "Clearance missing",
            AlertKind.CLEARANCE_LAPSED: "Clearance lapsed",
            AlertKind.CLEARANCE_REVIEW_DUE: "Clearance due for review",
            AlertKind.READY: "Ready to progress",
        }[self.kind]


def active_prescriptions_with_state(
    patient_ids: Iterable[int] | QuerySet[Patient], *, now: dt.datetime, pain_only: bool = False
) -> list[Prescription]:
    """Active prescriptions annotated with readiness, recent pain and whether a next stage exists.

    `patient_ids` may be a queryset of patient pks: it then runs as a subquery, not a long list.
    `pain_only` keeps those with an open pain alert, chosen by the database (a clinic-wide list
    would otherwise build thousands of rows to keep a handful)."""
    # Pain on this side's sets: those on the current prescription, and those that reached the
    # server after it started (a set done offline at the previous stage, synced after the stage
    # changed, was never seen by whoever changed it). Older pain on an ended prescription was
    # there to act on when the stage changed, so a regress clears it.
    recent_pain = (
        SetLog.objects.valid()
        .filter(Q(prescription=OuterRef("pk")) | Q(logged_at__gte=OuterRef("started_at")))
        .filter(
            patient=OuterRef("patient"),
            side=OuterRef("side"),
            pain__gt=PAIN_ALERT_ABOVE,
            performed_at__gte=now - PAIN_WINDOW,
        )
        .order_by("-pain", "-performed_at")
    )
    prescriptions = (
        Prescription.objects.active()
        .filter(
            patient_id__in=patient_ids if isinstance(patient_ids, QuerySet) else list(patient_ids)
        )
        .with_readiness()
        .annotate(
            recent_max_pain=Subquery(recent_pain.values("pain")[:1]),
            recent_max_pain_at=Subquery(recent_pain.values("performed_at")[:1]),
        )
        .with_next_stage()
        .select_related("stage", "patient__clinic")
        .order_by("patient_id", "side")
    )
    if pain_only:
        prescriptions = prescriptions.filter(recent_max_pain__isnull=False)
    return list(prescriptions)


def alerts_for(
    patients: Iterable[Patient], *, now: dt.datetime | None = None
) -> dict[int, list[Alert]]:
    """Alerts per patient id, most urgent first. Pass patients with `clinic` selected."""
    now = now or timezone.now()
    patients = list(patients)
    ids = [p.pk for p in patients]
    prescriptions: dict[int, list[Prescription]] = defaultdict(list)
    for prescription in active_prescriptions_with_state(ids, now=now):
        prescriptions[prescription.patient_id].append(prescription)
    notes: dict[int, list[ClearanceNote]] = defaultdict(list)
    for note in ClearanceNote.objects.filter(patient_id__in=ids):
        notes[note.patient_id].append(note)
    last_logs = dict(
        SetLog.objects.valid()
        .filter(patient_id__in=ids)
        .values("patient_id")
        .annotate(last=Max("performed_at"))
        .values_list("patient_id", "last")
    )

    result: dict[int, list[Alert]] = {}
    for patient in patients:
        today = patient.clinic.local_date(now)
        alerts = _clearance_alerts(patient, today, notes[patient.pk])
        blocked = any(a.kind in _BLOCKING for a in alerts)
        paused_sides = set()
        for p in prescriptions[patient.pk]:
            problem = clearance_problem(patient, p.stage.number, today, notes[patient.pk])
            if problem:
                paused_sides.add(p.side)
                if not blocked:  # clearance in force, but the stage is above what it allows
                    alerts.append(Alert(AlertKind.CLEARANCE_MISSING, problem, p.side))
            alerts.extend(_prescription_alerts(p))
        running = [p for p in prescriptions[patient.pk] if p.side not in paused_sides]
        if running:
            alerts.extend(_no_logs_alert(patient, running, last_logs.get(patient.pk), today))
        alerts.sort(key=lambda a: ALERT_ORDER.index(a.kind))
        result[patient.pk] = alerts
    return result


def patient_alerts(patient: Patient, *, now: dt.datetime | None = None) -> list[Alert]:
    return alerts_for([patient], now=now)[patient.pk]


def _clearance_alerts(patient: Patient, today: dt.date, notes: list[ClearanceNote]) -> list[Alert]:
    status = clearance_status(patient, today, notes)
    kind = {
        ClearanceState.MISSING: AlertKind.CLEARANCE_MISSING,
        ClearanceState.NOT_CLEARED: AlertKind.CLEARANCE_MISSING,
        ClearanceState.LAPSED: AlertKind.CLEARANCE_LAPSED,
        ClearanceState.DUE_FOR_REVIEW: AlertKind.CLEARANCE_REVIEW_DUE,
    }.get(status.state)
    return [Alert(kind, status.summary)] if kind else []


def _prescription_alerts(p: Prescription) -> list[Alert]:
    alerts = []
    side = p.get_side_display().lower()
    if p.recent_max_pain is not None:
        suggestion = (
            "consider regressing one stage"
            if p.stage.number > 1
            else "review the exercise with the patient"
        )
        alerts.append(
            Alert(
                AlertKind.PAIN,
                f"Pain {p.recent_max_pain}/10 on the {side} side at stage {p.stage.number} "
                f"on {p.recent_max_pain_at:%d %b}: {suggestion}.",
                p.side,
            )
        )
    if p.is_ready:
        if p.has_next_stage:
            message = (
                f"{p.get_side_display()} side did {p.reps_threshold}+ reps at stage "
                f"{p.stage.number} with pain ≤ {p.pain_threshold}: ready for stage "
                f"{p.stage.number + 1}."
            )
        else:
            message = (
                f"{p.get_side_display()} side is ready at stage {p.stage.number}, the top of the "
                f"ladder: the ladder is complete."
            )
        alerts.append(Alert(AlertKind.READY, message, p.side, ladder_complete=not p.has_next_stage))
    return alerts


def _no_logs_alert(
    patient: Patient,
    running: list[Prescription],
    last_log_at: dt.datetime | None,
    today: dt.date,
) -> list[Alert]:
    # Counted from the last log, or from the latest start if the plan changed since: a patient
    # who was given a new stage two days ago has not been silent for a week.
    latest_start = max(p.started_at for p in running)
    since = max(latest_start, last_log_at) if last_log_at else latest_start
    days = (today - patient.clinic.local_date(since)).days
    if days < NO_LOG_DAYS:
        return []
    if last_log_at is None:
        message = f"No sets logged since the plan started {days} days ago."
    else:
        message = f"No sets logged for {days} days (last on {patient.clinic.local_date(last_log_at):%d %b})."
    return [Alert(AlertKind.NO_LOGS, message)]
