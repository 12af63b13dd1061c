"""The replay check's clearance passes: the notes themselves, how a requirement ends, and the
clearance gate at the start of each prescription."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from tqdm import tqdm

from clinic.data.backup.replay.state import Replay, Rx
from clinic.data.backup.replay.timeline import Timeline
from exercises.models import ChangeReason
from patients.models import ClearanceNote, Decision
from patients.services import ending_problem, required_again_at


def notes_clean(replay: Replay, notes: list[ClearanceNote], progress: tqdm) -> None:
    """Each note passes its own validation (`full_clean()`: field validators, the note's rules
    and its constraints)."""
    for note in notes:
        try:
            note.full_clean()
        except ValidationError as exc:
            replay.refusals.add(
                f"patients.clearancenote {note.pk} (patient {replay.mrn(note.patient_id)}, "
                f"signed {note.signed_on}, recorded {replay.when(note.recorded_at)})",
                f"fails the note's own validation: {_messages(exc)}",
            )
        progress.update(1)


def requirement_endings(replay: Replay, timelines: dict[int, Timeline]) -> None:
    """Only a clearance note that says so ("no further clearance needed") ends a patient's
    clearance requirement (`patients.services`): each time the history turns it off, one
    more such note must have been recorded by then. Counting, rather than pairing a note
    with its row by time, keeps this true of replayed histories whose notes carry the
    replayed time and whose history rows the real one."""
    for pk, timeline in timelines.items():
        endings = sorted(
            n.recorded_at for n in timeline.notes if n.decision == Decision.NOT_REQUIRED
        )
        required = None
        ended = 0
        for when, (requires, _reason, _discharged) in zip(
            timeline.history_dates, timeline.states, strict=True
        ):
            if required and not requires:
                ended += 1
                if bisect_right(endings, when) < ended:
                    replay.refusals.add(
                        f"patients.patient {pk} (patient {replay.mrn(pk)}, history of "
                        f"{replay.when(when)})",
                        "turns the clearance requirement off without a clearance note that "
                        "ends it (“no further clearance needed”), which is the only way "
                        "the requirement ends",
                    )
            required = requires
        if required and not timeline.patient.requires_clearance:
            # The live row is what the app reads from now on: it cannot drop a requirement
            # the history still holds.
            replay.refusals.add(
                f"patients.patient {pk} (patient {replay.mrn(pk)})",
                "does not require clearance, but its history's last row still does: the "
                "requirement was turned off without a clearance note that ends it",
            )
        _ending_signatures(replay, pk, timeline)


def _ending_signatures(replay: Replay, pk: int, timeline: Timeline) -> None:
    """Each "no further clearance needed" note as `clearance_note_record` judged it when it
    was recorded: signed on or after every note recorded before it, and on or after the day
    the requirement was set again, if it was, as the history knew it then."""
    history = list(zip(timeline.history_dates, (s[0] for s in timeline.states), strict=True))
    for k, note in enumerate(timeline.notes):
        if note.decision != Decision.NOT_REQUIRED:
            continue
        again = required_again_at(row for row in history if row[0] <= note.recorded_at)
        since = replay.clinic.local_date(again) if again is not None else None
        if problem := ending_problem(note.signed_on, timeline.notes[:k], since):
            replay.refusals.add(
                f"patients.clearancenote {note.pk} (patient {replay.mrn(pk)}, signed "
                f"{note.signed_on}, recorded {replay.when(note.recorded_at)})",
                f"ends the clearance requirement on a sign-off the app refuses: {problem}",
            )


def prescriptions_gate(replay: Replay, timelines: dict[int, Timeline], progress: tqdm) -> None:
    """A prescription not started by a step down passes the clearance gate on the day it
    started, as the requirement and the notes stood then (the service does not gate a step
    down: less load)."""
    by_patient: dict[int, list[Rx]] = defaultdict(list)
    for rx in replay.prescriptions.values():
        by_patient[rx.patient_id].append(rx)
    for patient_id in sorted(by_patient):
        timeline = timelines[patient_id]
        for rx in sorted(by_patient[patient_id]):
            reason, change = replay.started_by.get(rx.pk, (None, None))
            if reason != ChangeReason.REGRESSED:
                on = replay.clinic.local_date(rx.started_at)
                stage = replay.ladder.stages[rx.stage_id]
                problem = timeline.gate(stage, rx.side, on, rx.started_at)
                if problem:
                    how = (
                        f"started by {reason} change exercises.stagechange {change}"
                        if change
                        else "started by no stage change"
                    )
                    replay.refusals.add(
                        replay.name_rx(rx),
                        f"({how}) does not pass the clearance gate on {on}, as it stood "
                        f"when the prescription started: {problem}",
                    )
            progress.update(1)
        timeline.forget()


def _messages(exc: ValidationError) -> str:
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    return "; ".join(
        " ".join(messages) if name == NON_FIELD_ERRORS else f"{name}: {' '.join(messages)}"
        for name, messages in exc.message_dict.items()
    )
