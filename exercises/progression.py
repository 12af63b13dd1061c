"""Readiness to progress, pain alerts and the alerts: rules that read many rows (docs/domain.md,
"Readiness", "Pain alerts belong to a side" and "Alerts").

The thresholds are those in force for each clinic and prescription (`patients.thresholds`).

**A pain alert belongs to a patient's side**, not to a stage: it is open while the side has a
valid set above the pain alert threshold (its prescription's, else the clinic's) that no therapist
has reviewed yet — one that reached the clinic after the side's latest `PainReview` — and that was
done within the clinic's look-back of reaching it (a set done weeks ago and synced late is listed,
not rung). Stage changes do not close it; only a review does ("regressed", "continued" or
"referred", `exercises.services.pain_review_record`). Voiding the set takes it out, like every
figure.

`alerts_for` works on a whole caseload in a fixed number of queries (five, whatever the number of
patients), so a dashboard can call it for a page of patients without N+1.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone
from django_stubs_ext import WithAnnotations

from exercises.models import (
    AlertThreshold,
    PainReview,
    Prescription,
    PrescriptionWithState,
    Readiness,
    SetLog,
    SetLogQuerySet,
    Stage,
)
from patients.clearance import ClearanceState, clearance_problem, clearance_status
from patients.models import ClearanceNote, Clinic, Patient


def is_ready(prescription: Prescription) -> bool:
    """Readiness for one prescription; the rule itself is `PrescriptionQuerySet.with_readiness`."""
    return bool(
        Prescription.objects.with_readiness()
        .filter(pk=prescription.pk)
        .values_list("is_ready", flat=True)
        .first()
    )


def ready_since(
    prescriptions: Iterable[WithAnnotations[Prescription, Readiness]],
) -> dict[int, dt.datetime]:
    """When each ready prescription's readiness began: its first qualifying set after its last
    painful set (the readiness rule of `PrescriptionQuerySet.with_readiness`), in one query.

    Pass prescriptions annotated by `with_readiness`; those not ready are left out. (As a
    correlated subquery this cost a scan of the prescription's sets for every qualifying set.)
    """
    ready = {p.pk: p for p in prescriptions if p.is_ready}
    if not ready:
        return {}
    since: dict[int, dt.datetime] = {}
    # The sets that may qualify, oldest first; each prescription's own thresholds and last
    # painful set are applied here (a condition per prescription costs more to build than this).
    for prescription_id, performed_at, reps, pain in (
        SetLog.objects.valid()
        .filter(
            prescription_id__in=list(ready),
            reps__gte=min(p.reps_threshold for p in ready.values()),
        )
        .order_by("performed_at")
        .values_list("prescription_id", "performed_at", "reps", "pain")
    ):
        p = ready[prescription_id]
        if (
            prescription_id not in since
            and reps >= p.reps_threshold
            and pain <= p.pain_threshold
            and (p.last_painful_at is None or performed_at > p.last_painful_at)
        ):
            since[prescription_id] = performed_at
    return since


# -- pain alerts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PainAlert:
    """A side's open pain alert: the painful sets no one has reviewed yet."""

    patient_id: int
    side: str
    highest_pain: int
    highest_at: dt.datetime  # when the worst set was performed
    stage: int  # the stage the worst set was done at
    sets: int
    opened_at: dt.datetime  # when the first of them reached the clinic
    threshold: int  # the alert threshold of the worst set
    # When the newest of them reached the clinic: a review form carries it, so a set that arrives
    # while the therapist reads is not closed unseen (`services.pain_review_record`).
    last_logged_at: dt.datetime


def unreviewed_painful_sets(
    patients: Q, clinics: Iterable[Clinic], *, until: dt.datetime | None = None
) -> SetLogQuerySet[WithAnnotations[SetLog, AlertThreshold]]:
    """The valid painful sets that keep pain alerts open, for the patients `patients` selects
    (a filter on SetLog), all of them patients of `clinics`.

    `until`: as the alerts stood then (sets and reviews up to that moment), for a report's range.
    """
    # Reviewed = a review of the side at or after the set reached the clinic. As NOT EXISTS the
    # database can anti-join the reviews once, instead of looking up each set's latest review.
    reviews = PainReview.objects.filter(
        patient=OuterRef("patient"), side=OuterRef("side"), at__gte=OuterRef("logged_at")
    )
    sets = SetLog.objects.valid()
    if until is not None:
        reviews = reviews.filter(at__lte=until)
        sets = sets.filter(logged_at__lte=until)
    clinics = list(clinics)
    if not clinics:
        return SetLog.objects.with_alert_threshold().none()
    days = sorted({c.pain_lookback_days for c in clinics})
    within = Q()
    for n in days:
        # Done within the look-back of reaching the clinic. One look-back (one clinic) needs no
        # join to the clinics.
        in_clinic = Q(patient__clinic__pain_lookback_days=n) if len(days) > 1 else Q()
        within |= in_clinic & Q(performed_at__gte=F("logged_at") - dt.timedelta(days=n))
    # First, a bound that reads the set alone: above the lowest alert threshold in force anywhere
    # (these clinics', or any prescription's own, found once by the database). Most sets stop
    # here, before the look-back arithmetic and the review lookup run for them (SQLite tests a
    # condition on the set before it joins the prescription the exact threshold needs).
    lowest = min(c.pain_alert_above for c in clinics)
    bound = Least(
        Value(lowest),
        Coalesce(
            Subquery(
                Prescription.objects.filter(pain_alert_above__isnull=False)
                .order_by("pain_alert_above")
                .values("pain_alert_above")[:1]
            ),
            Value(lowest),
        ),
    )
    return (
        sets.filter(pain__gt=bound)
        .filter(patients)
        .painful()
        .filter(within)
        .filter(~Exists(reviews))
    )


def open_pain_alerts(
    patients: Q, clinics: Iterable[Clinic], *, until: dt.datetime | None = None
) -> dict[tuple[int, str], PainAlert]:
    """Open pain alerts per (patient id, side), in one query. `patients` filters SetLog."""
    rows = (
        unreviewed_painful_sets(patients, clinics, until=until)
        .order_by()
        .values_list(
            "patient_id",
            "side",
            "pain",
            "performed_at",
            "logged_at",
            "stage__number",
            "alert_threshold",
        )
    )
    # (pain, performed at, logged at, stage, threshold) per side
    grouped: dict[tuple[int, str], list[tuple[int, dt.datetime, dt.datetime, int, int]]] = (
        defaultdict(list)
    )
    for patient_id, side, pain, performed_at, logged_at, stage, threshold in rows:
        grouped[(patient_id, side)].append((pain, performed_at, logged_at, stage, threshold))
    alerts = {}
    for (patient_id, side), sets in grouped.items():
        # The worst set; of equal ones, the latest.
        pain, performed_at, _, stage, threshold = max(sets, key=lambda s: (s[0], s[1]))
        alerts[(patient_id, side)] = PainAlert(
            patient_id=patient_id,
            side=side,
            highest_pain=pain,
            highest_at=performed_at,
            stage=stage,
            sets=len(sets),
            opened_at=min(s[2] for s in sets),
            threshold=threshold,
            last_logged_at=max(s[2] for s in sets),
        )
    return alerts


def pain_alert_for(patient: Patient, side: str) -> PainAlert | None:
    return open_pain_alerts(Q(patient=patient, side=side), [patient.clinic]).get((patient.pk, side))


# -- the alerts ----------------------------------------------------------------------------------


class AlertKind(enum.StrEnum):
    PAIN = "pain"
    NO_LOGS = "no_logs"
    CLEARANCE_MISSING = "clearance_missing"
    CLEARANCE_LAPSED = "clearance_lapsed"
    STAGE_NOT_ALLOWED = "stage_not_allowed"
    CLEARANCE_REVIEW_DUE = "clearance_review_due"
    READY = "ready"

    @property
    def title(self) -> str:  # type: ignore[override]  # on purpose: templates read `kind.title`
        """The kind in general (a filter's choice); `Alert.label` says it with its numbers."""
        return {
            AlertKind.PAIN: "Pain alert",
            AlertKind.NO_LOGS: "No recent logs",
            AlertKind.CLEARANCE_MISSING: "Clearance missing",
            AlertKind.CLEARANCE_LAPSED: "Clearance lapsed",
            AlertKind.STAGE_NOT_ALLOWED: "Stage not allowed by clearance",
            AlertKind.CLEARANCE_REVIEW_DUE: "Clearance due for review",
            AlertKind.READY: "Ready to progress",
        }[self]


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
    # A READY alert whose next stage the clearance rules out: why, for the care team.
    next_stage_blocked: str | None = None
    # The number the label names: the pain threshold, or the days without logs.
    number: int | None = None

    @property
    def label(self) -> str:
        if self.ladder_complete:
            return "Ladder complete"
        if self.kind == AlertKind.READY and self.next_stage_blocked:
            return "Ready, next stage not allowed"
        if self.kind == AlertKind.PAIN and self.number is not None:
            return f"Pain above {self.number}"
        if self.kind == AlertKind.NO_LOGS and self.number is not None:
            return f"No logs for {self.number} days"
        return self.kind.title


def active_prescriptions_with_state(
    patient_ids: Iterable[int] | QuerySet[Patient, int], *, now: dt.datetime
) -> list[PrescriptionWithState]:
    """Active prescriptions annotated with readiness, best reps within the pain ceiling and the
    thresholds in force (the next stage of each: `next_stages`).

    `patient_ids` may be a queryset of patient pks: it then runs as a subquery, not a long list.
    """
    return list(
        Prescription.objects.active()
        .filter(
            patient_id__in=patient_ids if isinstance(patient_ids, QuerySet) else list(patient_ids)
        )
        .with_readiness()
        .with_best_reps()
        .select_related("stage", "patient__clinic")
        .order_by("patient_id", "side")
    )


def next_stages(prescriptions: Iterable[Prescription]) -> dict[int, Stage]:
    """The next stage of each prescription's stage (by prescription id), in one query; the top
    of a ladder has none. Rungs are found by number within the ladder, never assumed."""
    prescriptions = list(prescriptions)
    ladders = {p.stage.ladder_id for p in prescriptions}
    rungs: dict[int, list[Stage]] = defaultdict(list)
    for stage in Stage.objects.filter(ladder_id__in=ladders).order_by("number"):
        rungs[stage.ladder_id].append(stage)
    result = {}
    for p in prescriptions:
        higher = [s for s in rungs[p.stage.ladder_id] if s.number > p.stage.number]
        if higher:
            result[p.pk] = higher[0]
    return result


def alerts_for(
    patients: Iterable[Patient],
    *,
    now: dt.datetime | None = None,
    pain_alerts: dict[tuple[int, str], PainAlert] | None = None,
) -> dict[int, list[Alert]]:
    """Alerts per patient id, most urgent first. Pass patients with `clinic` selected, and
    `pain_alerts` when the caller already has them (`open_pain_alerts` for these patients until
    `now`): a query saved."""
    now = now or timezone.now()
    patients = list(patients)
    ids = [p.pk for p in patients]
    prescriptions: dict[int, list[PrescriptionWithState]] = defaultdict(list)
    every = active_prescriptions_with_state(ids, now=now)
    for prescription in every:
        prescriptions[prescription.patient_id].append(prescription)
    following = next_stages(every)
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
    pain: dict[int, list[PainAlert]] = defaultdict(list)
    if pain_alerts is None:
        pain_alerts = open_pain_alerts(
            Q(patient_id__in=ids), {p.clinic for p in patients}, until=now
        )
    for (patient_id, _side), alert in pain_alerts.items():
        pain[patient_id].append(alert)

    result: dict[int, list[Alert]] = {}
    for patient in patients:
        today = patient.clinic.local_date(now)
        own = notes[patient.pk]
        alerts = _clearance_alerts(patient, today, own)
        blocked = any(a.kind in _BLOCKING for a in alerts)
        paused_sides = set()
        for p in prescriptions[patient.pk]:
            problem = clearance_problem(patient, p.stage, p.side, today, own)
            if problem:
                paused_sides.add(p.side)
                if not blocked:  # clearance in force, but it rules this stage out
                    alerts.append(Alert(AlertKind.STAGE_NOT_ALLOWED, problem, p.side))
            nxt = following.get(p.pk)
            ahead = clearance_problem(patient, nxt, p.side, today, own) if nxt else None
            alerts.extend(_readiness_alerts(p, nxt, ahead))
        alerts.extend(_pain_alert(alert, patient.clinic) for alert in pain[patient.pk])
        running = [p for p in prescriptions[patient.pk] if p.side not in paused_sides]
        if running:
            alerts.extend(_no_logs_alert(patient, running, last_logs.get(patient.pk), today))
        alerts.sort(key=lambda a: (ALERT_ORDER.index(a.kind), a.side or ""))
        result[patient.pk] = alerts
    return result


def patient_alerts(
    patient: Patient,
    *,
    now: dt.datetime | None = None,
    pain_alerts: dict[tuple[int, str], PainAlert] | None = None,
) -> list[Alert]:
    return alerts_for([patient], now=now, pain_alerts=pain_alerts)[patient.pk]


def _clearance_alerts(patient: Patient, today: dt.date, notes: list[ClearanceNote]) -> list[Alert]:
    status = clearance_status(patient, today, notes)
    kind = {
        ClearanceState.MISSING: AlertKind.CLEARANCE_MISSING,
        ClearanceState.NOT_CLEARED: AlertKind.CLEARANCE_MISSING,
        ClearanceState.LAPSED: AlertKind.CLEARANCE_LAPSED,
        ClearanceState.DUE_FOR_REVIEW: AlertKind.CLEARANCE_REVIEW_DUE,
    }.get(status.state)
    return [Alert(kind, status.summary)] if kind else []


def _pain_alert(alert: PainAlert, clinic: Clinic) -> Alert:
    more = f"; {alert.sets} sets above {alert.threshold} not yet reviewed" if alert.sets > 1 else ""
    return Alert(
        AlertKind.PAIN,
        f"Pain {alert.highest_pain}/10 on the {alert.side} side at stage {alert.stage} on "
        f"{clinic.local_date(alert.highest_at):%d %b}{more}. Review it: regress one stage, "
        f"continue, or refer to the doctor.",
        alert.side,
        number=alert.threshold,
    )


def _readiness_alerts(
    p: PrescriptionWithState, nxt: Stage | None, ahead: str | None
) -> list[Alert]:
    if not p.is_ready:
        return []
    side = p.get_side_display()
    if nxt is None:
        return [
            Alert(
                AlertKind.READY,
                f"{side} side is ready at stage {p.stage.number}, the top of the ladder: the "
                f"ladder is complete.",
                p.side,
                ladder_complete=True,
            )
        ]
    done = (
        f"{side} side did {p.reps_threshold}+ reps at stage {p.stage.number} with pain ≤ "
        f"{p.pain_threshold}"
    )
    if ahead:
        return [
            Alert(
                AlertKind.READY,
                f"{done}, but stage {nxt.number} is not allowed: {ahead}",
                p.side,
                next_stage_blocked=ahead,
            )
        ]
    return [Alert(AlertKind.READY, f"{done}: ready for stage {nxt.number}.", p.side)]


def _no_logs_alert(
    patient: Patient,
    running: Sequence[Prescription],
    last_log_at: dt.datetime | None,
    today: dt.date,
) -> list[Alert]:
    # Counted from the last log, or from the latest start if the plan changed since: a patient
    # who was given a new stage two days ago has not been silent for a week.
    limit = patient.clinic.silent_days
    latest_start = max(p.started_at for p in running)
    since = max(latest_start, last_log_at) if last_log_at else latest_start
    days = (today - patient.clinic.local_date(since)).days
    if days < limit:
        return []
    if last_log_at is None:
        message = f"No sets logged since the plan started {days} days ago."
    else:
        message = f"No sets logged for {days} days (last on {patient.clinic.local_date(last_log_at):%d %b})."
    return [Alert(AlertKind.NO_LOGS, message, number=limit)]
