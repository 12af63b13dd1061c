"""The import's replay check: the imported clinical rows must pass the rules they were written by.

`import_clinic` is a way into the database like the pages and the API, so what it writes must
satisfy the same rules. The services check a prescription, a stage change or a set once, when it
is written; an import writes years of them at once. So, after every row of the file is inserted
and before the import's transaction commits, this module replays those checks on the imported
rows, each as the rules stood when the row was written:

- **What the app knew at a moment t.** The patient's clearance requirement at t is
  `requires_clearance` of the patient's latest history row dated at or before t (the earliest
  row's, when none is that early; the live row's, when the patient has no history); the clearance
  notes the app knew at t are those recorded at or before t.
- **Prescriptions.** One started by a "start" or "progressed" stage change (or by none) must pass
  the clearance gate (`patients.clearance.clearance_problem`) for its stage and side on the clinic
  day it started, as the requirement and the notes stood then. One started by "regressed" is not
  gated: the service does not gate a regress (less load).
- **Stage changes** have the shape the services give them: the patient and side of their
  prescription; a start or a step goes to the prescription's stage at the moment it started, a
  step up comes from the stage below it on the ladder and a step down from the stage above it
  (`exercises.services.previous_stage` / `next_stage`), and a step ends a prescription of the
  same side at the stage it comes from at that same moment; a stop leaves the prescription's stage
  at the moment it ended. A prescription is started by one stage change at most, and stopped by
  one at most.
- **Sets** (voided ones too, which were valid when logged): the patient, stage and side of their
  prescription; performed while it was active (from its start, before its end); performed no more
  than `MAX_LOG_AGE` before and `FUTURE_TOLERANCE` after the moment they were logged
  (`patients.thresholds`, as `exercises.services.set_log`); not logged after the patient's
  discharge; and the clearance gate passes for the prescription's stage and side on the set's
  clinic day, as the requirement and the notes stood when it was logged.
- **The clearance requirement** ends only with a "no further clearance needed" note: every time a
  patient's history turns it off, one more such note has been recorded by then.
- **Clearance notes** pass `full_clean()`: field validators, `ClearanceNote.clean()` and the
  model's constraints. (Ranges and shapes the database enforces, e.g. a set's reps or a stage
  change's missing "from", were already enforced when the rows went in.)

It reads in bulk: the clinic's patients, their history and their clearance notes, its
prescriptions and the ladder are held in memory (thousands of rows); stage changes and sets are
streamed (`values_list`, `iterator`), sets ordered by patient so that the gate's answers can be
cached per patient and dropped when the next patient begins. A clinic with a million sets costs
one pass over them.
"""

from __future__ import annotations

import copy
import datetime as dt
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from exercises.models import ChangeReason, Prescription, SetLog, Stage, StageChange
from exercises.services import next_stage, previous_stage
from patients.clearance import clearance_problem
from patients.models import ClearanceNote, Clinic, Decision, Patient
from patients.services import ending_problem, required_again_at
from patients.thresholds import FUTURE_TOLERANCE, MAX_LOG_AGE, MAX_LOG_AGE_DAYS

# Refusals spelt out in the error; the rest are counted. A damaged file may break thousands of
# rows, and the first few say what is wrong.
MAX_SHOWN = 10
CHUNK = 2000
# Reasons that start a prescription; "stopped" ends one.
STARTING = (ChangeReason.START, ChangeReason.PROGRESSED, ChangeReason.REGRESSED)


@dataclass
class Refusals:
    """What the check found: the first `MAX_SHOWN` rows, each named with why, and how many."""

    shown: list[str] = field(default_factory=list)
    total: int = 0

    def add(self, row: str, why: str) -> None:
        self.total += 1
        if len(self.shown) < MAX_SHOWN:
            self.shown.append(f"{row} {why}")

    def __bool__(self) -> bool:
        return self.total > 0


class _Rx(NamedTuple):
    pk: int
    patient_id: int
    side: str
    stage_id: int
    started_at: dt.datetime
    ended_at: dt.datetime | None


