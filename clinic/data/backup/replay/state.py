"""What the replay check's passes share: the clinic's rows held in memory, the refusals found so
far, and how a refused row is named (model, id, patient record number, side, stage, time)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db.models import QuerySet
from tqdm import tqdm

from exercises.models import ChangeReason, Prescription, Stage
from exercises.services import next_stage, previous_stage
from patients.models import Clinic, Patient

# Refusals spelt out in the error; the rest are counted. A damaged file may break thousands of
# rows, and the first few say what is wrong.
MAX_SHOWN = 10
# Stage changes and sets are streamed in batches of this many rows.
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


class Rx(NamedTuple):
    """A prescription, as the passes read it."""

    pk: int
    patient_id: int
    side: str
    stage_id: int
    started_at: dt.datetime
    ended_at: dt.datetime | None


class Ladder:
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


class Replay:
    """One clinic's check: its patients, prescriptions and ladder, and the refusals found."""

    def __init__(self, clinic_id: int) -> None:
        self.clinic = Clinic.objects.get(pk=clinic_id)
        self.refusals = Refusals()
        self.ladder = Ladder()
        self.patients = {p.pk: p for p in Patient.objects.filter(clinic=self.clinic)}
        for patient in self.patients.values():
            patient.clinic = self.clinic  # the gate reads the clinic's review window
        self.prescriptions: dict[int, Rx] = {}
        # Prescriptions by the moment they ended, per patient and side: a step up or down ends
        # one and starts the next at the same moment.
        self.ending: dict[tuple[int, str, dt.datetime], list[Rx]] = defaultdict(list)
        # The stage change that starts each prescription: (reason, its id).
        self.started_by: dict[int, tuple[str, int]] = {}
        self.stopped_by: dict[int, int] = {}

    def prescriptions_load(self) -> None:
        for row in Prescription.objects.filter(patient__clinic=self.clinic).values_list(
            "pk", "patient_id", "side", "stage_id", "started_at", "ended_at"
        ):
            rx = Rx(*row)
            self.prescriptions[rx.pk] = rx
            if rx.ended_at is not None:
                self.ending[(rx.patient_id, rx.side, rx.ended_at)].append(rx)

    # -- naming rows -------------------------------------------------------------------------------

    def when(self, moment: dt.datetime | None) -> str:
        if moment is None:
            return "never"
        return moment.astimezone(self.clinic.tzinfo).isoformat(sep=" ")

    def mrn(self, patient_id: int) -> str:
        patient = self.patients.get(patient_id)
        return patient.record_number if patient else f"id {patient_id}"

    def name_rx(self, rx: Rx) -> str:
        return (
            f"exercises.prescription {rx.pk} (patient {self.mrn(rx.patient_id)}, {rx.side} "
            f"side, {self.ladder.number(rx.stage_id)}, started {self.when(rx.started_at)})"
        )


def streamed(rows: QuerySet[Any, tuple[Any, ...]], progress: tqdm) -> Iterator[tuple[Any, ...]]:
    """The rows of a `values_list` query, read in batches; the bar moves once per batch."""
    n = 0
    for n, row in enumerate(rows.iterator(chunk_size=CHUNK), 1):
        yield row
        if n % CHUNK == 0:
            progress.update(CHUNK)
    progress.update(n % CHUNK)
