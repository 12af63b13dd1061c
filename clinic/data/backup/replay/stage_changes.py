"""The replay check's stage-change pass: each change has the shape the services give it.

A start or a step goes to its prescription's stage at the moment it started; a step up comes from
the stage just below on the ladder and a step down from the one just above, and ends a
prescription of the same side at that stage at that same moment; a stop leaves the prescription's
stage at the moment it ended. A prescription is started by one change at most, stopped by one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from django.db.models import QuerySet
from tqdm import tqdm

from clinic.data.backup.replay.state import STARTING, Replay, Rx, streamed
from exercises.models import ChangeReason, StageChange


class Change(NamedTuple):
    """A stage change, as the pass reads it."""

    pk: int
    patient_id: int
    side: str
    from_id: int | None
    to_id: int | None
    reason: str
    rx_id: int
    at: dt.datetime


def stage_changes(replay: Replay, changes: QuerySet[StageChange], progress: tqdm) -> None:
    """Every change of the clinic, by patient; records which change starts and stops each
    prescription, for the clearance gate at its start (`clearance.prescriptions_gate`)."""
    rows: QuerySet[Any, tuple[Any, ...]] = changes.order_by("patient_id", "pk").values_list(
        "pk",
        "patient_id",
        "side",
        "from_stage_id",
        "to_stage_id",
        "reason",
        "prescription_id",
        "at",
    )
    for row in streamed(rows, progress):
        change = Change(*row)
        rx = replay.prescriptions[change.rx_id]
        wrong = _mismatches(replay, rx, change) + _repeats(replay, rx, change)
        if wrong:
            replay.refusals.add(
                f"exercises.stagechange {change.pk} (patient {replay.mrn(change.patient_id)}, "
                f"{change.side} side, {change.reason}: {replay.ladder.number(change.from_id)} → "
                f"{replay.ladder.number(change.to_id)}, at {replay.when(change.at)})",
                "does not match what the app records: " + "; ".join(wrong),
            )


def _repeats(replay: Replay, rx: Rx, change: Change) -> list[str]:
    """A second start or a second stop of one prescription; the first is recorded."""
    if change.reason in STARTING:
        if change.rx_id in replay.started_by:
            first = replay.started_by[change.rx_id][1]
            return [f"exercises.stagechange {first} already starts {replay.name_rx(rx)}"]
        replay.started_by[change.rx_id] = (change.reason, change.pk)
    elif change.reason == ChangeReason.STOPPED:
        if change.rx_id in replay.stopped_by:
            first = replay.stopped_by[change.rx_id]
            return [f"exercises.stagechange {first} already stops {replay.name_rx(rx)}"]
        replay.stopped_by[change.rx_id] = change.pk
    return []


def _mismatches(replay: Replay, rx: Rx, change: Change) -> list[str]:
    """How a stage change differs from the one the services write for its prescription."""
    wrong: list[str] = []
    label = replay.name_rx(rx)
    reason = change.reason
    if change.patient_id != rx.patient_id:
        wrong.append(
            f"it is patient {replay.mrn(change.patient_id)}'s, its prescription is not: {label}"
        )
    if change.side != rx.side:
        wrong.append(f"it is on the {change.side} side, its prescription on the {rx.side}: {label}")
    expected_from, expected_to, expected_at, moment = _expected(replay, rx, reason)
    number = replay.ladder.number
    if change.to_id != expected_to:
        wrong.append(
            f"it goes to {number(change.to_id)}, where a {reason} change of {label} "
            f"goes to {number(expected_to)}"
        )
    if change.from_id != expected_from:
        wrong.append(
            f"it comes from {number(change.from_id)}, where a {reason} change of "
            f"{label} comes from {number(expected_from)}"
        )
    if change.at != expected_at:
        wrong.append(
            f"it is dated {replay.when(change.at)}, where {label} {moment} "
            f"{replay.when(expected_at)}"
        )
    if reason in (ChangeReason.PROGRESSED, ChangeReason.REGRESSED) and not any(
        before.stage_id == change.from_id and before.pk != rx.pk
        for before in replay.ending[(rx.patient_id, rx.side, change.at)]
    ):
        wrong.append(
            f"no prescription of the {rx.side} side at {number(change.from_id)} ends at "
            f"that moment, where a {reason} change ends one as it starts {label}"
        )
    return wrong


def _expected(
    replay: Replay, rx: Rx, reason: str
) -> tuple[int | None, int | None, dt.datetime | None, str]:
    """The from and to stage, the moment, and what the prescription did then ("started",
    "ended"), of a change of `reason` the services write for `rx`."""
    if reason == ChangeReason.STOPPED:
        return rx.stage_id, None, rx.ended_at, "ended"
    expected_from = {
        ChangeReason.START: None,
        ChangeReason.PROGRESSED: replay.ladder.below(rx.stage_id),
        ChangeReason.REGRESSED: replay.ladder.above(rx.stage_id),
    }[ChangeReason(reason)]
    return expected_from, rx.stage_id, rx.started_at, "started"