class _Timeline:
    """One patient as the app saw them at any moment: requirement, discharge, notes recorded."""

    def __init__(
        self,
        patient: Patient,
        history: list[tuple[dt.datetime, bool, str, dt.datetime | None]],
        notes: list[ClearanceNote],
    ) -> None:
        self.patient = patient
        self.history_dates = [row[0] for row in history]
        self.states = [row[1:] for row in history]
        self.notes = sorted(notes, key=lambda n: (n.recorded_at, n.pk))
        self.note_times = [n.recorded_at for n in self.notes]
        self._as_of: dict[int, Patient] = {}
        self._answers: dict[tuple[Any, ...], str | None] = {}

    def _state(self, at: dt.datetime) -> int:
        """Index of the history row in force at `at`: the latest dated at or before it, else the
        earliest (-1: no history, the live row)."""
        if not self.states:
            return -1
        return max(bisect_right(self.history_dates, at) - 1, 0)

    def _patient(self, state: int) -> Patient:
        """The patient with the requirement (and its reason) of history row `state`."""
        if state < 0:
            return self.patient
        if state not in self._as_of:
            requires, reason, _ = self.states[state]
            then = copy.copy(self.patient)  # never saved: the gate only reads it
            then.requires_clearance, then.clearance_reason = requires, reason
            self._as_of[state] = then
        return self._as_of[state]

    def discharged_at(self, at: dt.datetime) -> dt.datetime | None:
        """The discharge in force at `at`, if any: the live row's or the history's then."""
        candidates = [self.patient.discharged_at]
        if self.states:
            candidates.append(self.states[self._state(at)][2])
        return min((d for d in candidates if d is not None and d <= at), default=None)

    def gate(self, stage: Stage, side: str, on: dt.date, at: dt.datetime) -> str | None:
        """`clearance_problem` for `side` at `stage` on day `on`, with the requirement and the
        notes as the app knew them at the moment `at`."""
        state = self._state(at)
        known = bisect_right(self.note_times, at)
        key = (stage.pk, side, on, state, known)
        if key not in self._answers:
            self._answers[key] = clearance_problem(
                self._patient(state), stage, side, on, self.notes[:known]
            )
        return self._answers[key]

    def forget(self) -> None:
        """Drop the cached answers (the next patient's sets begin)."""
        self._answers.clear()


class _Ladder:
    """The stages, and each one's neighbours by the services' own rule (cached: a few stages)."""

    def __init__(self) -> None:
        self.stages = {s.pk: s for s in Stage.objects.select_related("ladder")}
        self._below: dict[int, int | None] = {}
        self._above: dict[int, int | None] = {}

    def number(self, stage_id: int | None) -> str:
        return "none" if stage_id is None else f"stage {self.stages[stage_id].number}"

    def below(self, stage_id: int) -> int | None:
        if stage_id not in self._below:
            found = previous_stage(self.stages[stage_id])
            self._below[stage_id] = found.pk if found else None
        return self._below[stage_id]

    def above(self, stage_id: int) -> int | None:
        if stage_id not in self._above:
            found = next_stage(self.stages[stage_id])
            self._above[stage_id] = found.pk if found else None
        return self._above[stage_id]


