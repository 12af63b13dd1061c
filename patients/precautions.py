"""Movement precautions a surgeon's or physician's sign-off can set, and which stages they rule out.

The stages say what they ask of the hip (`exercises.Stage`: the rotation of the top leg, each hip's
flexion, whether the top leg is held up or lifted out to the side, that the patient lies on the
other side), and each precaution says which of those movements it forbids, of which hip. The gate
(`patients.clearance`) reads them from that data: a new or edited stage is checked by what it
declares, never by its number.

Which hip: a precaution protects the operated hip (the clearance note's `operated_side`; "both"
protects both). Exercising a side lifts that side's leg, the *top* one; the patient lies on the
other hip, the *bottom* one. So "no lying on the operated side" rules out exercising the other
side, because that is the side you lie on to lift it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from django.db import models

from patients.thresholds import HIP_FLEXION_LIMIT_DEG


class Rotation(models.TextChoices):
    """Which way the top leg's hip turns during a stage's movement."""

    EXTERNAL = "external", "Outwards (external rotation)"
    INTERNAL = "internal", "Inwards (internal rotation)"
    NONE = "none", "No rotation"


class Precaution(models.TextChoices):
    """A movement precaution, as a clearance note records it. Each is a boolean field of the note
    (`ClearanceNote.<value>`), so the database holds nothing outside this list."""

    NO_INTERNAL_ROTATION = (
        "no_internal_rotation",
        "No hip internal rotation past neutral",
    )
    NO_FLEXION_PAST_90 = "no_flexion_past_90", f"No hip flexion past {HIP_FLEXION_LIMIT_DEG}°"
    NO_LYING_ON_OPERATED_SIDE = "no_lying_on_operated_side", "No lying on the operated side"
    NO_RESISTED_ABDUCTION = "no_resisted_abduction", "No resisted hip abduction"


class StageDemands(Protocol):
    """What a stage asks of the hip (`exercises.Stage` provides it)."""

    number: int
    bottom_hip_flexion_deg: int
    top_hip_flexion_deg: int
    top_hip_rotation: str
    top_leg_lifted: bool
    abducts_against_gravity: bool
    lies_on_other_side: bool


def other_side(side: str) -> str:
    return "right" if side == "left" else "left"


def operated_hips(operated_side: str) -> set[str]:
    return {"left", "right"} if operated_side == "both" else {operated_side}


@dataclass(frozen=True)
class Conflict:
    """A precaution that rules out a stage on a side, with what the stage would do."""

    precaution: Precaution
    # What the stage asks that the precaution forbids, e.g. "Stage 2 turns the left hip inwards".
    demand: str


def _internal_rotation(stage: StageDemands, side: str, operated: set[str]) -> str | None:
    # Only the top (exercised) hip rotates; the bottom hip rests.
    if side in operated and stage.top_hip_rotation == Rotation.INTERNAL:
        return f"Stage {stage.number} turns the {side} hip inwards"
    return None


def _flexion(stage: StageDemands, side: str, operated: set[str]) -> str | None:
    hips = ((side, stage.top_hip_flexion_deg), (other_side(side), stage.bottom_hip_flexion_deg))
    for hip, degrees in hips:
        if hip in operated and degrees > HIP_FLEXION_LIMIT_DEG:
            return f"Stage {stage.number} bends the {hip} hip to {degrees}°"
    return None


def _lying(stage: StageDemands, side: str, operated: set[str]) -> str | None:
    below = other_side(side)
    if stage.lies_on_other_side and below in operated:
        return f"Exercising the {side} side at stage {stage.number} means lying on the {below} side"
    return None


def _abduction(stage: StageDemands, side: str, operated: set[str]) -> str | None:
    if side in operated and stage.abducts_against_gravity:
        return f"Stage {stage.number} lifts the {side} leg out to the side against gravity"
    return None


_RULES: dict[Precaution, Callable[[StageDemands, str, set[str]], str | None]] = {
    Precaution.NO_INTERNAL_ROTATION: _internal_rotation,
    Precaution.NO_FLEXION_PAST_90: _flexion,
    Precaution.NO_LYING_ON_OPERATED_SIDE: _lying,
    Precaution.NO_RESISTED_ABDUCTION: _abduction,
}


def conflicts(
    precautions: Iterable[str], stage: StageDemands, side: str, operated_side: str
) -> list[Conflict]:
    """Every precaution that rules out working `side` at `stage`, in the order of `Precaution`."""
    operated = operated_hips(operated_side)
    chosen = set(precautions)
    found = []
    for precaution in Precaution:
        if precaution.value in chosen and (demand := _RULES[precaution](stage, side, operated)):
            found.append(Conflict(precaution, demand))
    return found


def conflict_message(conflict: Conflict, signed_on: dt.date) -> str:
    """E.g. "Stage 2 turns the left hip inwards, which the clearance of 2 Oct 2026 rules out (no
    hip internal rotation past neutral)"."""
    label = str(conflict.precaution.label)
    return (
        f"{conflict.demand}, which the clearance of {signed_on.day} {signed_on:%b %Y} rules out "
        f"({label[0].lower()}{label[1:]})"
    )
