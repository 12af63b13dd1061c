"""One patient as the app saw them at any moment: clearance requirement, discharge, notes recorded.

The replay check judges each row as the rules stood when it was written, so it asks the gate with
the patient's history row in force then and the clearance notes recorded by then (the package's
docstring, "What the app knew at a moment t").
"""

from __future__ import annotations

import copy
import datetime as dt
from bisect import bisect_right
from typing import Any

from exercises.models import Stage
from patients.clearance import clearance_problem
from patients.models import ClearanceNote, Patient

# A patient history row as the check reads it: when, requires clearance, its reason, discharge.
HistoryRow = tuple[dt.datetime, bool, str, dt.datetime | None]


class Timeline:
    """One patient as the app saw them at any moment: requirement, discharge, notes recorded."""

    def __init__(
        self, patient: Patient, history: list[HistoryRow], notes: list[ClearanceNote]
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
