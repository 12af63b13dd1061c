"""What a demo patient's weeks show (`Scenario`), and how often they log their sets (`Adherence`)."""

from __future__ import annotations

import enum

# The demo's history spans this many weeks before today.
WEEKS = 8


class Scenario(enum.StrEnum):
    """The story of one demo patient; the first few of each clinic carry the alerts to show."""

    STEADY = "steady"
    REGRESSED = "regressed"
    READY = "ready"
    PAIN = "pain"
    NO_LOGS = "no_logs"
    CLEARANCE_MISSING = "clearance_missing"
    NOT_CLEARED = "not_cleared"
    CLEARANCE_LAPSED = "clearance_lapsed"
    RESTRICTED = "restricted"
    REVIEW_DUE = "review_due"
    POSTERIOR_HIP = "posterior_hip"

    @property
    def story(self) -> str:
        """The story in a few words, for the logins seed_demo prints ("" for STEADY)."""
        return _STORIES[self]

    @property
    def needs_clearance(self) -> bool:
        return self in CLEARANCE_REASONS


_STORIES: dict[Scenario, str] = {
    Scenario.STEADY: "",
    Scenario.REGRESSED: "regressed a stage after a pain flare-up",
    Scenario.READY: "ready to progress, not yet advanced",
    Scenario.PAIN: "a painful set this week, not yet reviewed",
    Scenario.NO_LOGS: "stopped logging over a week ago",
    Scenario.CLEARANCE_MISSING: "needs clearance (pelvic fracture), none recorded",
    Scenario.NOT_CLEARED: "medical team has not cleared them yet",
    Scenario.CLEARANCE_LAPSED: "clearance lapsed: exercises paused",
    Scenario.RESTRICTED: "cleared up to stage 2 at first, fully cleared later",
    Scenario.REVIEW_DUE: "clearance due for review this week",
    Scenario.POSTERIOR_HIP: "posterior hip replacement: no internal rotation, so stage 1 only",
}
# The stories whose patient needs medical clearance, with the reason given on the patient.
CLEARANCE_REASONS: dict[Scenario, str] = {
    Scenario.CLEARANCE_MISSING: "pelvic fracture",
    Scenario.NOT_CLEARED: "acetabular fracture",
    Scenario.CLEARANCE_LAPSED: "pelvic fracture",
    Scenario.RESTRICTED: "pelvic fracture",
    Scenario.REVIEW_DUE: "total hip replacement",
    Scenario.POSTERIOR_HIP: "posterior-approach total hip replacement",
}


class Adherence(enum.StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NONE = "none"  # no programme yet (waiting for clearance)

    @property
    def daily_chance(self) -> float:
        return _DAILY_CHANCE[self]

    @property
    def label(self) -> str:
        return _LABELS[self]


# 5-6 days a week, 2-3 days a week, about one day a week.
_DAILY_CHANCE: dict[Adherence, float] = {
    Adherence.HIGH: 0.8,
    Adherence.MEDIUM: 0.38,
    Adherence.LOW: 0.13,
    Adherence.NONE: 0.0,
}
_LABELS: dict[Adherence, str] = {
    Adherence.HIGH: "logs 5–6 days a week",
    Adherence.MEDIUM: "logs 2–3 days a week",
    Adherence.LOW: "logs rarely",
    Adherence.NONE: "no programme yet",
}