class _Check:
    def __init__(self, clinic_id: int, bar: Callable[..., Any]) -> None:
        self.clinic = Clinic.objects.get(pk=clinic_id)
        self.bar = bar
        self.refusals = Refusals()
        self.ladder = _Ladder()
        self.patients = {p.pk: p for p in Patient.objects.filter(clinic=self.clinic)}
        for patient in self.patients.values():
            patient.clinic = self.clinic  # the gate reads the clinic's review window
        self.prescriptions: dict[int, _Rx] = {}
        # Prescriptions by the moment they ended, per patient and side: a step up or down ends
        # one and starts the next at the same moment.
        self.ending: dict[tuple[int, str, dt.datetime], list[_Rx]] = defaultdict(list)
        # The stage change that starts each prescription: (reason, its id).
        self.started_by: dict[int, tuple[str, int]] = {}
        self.stopped_by: dict[int, int] = {}

    # -- naming rows ---------------------------------------------------------------------------

    def when(self, moment: dt.datetime | None) -> str:
        if moment is None:
            return "never"
        return moment.astimezone(self.clinic.tzinfo).isoformat(sep=" ")

    def mrn(self, patient_id: int) -> str:
        patient = self.patients.get(patient_id)
        return patient.record_number if patient else f"id {patient_id}"

    def name_rx(self, rx: _Rx) -> str:
        return (
            f"exercises.prescription {rx.pk} (patient {self.mrn(rx.patient_id)}, {rx.side} "
            f"side, {self.ladder.number(rx.stage_id)}, started {self.when(rx.started_at)})"
        )

    # -- the passes ----------------------------------------------------------------------------

    def run(self) -> Refusals:
        notes = list(
            ClearanceNote.objects.filter(patient__clinic=self.clinic).order_by("patient_id", "pk")
        )
        for rx in Prescription.objects.filter(patient__clinic=self.clinic).values_list(
            "pk", "patient_id", "side", "stage_id", "started_at", "ended_at"
        ):
            self.prescriptions[rx[0]] = _Rx(*rx)
            if rx[5] is not None:
                self.ending[(rx[1], rx[2], rx[5])].append(_Rx(*rx))
        changes = StageChange.objects.filter(patient__clinic=self.clinic)
        sets = SetLog.objects.filter(patient__clinic=self.clinic)
        total = len(notes) + len(self.prescriptions) + changes.count() + sets.count()
        progress = self.bar(total=total, desc="Check", unit="row")
        try:
            self.notes_clean(notes, progress)
            timelines = self.timelines(notes)
            self.requirement_endings(timelines)
            self.stage_changes(changes, progress)
            self.prescriptions_gate(timelines, progress)
            self.set_logs(sets, timelines, progress)
        finally:
            progress.close()
        return self.refusals

    def notes_clean(self, notes: list[ClearanceNote], progress: Any) -> None:
        for note in notes:
            try:
                note.full_clean()
            except ValidationError as exc:
                self.refusals.add(
                    f"patients.clearancenote {note.pk} (patient {self.mrn(note.patient_id)}, "
                    f"signed {note.signed_on}, recorded {self.when(note.recorded_at)})",
                    f"fails the note's own validation: {_messages(exc)}",
                )
            progress.update(1)

    def timelines(self, notes: list[ClearanceNote]) -> dict[int, _Timeline]:
        history: dict[int, list[Any]] = defaultdict(list)
        rows = (
            Patient.history.filter(  # type: ignore[attr-defined]
                id__in=Patient.objects.filter(clinic=self.clinic).values("pk")
            )
            .order_by("id", "history_date", "history_id")
            .values_list(
                "id", "history_date", "requires_clearance", "clearance_reason", "discharged_at"
            )
        )
        for patient_id, *state in rows.iterator(chunk_size=CHUNK):
            history[patient_id].append(tuple(state))
        by_patient: dict[int, list[ClearanceNote]] = defaultdict(list)
        for note in notes:
            by_patient[note.patient_id].append(note)
        return {
            pk: _Timeline(patient, history[pk], by_patient[pk])
            for pk, patient in self.patients.items()
        }

    def requirement_endings(self, timelines: dict[int, _Timeline]) -> None:
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
                        self.refusals.add(
                            f"patients.patient {pk} (patient {self.mrn(pk)}, history of "
                            f"{self.when(when)})",
                            "turns the clearance requirement off without a clearance note that "
                            "ends it (“no further clearance needed”), which is the only way "
                            "the requirement ends",
                        )
                required = requires
            if required and not timeline.patient.requires_clearance:
                # The live row is what the app reads from now on: it cannot drop a requirement
                # the history still holds.
                self.refusals.add(
                    f"patients.patient {pk} (patient {self.mrn(pk)})",
                    "does not require clearance, but its history's last row still does: the "
                    "requirement was turned off without a clearance note that ends it",
                )
            self.ending_signatures(pk, timeline)

    def ending_signatures(self, pk: int, timeline: _Timeline) -> None:
        """Each "no further clearance needed" note as `clearance_note_record` judged it when it
        was recorded: signed on or after every note recorded before it, and on or after the day
        the requirement was set again, if it was, as the history knew it then."""
        history = list(zip(timeline.history_dates, (s[0] for s in timeline.states), strict=True))
        for k, note in enumerate(timeline.notes):
            if note.decision != Decision.NOT_REQUIRED:
                continue
            again = required_again_at(row for row in history if row[0] <= note.recorded_at)
            since = self.clinic.local_date(again) if again is not None else None
            if problem := ending_problem(note.signed_on, timeline.notes[:k], since):
                self.refusals.add(
                    f"patients.clearancenote {note.pk} (patient {self.mrn(pk)}, signed "
                    f"{note.signed_on}, recorded {self.when(note.recorded_at)})",
                    f"ends the clearance requirement on a sign-off the app refuses: {problem}",
                )

    def stage_changes(self, changes: Any, progress: Any) -> None:
        rows = changes.order_by("patient_id", "pk").values_list(
            "pk",
            "patient_id",
            "side",
            "from_stage_id",
            "to_stage_id",
            "reason",
            "prescription_id",
            "at",
        )
        n = 0
        for n, (pk, patient_id, side, from_id, to_id, reason, rx_id, at) in enumerate(
            rows.iterator(chunk_size=CHUNK), 1
        ):
            rx = self.prescriptions[rx_id]
            row = (
                f"exercises.stagechange {pk} (patient {self.mrn(patient_id)}, {side} side, "
                f"{reason}: {self.ladder.number(from_id)} → {self.ladder.number(to_id)}, "
                f"at {self.when(at)})"
            )
            wrong = self.change_mismatches(rx, patient_id, side, from_id, to_id, reason, at)
            if reason in STARTING:
                if rx_id in self.started_by:
                    wrong.append(
                        f"exercises.stagechange {self.started_by[rx_id][1]} already starts "
                        f"{self.name_rx(rx)}"
                    )
                else:
                    self.started_by[rx_id] = (reason, pk)
            elif reason == ChangeReason.STOPPED:
                if rx_id in self.stopped_by:
                    wrong.append(
                        f"exercises.stagechange {self.stopped_by[rx_id]} already stops "
                        f"{self.name_rx(rx)}"
                    )
                else:
                    self.stopped_by[rx_id] = pk
            if wrong:
                self.refusals.add(row, "does not match what the app records: " + "; ".join(wrong))
            if n % CHUNK == 0:
                progress.update(CHUNK)
        progress.update(n % CHUNK)

    def change_mismatches(
        self,
        rx: _Rx,
        patient_id: int,
        side: str,
        from_id: int | None,
        to_id: int | None,
        reason: str,
        at: dt.datetime,
    ) -> list[str]:
        """How a stage change differs from the one the services write for its prescription."""
        wrong: list[str] = []
        label = self.name_rx(rx)
        if patient_id != rx.patient_id:
            wrong.append(
                f"it is patient {self.mrn(patient_id)}'s, its prescription is not: {label}"
            )
        if side != rx.side:
            wrong.append(f"it is on the {side} side, its prescription on the {rx.side}: {label}")
        if reason == ChangeReason.STOPPED:
            expected_from, expected_to, expected_at = rx.stage_id, None, rx.ended_at
            moment = "ended"
        else:
            expected_to, expected_at, moment = rx.stage_id, rx.started_at, "started"
            expected_from = {
                ChangeReason.START: None,
                ChangeReason.PROGRESSED: self.ladder.below(rx.stage_id),
                ChangeReason.REGRESSED: self.ladder.above(rx.stage_id),
            }[ChangeReason(reason)]
        if to_id != expected_to:
            wrong.append(
                f"it goes to {self.ladder.number(to_id)}, where a {reason} change of {label} "
                f"goes to {self.ladder.number(expected_to)}"
            )
        if from_id != expected_from:
            wrong.append(
                f"it comes from {self.ladder.number(from_id)}, where a {reason} change of "
                f"{label} comes from {self.ladder.number(expected_from)}"
            )
        if at != expected_at:
            wrong.append(
                f"it is dated {self.when(at)}, where {label} {moment} {self.when(expected_at)}"
            )
        if reason in (ChangeReason.PROGRESSED, ChangeReason.REGRESSED) and not any(
            before.stage_id == from_id and before.pk != rx.pk
            for before in self.ending[(rx.patient_id, rx.side, at)]
        ):
            wrong.append(
                f"no prescription of the {rx.side} side at {self.ladder.number(from_id)} ends at "
                f"that moment, where a {reason} change ends one as it starts {label}"
            )
        return wrong

    def prescriptions_gate(self, timelines: dict[int, _Timeline], progress: Any) -> None:
        by_patient: dict[int, list[_Rx]] = defaultdict(list)
        for rx in self.prescriptions.values():
            by_patient[rx.patient_id].append(rx)
        for patient_id in sorted(by_patient):
            timeline = timelines[patient_id]
            for rx in sorted(by_patient[patient_id]):
                reason, change = self.started_by.get(rx.pk, (None, None))
                if reason != ChangeReason.REGRESSED:
                    on = self.clinic.local_date(rx.started_at)
                    stage = self.ladder.stages[rx.stage_id]
                    problem = timeline.gate(stage, rx.side, on, rx.started_at)
                    if problem:
                        how = (
                            f"started by {reason} change exercises.stagechange {change}"
                            if change
                            else "started by no stage change"
                        )
                        self.refusals.add(
                            self.name_rx(rx),
                            f"({how}) does not pass the clearance gate on {on}, as it stood "
                            f"when the prescription started: {problem}",
                        )
                progress.update(1)
            timeline.forget()

    def set_logs(self, sets: Any, timelines: dict[int, _Timeline], progress: Any) -> None:
        rows = sets.order_by("patient_id", "performed_at", "pk").values_list(
            "pk", "patient_id", "prescription_id", "stage_id", "side", "performed_at", "logged_at"
        )
        current: _Timeline | None = None
        n = 0
        for n, (pk, patient_id, rx_id, stage_id, side, performed_at, logged_at) in enumerate(
            rows.iterator(chunk_size=CHUNK), 1
        ):
            timeline = timelines[patient_id]
            if timeline is not current:
                if current is not None:
                    current.forget()
                current = timeline
            why = self.set_problem(
                timeline,
                self.prescriptions[rx_id],
                patient_id,
                stage_id,
                side,
                performed_at,
                logged_at,
            )
            if why:
                self.refusals.add(
                    f"exercises.setlog {pk} (patient {self.mrn(patient_id)}, {side} side, "
                    f"{self.ladder.number(stage_id)}, performed {self.when(performed_at)}, "
                    f"logged {self.when(logged_at)})",
                    why,
                )
            if n % CHUNK == 0:
                progress.update(CHUNK)
        progress.update(n % CHUNK)

    def set_problem(
        self,
        timeline: _Timeline,
        rx: _Rx,
        patient_id: int,
        stage_id: int,
        side: str,
        performed_at: dt.datetime,
        logged_at: dt.datetime,
    ) -> str | None:
        """Why `set_log` would have refused this set when it was logged, or None."""
        label = self.name_rx(rx)
        if rx.patient_id != patient_id:
            return f"is on another patient's prescription: {label}"
        if stage_id != rx.stage_id or side != rx.side:
            return f"is not at the stage and side of its prescription: {label}"
        if performed_at < rx.started_at:
            return f"was performed before its prescription started: {label}"
        if rx.ended_at is not None and performed_at >= rx.ended_at:
            return f"was performed after its prescription ended ({self.when(rx.ended_at)}): {label}"
        if performed_at < logged_at - MAX_LOG_AGE:
            return (
                f"was performed more than {MAX_LOG_AGE_DAYS} days before it was logged, which "
                "the app refuses"
            )
        if performed_at > logged_at + FUTURE_TOLERANCE:
            minutes = int(FUTURE_TOLERANCE.total_seconds() // 60)
            return (
                f"was performed more than {minutes} minutes after it was logged, which the app "
                "refuses"
            )
        discharged = timeline.discharged_at(logged_at)
        if discharged is not None:
            return f"was logged after the patient's discharge ({self.when(discharged)})"
        on = self.clinic.local_date(performed_at)
        problem = timeline.gate(self.ladder.stages[rx.stage_id], rx.side, on, logged_at)
        if problem:
            return (
                f"does not pass the clearance gate on {on}, as it stood when the set was "
                f"logged: {problem}"
            )
        return None


def _messages(exc: ValidationError) -> str:
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    return "; ".join(
        " ".join(messages) if name == NON_FIELD_ERRORS else f"{name}: {' '.join(messages)}"
        for name, messages in exc.message_dict.items()
    )


def replay_refusals(clinic_id: int, bar: Callable[..., Any]) -> Refusals:
    """Check the clinic's imported clinical rows (module docstring); the rows that fail, named."""
    return _Check(clinic_id, bar).run()


def refusal_lines(refusals: Refusals) -> Iterable[str]:
    yield from refusals.shown
    if refusals.total > len(refusals.shown):
        yield f"… and {refusals.total - len(refusals.shown)} more."
