"""The replay check's set pass: each set (voided ones too, which were valid when logged) as
`exercises.services.set_log` judged it when it was logged."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from django.db.models import QuerySet
from tqdm import tqdm

from clinic.data.backup.replay.state import Replay, Rx, streamed
from clinic.data.backup.replay.timeline import Timeline
from exercises.models import SetLog
from patients.thresholds import FUTURE_TOLERANCE, MAX_LOG_AGE, MAX_LOG_AGE_DAYS


class LoggedSet(NamedTuple):
    """A set, as the pass reads it."""

    pk: int
    patient_id: int
    rx_id: int
    stage_id: int
    side: str
    performed_at: dt.datetime
    logged_at: dt.datetime


def set_logs(
    replay: Replay, sets: QuerySet[SetLog], timelines: dict[int, Timeline], progress: tqdm
) -> None:
    """Every set of the clinic, by patient, so that a patient's gate answers are cached while
    their sets pass and dropped when the next patient's begin."""
    rows: QuerySet[Any, tuple[Any, ...]] = sets.order_by(
        "patient_id", "performed_at", "pk"
    ).values_list(
        "pk", "patient_id", "prescription_id", "stage_id", "side", "performed_at", "logged_at"
    )
    current: Timeline | None = None
    for row in streamed(rows, progress):
        logged = LoggedSet(*row)
        timeline = timelines[logged.patient_id]
        if timeline is not current:
            if current is not None:
                current.forget()
            current = timeline
        why = _set_problem(replay, timeline, replay.prescriptions[logged.rx_id], logged)
        if why:
            replay.refusals.add(
                f"exercises.setlog {logged.pk} (patient {replay.mrn(logged.patient_id)}, "
                f"{logged.side} side, {replay.ladder.number(logged.stage_id)}, performed "
                f"{replay.when(logged.performed_at)}, logged {replay.when(logged.logged_at)})",
                why,
            )


def _set_problem(replay: Replay, timeline: Timeline, rx: Rx, logged: LoggedSet) -> str | None:
    """Why `set_log` would have refused this set when it was logged, or None."""
    label = replay.name_rx(rx)
    performed_at, logged_at = logged.performed_at, logged.logged_at
    if rx.patient_id != logged.patient_id:
        return f"is on another patient's prescription: {label}"
    if logged.stage_id != rx.stage_id or logged.side != rx.side:
        return f"is not at the stage and side of its prescription: {label}"
    if performed_at < rx.started_at:
        return f"was performed before its prescription started: {label}"
    if rx.ended_at is not None and performed_at >= rx.ended_at:
        return f"was performed after its prescription ended ({replay.when(rx.ended_at)}): {label}"
    if performed_at < logged_at - MAX_LOG_AGE:
        return (
            f"was performed more than {MAX_LOG_AGE_DAYS} days before it was logged, which "
            "the app refuses"
        )
    if performed_at > logged_at + FUTURE_TOLERANCE:
        minutes = int(FUTURE_TOLERANCE.total_seconds() // 60)
        return (
            f"was performed more than {minutes} minutes after it was logged, which the app refuses"
        )
    discharged = timeline.discharged_at(logged_at)
    if discharged is not None:
        return f"was logged after the patient's discharge ({replay.when(discharged)})"
    on = replay.clinic.local_date(performed_at)
    problem = timeline.gate(replay.ladder.stages[rx.stage_id], rx.side, on, logged_at)
    if problem:
        return (
            f"does not pass the clearance gate on {on}, as it stood when the set was "
            f"logged: {problem}"
        )
    return None
