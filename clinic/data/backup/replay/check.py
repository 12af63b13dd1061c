"""The replay check as the import calls it: load the clinic's rows, run the passes, name the rows
that fail (the package's docstring says what each pass checks)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from clinic.data.backup.replay.clearance import (
    notes_clean,
    prescriptions_gate,
    requirement_endings,
)
from clinic.data.backup.replay.sets import set_logs
from clinic.data.backup.replay.stage_changes import stage_changes
from clinic.data.backup.replay.state import CHUNK, Refusals, Replay
from clinic.data.backup.replay.timeline import HistoryRow, Timeline
from clinic.data.progress_bar import BarFactory
from exercises.models import SetLog, StageChange
from patients.models import ClearanceNote, Patient


def replay_refusals(clinic_id: int, bar: BarFactory) -> Refusals:
    """Check the clinic's imported clinical rows (the package's docstring); the rows that fail,
    named."""
    replay = Replay(clinic_id)
    notes = list(
        ClearanceNote.objects.filter(patient__clinic=replay.clinic).order_by("patient_id", "pk")
    )
    replay.prescriptions_load()
    changes = StageChange.objects.filter(patient__clinic=replay.clinic)
    sets = SetLog.objects.filter(patient__clinic=replay.clinic)
    total = len(notes) + len(replay.prescriptions) + changes.count() + sets.count()
    progress = bar(total=total, desc="Check", unit="row")
    try:
        notes_clean(replay, notes, progress)
        timelines = _timelines(replay, notes)
        requirement_endings(replay, timelines)
        # Before the gate: it needs to know which change started each prescription.
        stage_changes(replay, changes, progress)
        prescriptions_gate(replay, timelines, progress)
        set_logs(replay, sets, timelines, progress)
    finally:
        progress.close()
    return replay.refusals


def refusal_lines(refusals: Refusals) -> Iterable[str]:
    yield from refusals.shown
    if refusals.total > len(refusals.shown):
        yield f"… and {refusals.total - len(refusals.shown)} more."


def _timelines(replay: Replay, notes: list[ClearanceNote]) -> dict[int, Timeline]:
    """Each patient's history rows and clearance notes, read in bulk."""
    history: dict[int, list[HistoryRow]] = defaultdict(list)
    rows: Any = (
        Patient.history.filter(id__in=Patient.objects.filter(clinic=replay.clinic).values("pk"))
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
        pk: Timeline(patient, history[pk], by_patient[pk])
        for pk, patient in replay.patients.items()
    }
