"""What a demo patient's story fixes before their weeks are simulated: the days it scripts
(`Script`), the sides they train and the stage and strength each side starts at (`SideState`)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from clinic.data.demo.plans import PatientPlan
from clinic.data.demo.stories import Scenario
from exercises.models import Prescription
from patients.models import AffectedSide, Side


@dataclass
class Script:
    """The days a story fixes, whatever the patient's adherence."""

    last_log_day: dt.date
    # Days on which a session happens whatever the adherence, for the scripted stories.
    forced_days: set[dt.date] = field(default_factory=set)
    # Days of a painful set, with the side it hurts on.
    flare_days: dict[dt.date, str] = field(default_factory=dict)
    reviews_until: dt.date | None = None  # the therapist's last review day, if any
    push_from: dt.date | None = None  # READY: the readiness reps from this day on

    def flare(self, day: dt.date, side: str) -> None:
        self.flare_days[day] = side
        self.forced_days.add(day)


def script_for(
    scenario: Scenario, today: dt.date, start_day: dt.date, first_side: str, rng: random.Random
) -> Script:
    """The days of `scenario`'s story: `first_side` is the side its flare-up hurts on."""
    days = dt.timedelta
    script = Script(last_log_day=today)
    if scenario == Scenario.READY:
        script.push_from = today - days(6)
        script.forced_days |= {today - days(n) for n in range(1, 7)}
        script.reviews_until = today - days(8)
    elif scenario == Scenario.POSTERIOR_HIP:
        # Strong enough for stage 2 this week; the clearance keeps them at stage 1.
        script.push_from = today - days(5)
        script.forced_days |= {today - days(n) for n in range(1, 6)}
    elif scenario == Scenario.PAIN:
        script.flare(today - days(2), first_side)
        script.reviews_until = today - days(8)
    elif scenario == Scenario.NO_LOGS:
        script.last_log_day = today - days(10)
        script.forced_days.add(script.last_log_day)
        script.reviews_until = script.last_log_day - days(1)
    elif scenario == Scenario.REGRESSED:
        script.flare(start_day + days(rng.randint(18, 34)), first_side)
    return script


@dataclass
class SideState:
    side: str
    prescription: Prescription | None = None
    capacity: float = 10.0  # reps the patient can do in a first set today
    sessions_at_stage: int = 0
    ready_since: dt.date | None = None
    latency_days: int = 2  # how long the therapist takes to act on readiness
    flare_on: dt.date | None = None
    flare_pain: int = 0
    cautious_until: dt.date = dt.date.min  # no advance for a while after a regression
    allow_stop: bool = True
    first_stage: int = 1


def sides_worked(plan: PatientPlan, rng: random.Random) -> list[str]:
    """The affected side (or both), first; and the other side too for some patients."""
    affected = plan.affected_side
    if affected == AffectedSide.BOTH:
        return [Side.LEFT, Side.RIGHT]
    other = Side.RIGHT if affected == Side.LEFT else Side.LEFT
    # Some patients train the unaffected side too; never those under medical restrictions.
    if not plan.scenario.needs_clearance and rng.random() < 0.4:
        return [affected, other]
    return [affected]


def side_states(plan: PatientPlan, sides: list[str], rng: random.Random) -> list[SideState]:
    """Each side's first stage and strength: an affected side starts low, the other higher."""
    states = []
    for n, side in enumerate(sides):
        affected = n == 0 or plan.affected_side == AffectedSide.BOTH
        if affected:
            stage = 2 if plan.scenario in (Scenario.REGRESSED, Scenario.PAIN) else 1
            if plan.scenario == Scenario.STEADY and plan.index % 4 == 3:
                stage = 2
            capacity = rng.uniform(8, 12)
        else:
            # The other side is stronger: it starts higher up the ladder.
            stage, capacity = rng.choice((2, 3)), rng.uniform(11, 15)
        states.append(
            SideState(
                side=side,
                capacity=capacity,
                first_stage=stage,
                allow_stop=plan.scenario in (Scenario.STEADY, Scenario.REGRESSED),
            )
        )
    return states
