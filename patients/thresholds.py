"""Every clinical number of the system, once, with where it comes from.

Nothing else in the code, the templates or the docs writes one of these numbers as a literal: the
screens, the API, the charts and the patient's pain key read the value in force (a test greps for
strays, tests/test_thresholds.py). A clinic can change the six *thresholds* (its own settings on
`patients.Clinic`, in the admin), and a prescription can override the three that are about one side's
exercise (`exercises.Prescription`); `Thresholds` is the set in force for a clinic or a prescription.

The other numbers here are definitions, not settings: the scales and the bounds of a logged set,
the sync window of a phone, the remote-monitoring windows and bands, the intensity bands.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from patients.models import Clinic

# -- the sources cited below ------------------------------------------------------------------------

# The clinical article the ladder is taught from; it reports Boren et al. 2011's figures.
SOURCE_ARTICLE = (
    "“Hip Clamshell Exercise Progression for Glute Med Strengthening”, Active PT blog, 28 April "
    "2013 (activeptblog.wordpress.com)"
)
BOREN_2011 = (
    "Boren K, Conrey C, Le Coguic J, Paprocki L, Voight M, Robinson TK. Electromyographic analysis "
    "of gluteus medius and gluteus maximus during rehabilitation exercises. Int J Sports Phys Ther. "
    "2011;6(3):206–223"
)
THOMEE_1997 = (
    "Thomeé R. A comprehensive treatment approach for patellofemoral pain syndrome in young women. "
    "Phys Ther. 1997;77(12):1690–1703 (the pain-monitoring model: 0–3/10 safe, 4–5 acceptable, "
    "above 5 not acceptable)"
)
REIMAN_2012 = (
    "Reiman MP, Bolgla LA, Loudon JK. A literature review of studies evaluating gluteus maximus "
    "and gluteus medius activation during rehabilitation exercises. Physiother Theory Pract. "
    "2012;28(4):257–268"
)
CMS_RTM = (
    "US remote therapeutic monitoring (CPT 98975–98977, 98980–98981): device data on at least 16 "
    "days of a 30-day period"
)
CLINIC_DEFAULT = "the clinic's default, not from a study"

# -- the pain scale and the limits of a set ---------------------------------------------------------

# The bounds of a logged set, read by the models, the forms, the API's serializers and the
# templates (through the page's context or `template_context` below).
PAIN_MAX = 10  # the 0–10 numeric pain rating scale
EFFORT_MAX = 10  # effort, 0 (very easy) to 10 (as hard as I can)
REPS_MIN = 1  # a set of no reps is not a set
REPS_MAX = 100  # more reps than this in one set is a typing error, not a set
NOTE_MAX_LENGTH = 500  # the patient's note with a set: a sentence or two, not a diary

# -- the six thresholds: defaults, ranges and sources -----------------------------------------------

# When a patient can do 20 reps at a stage, it is time for the next (the source article).
READY_REPS = 20
# The top of the pain-monitoring model's "safe" band: a set counts towards readiness only at or
# below it (Thomeé 1997).
READY_PAIN_CEILING = 3
# Above 5/10 the pain-monitoring model calls the load "not acceptable" (Thomeé 1997).
PAIN_ALERT_ABOVE = 5
# A set above the alert threshold opens the side's pain alert when it was performed within this many
# days before it reached the server (a set done long ago and synced late is listed, not rung).
PAIN_LOOKBACK_DAYS = 7
# Days without a logged set (on a side that is not paused) before the "silent" alert.
SILENT_DAYS = 7
# A clearance whose review date falls within this many days is flagged "due for review".
REVIEW_SOON_DAYS = 7

# What the settings accept, as (lowest, highest).
READY_REPS_RANGE = (REPS_MIN, REPS_MAX)
PAIN_CEILING_RANGE = (0, PAIN_MAX)
# An alert "above 10" could never ring.
PAIN_ALERT_RANGE = (0, PAIN_MAX - 1)
PAIN_LOOKBACK_RANGE = (1, 30)
SILENT_DAYS_RANGE = (1, 60)
REVIEW_SOON_RANGE = (0, 60)

# -- logging from a phone ---------------------------------------------------------------------------

# A phone's clock may run a little fast; a set "in the future" beyond this is a client error.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
# Offline sync window: older sets are refused rather than silently back-dated into reports.
MAX_LOG_AGE_DAYS = 30
MAX_LOG_AGE = dt.timedelta(days=MAX_LOG_AGE_DAYS)

# -- remote monitoring and the reports --------------------------------------------------------------

# Data days are counted in 30-day windows from the start of monitoring, and banded as US remote
# therapeutic monitoring bands them: fewer than 2, 2–15, 16–30 (CMS_RTM).
WINDOW_DAYS = 30
BAND_LOW_BELOW = 2
BAND_HIGH_FROM = 16
# A readiness nobody has acted on for longer than this is a backlog (the clinic report's default).
READY_BACKLOG_DAYS = 7
# A side prescribed for less than a week of a report's range is not judged against its weekly
# target: two sessions in two days is not a rate.
MIN_DAYS_TO_JUDGE = 7

# -- intensity bands of %MVIC (Reiman 2012) ---------------------------------------------------------

MVIC_MODERATE_FROM = 21
MVIC_HIGH_FROM = 41
MVIC_VERY_HIGH_FROM = 61

# -- hip movements ----------------------------------------------------------------------------------

# "No hip flexion past 90°", the standard precaution after a posterior-approach hip replacement.
HIP_FLEXION_LIMIT_DEG = 90


class _HasThresholds(Protocol):
    progress_at_reps: int
    pain_ceiling: int
    pain_alert_above: int
    pain_lookback_days: int
    silent_days: int
    review_soon_days: int


@dataclass(frozen=True)
class Thresholds:
    """The values in force: a clinic's, or a prescription's own where it sets one."""

    ready_reps: int = READY_REPS
    pain_ceiling: int = READY_PAIN_CEILING
    pain_alert_above: int = PAIN_ALERT_ABOVE
    pain_lookback_days: int = PAIN_LOOKBACK_DAYS
    silent_days: int = SILENT_DAYS
    review_soon_days: int = REVIEW_SOON_DAYS

    @classmethod
    def of_clinic(cls, clinic: Clinic | _HasThresholds) -> Thresholds:
        return cls(
            ready_reps=clinic.progress_at_reps,
            pain_ceiling=clinic.pain_ceiling,
            pain_alert_above=clinic.pain_alert_above,
            pain_lookback_days=clinic.pain_lookback_days,
            silent_days=clinic.silent_days,
            review_soon_days=clinic.review_soon_days,
        )

    def overridden(
        self,
        *,
        ready_reps: int | None = None,
        pain_ceiling: int | None = None,
        pain_alert_above: int | None = None,
    ) -> Thresholds:
        """These values, with a prescription's own where it sets one (None keeps the clinic's).

        The ceiling in force is never above the alert threshold in force: a prescription's ceiling
        of 4 under a clinic that alerts above 3 counts as 3, or a score could be "fine" for
        readiness and ring an alert at once (`PrescriptionQuerySet.with_thresholds` says the
        same in SQL)."""
        ceiling, alert = self.pain_asked(pain_ceiling, pain_alert_above)
        return Thresholds(
            ready_reps=self.ready_reps if ready_reps is None else ready_reps,
            pain_ceiling=min(ceiling, alert),
            pain_alert_above=alert,
            pain_lookback_days=self.pain_lookback_days,
            silent_days=self.silent_days,
            review_soon_days=self.review_soon_days,
        )

    def pain_asked(self, pain_ceiling: int | None, pain_alert_above: int | None) -> tuple[int, int]:
        """The (ceiling, alert threshold) a prescription asks for: its own where it sets one,
        else these; before `overridden` caps the ceiling at the alert threshold (a new
        prescription that asks for a higher ceiling is refused instead)."""
        return (
            self.pain_ceiling if pain_ceiling is None else pain_ceiling,
            self.pain_alert_above if pain_alert_above is None else pain_alert_above,
        )

    def pain_band(self, pain: int) -> str:
        """Where a pain score sits for this patient: "none", "safe", "acceptable" or "too_much"."""
        if pain == 0:
            return "none"
        if pain <= self.pain_ceiling:
            return "safe"
        if pain <= self.pain_alert_above:
            return "acceptable"
        return "too_much"

    def is_painful(self, pain: int) -> bool:
        return pain > self.pain_alert_above

    @property
    def pain_key(self) -> list[tuple[str, str, str]]:
        """The patient's pain key, as (band, scores, words): 0 no pain; 1–ceiling fine; up to the
        alert threshold acceptable; above it too much. A band that is empty here is left out."""
        rows = [("none", "0", "no pain")]
        if self.pain_ceiling >= 1:
            rows.append(("safe", _span(1, self.pain_ceiling), "mild: fine"))
        low = max(self.pain_ceiling, 0) + 1
        if self.pain_alert_above >= low:
            rows.append(("acceptable", _span(low, self.pain_alert_above), "moderate: acceptable"))
        rows.append(
            ("too_much", f"{self.pain_alert_above + 1}+", "too much: stop and tell your therapist")
        )
        return rows


def _span(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}–{high}"


DEFAULTS = Thresholds()


def template_context(request: object) -> dict[str, object]:
    """The definitions every template may name (a context processor): `numbers.WINDOW_DAYS`…
    The thresholds of a clinic or a prescription come with the page's own objects."""
    return {
        "numbers": {
            "WINDOW_DAYS": WINDOW_DAYS,
            "BAND_LOW_BELOW": BAND_LOW_BELOW,
            "BAND_LOW_TOP": BAND_HIGH_FROM - 1,
            "BAND_HIGH_FROM": BAND_HIGH_FROM,
            "MIN_DAYS_TO_JUDGE": MIN_DAYS_TO_JUDGE,
            "PAIN_MAX": PAIN_MAX,
            "EFFORT_MAX": EFFORT_MAX,
            "REPS_MIN": REPS_MIN,
            "REPS_MAX": REPS_MAX,
            "NOTE_MAX_LENGTH": NOTE_MAX_LENGTH,
        }
    }
