"""Who said what: one line per clinical claim the system makes, with its source.

The "Sources" page (`clinic/sources/`) shows these lines; every stage's instructions and the
start and advance forms link to it. The numbers come from the data and the thresholds module
(`patients.thresholds`), never restated here, so the page says what the system actually uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.db import models

from exercises.models import IntensityBand, Prescription, Stage
from patients import thresholds as t


@dataclass(frozen=True)
class Claim:
    what: str
    source: str
    note: str = ""


def claims(stages: Sequence[Stage], values: t.Thresholds = t.DEFAULTS) -> list[Claim]:
    """The claims, for the ladder's `stages` (in order) and the thresholds in force."""
    mvic = ", ".join(f"stage {s.number} {s.gmed_mvic_percent}" for s in stages)
    notes = "; ".join(f"stage {s.number}: {s.mvic_note.rstrip('.')}" for s in stages if s.mvic_note)
    angles = "; ".join(
        f"stage {s.number}: bottom hip {s.bottom_hip_flexion_deg}°, top hip "
        f"{s.top_hip_flexion_deg}°"
        for s in stages
    )
    bands = ", ".join(str(b.label) for b in IntensityBand)
    dose = {
        # Columns of the prescription, not relations: each is a Field, with its default.
        name: cast(models.Field[Any, Any], Prescription._meta.get_field(name)).get_default()
        for name in ("target_sets", "target_reps", "hold_at_top_seconds", "sessions_per_week")
    }
    return [
        Claim(
            f"Gluteus medius activation, % of maximal voluntary isometric contraction: {mvic}.",
            f"The source article, {t.SOURCE_ARTICLE}, as it reports them from {t.BOREN_2011}.",
            "Measured with surface EMG in healthy adults, not in patients after injury or "
            "surgery." + (f" For {notes}." if notes else ""),
        ),
        Claim(
            f"Ready for the next stage at {t.READY_REPS} reps in one set (the default; this "
            f"clinic: {values.ready_reps}).",
            f"The source article ({t.SOURCE_ARTICLE}).",
        ),
        Claim(
            f"The stages' hip angles ({angles}) and movements.",
            f"The source article ({t.SOURCE_ARTICLE}).",
            "Its stage 4 reads “hips in neutral (0 degrees of flexion)” with the top leg held "
            "up; the clinic keeps the bottom hip bent as in stages 1–3, for a stable base.",
        ),
        Claim(
            f"Pain: 0–{t.READY_PAIN_CEILING}/10 safe, up to {t.PAIN_ALERT_ABOVE}/10 acceptable, "
            f"above {t.PAIN_ALERT_ABOVE}/10 not acceptable. A set counts towards readiness only "
            f"at or below the safe band's top; a set above the acceptable band opens a pain "
            f"alert (this clinic: ready at pain ≤ {values.pain_ceiling}, alert above "
            f"{values.pain_alert_above}).",
            f"The pain-monitoring model: {t.THOMEE_1997}.",
        ),
        Claim(
            f"Intensity bands of %MVIC: {bands}.",
            f"{t.REIMAN_2012}.",
        ),
        Claim(
            f"Data days counted in {t.WINDOW_DAYS}-day monitoring windows and banded fewer than "
            f"{t.BAND_LOW_BELOW}, {t.BAND_LOW_BELOW}–{t.BAND_HIGH_FROM - 1}, "
            f"{t.BAND_HIGH_FROM}–{t.WINDOW_DAYS}.",
            f"{t.CMS_RTM}.",
            "A billing definition, not a clinical target.",
        ),
        Claim(
            "Movement precautions (no hip internal rotation past neutral, no hip flexion past "
            f"{t.HIP_FLEXION_LIMIT_DEG}°, no lying on the operated side, no resisted hip "
            "abduction) and which stages they rule out.",
            "The patient's own clearance note, signed by their surgeon or physician. The list "
            "holds precautions commonly set after hip surgery (the first two are the usual ones "
            "after a posterior-approach hip replacement); which stage conflicts with which is "
            "read from what each stage asks of the hip, above.",
        ),
        Claim(
            "The stage names; the tempo in each stage's cues; the dose defaults "
            f"({dose['target_sets']} sets of {dose['target_reps']}, a "
            f"{dose['hold_at_top_seconds']}-second hold, {dose['sessions_per_week']} sessions a "
            f"week); the {values.pain_lookback_days}-day pain look-back, the {values.silent_days} days "
            f"without logs before an alert, the {values.review_soon_days}-day clearance review "
            f"warning; the {t.MAX_LOG_AGE_DAYS}-day limit for syncing a set.",
            f"{t.CLINIC_DEFAULT.capitalize()}.",
            "The source article asks for “controlled tempo with a slight pause at the top”; the "
            "seconds are the clinic's.",
        ),
    ]
