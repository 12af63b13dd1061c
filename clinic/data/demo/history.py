"""One demo patient's weeks, simulated day by day through the services (`PatientHistory`)."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from django.contrib.auth.models import User

from clinic.data.demo.clearance_notes import (
    Recording,
    full_clearance_record,
    initial_clearance_record,
    not_cleared_record,
)
from clinic.data.demo.plans import PatientPlan
from clinic.data.demo.script import SideState, script_for, side_states, sides_worked
from clinic.data.demo.stories import Scenario
from exercises.models import PainOutcome, Prescription, Source, Stage
from exercises.services import (
    SetLogRequest,
    pain_review_record,
    prescription_advance,
    prescription_start,
    prescription_stop,
    set_log,
)
from patients.errors import ClearanceRequired, PrescriptionPaused
from patients.models import Patient

# Fixed, so that the same patient's sets get the same client_ids on every machine.
CLIENT_ID_NAMESPACE = uuid.UUID("6f1d3c2e-9a57-4b8e-8f0a-2c5d7e1b9a40")
# Pain per ordinary set, 0 up to the default alert threshold: mostly in the pain-monitoring model's
# safe band, occasionally "acceptable". Pain above the threshold only comes from a scripted flare-up.
PAIN_WEIGHTS = (34, 30, 20, 10, 4, 2)
# What a therapist writes on a prescription: shown to the patient and kept across stage changes.
THERAPIST_NOTES = (
    "Rest about a minute between sets.",
    "Use a firm surface (the floor or a firm bed), not a soft mattress.",
    "A pillow under your head keeps your neck relaxed.",
    "Keep your top hand on your hip: it should not roll back as you lift.",
)
# Reps in a set rarely go far beyond the 20 a patient is aiming for.
REPS_CAP = 25
_SET_NOTES = (
    "Felt easier today.",
    "Hip a bit stiff today.",
    "Did these after a walk.",
    "Kept the pause at the top.",
    "Pelvis kept rolling back on the last few.",
)


class PatientHistory:
    """One patient's weeks, simulated day by day through the services.

    Each day: maybe a home session (morning or evening, local time), and the therapist's review at
    lunchtime, which advances a side some days after it became ready, regresses a side the day
    after a pain flare-up, and retires a side a while after the ladder is complete.
    """

    def __init__(
        self,
        plan: PatientPlan,
        patient: Patient,
        therapist: User,
        stages: dict[int, Stage],
        now: dt.datetime,
        rng: random.Random,
    ) -> None:
        self.plan = plan
        self.patient = patient
        self.clinic = patient.clinic
        self.tz = self.clinic.tzinfo
        # The patient's own sets are logged by their login, which the seed gives them first.
        if patient.user is None:
            raise ValueError(f"Demo patient {plan.record_number} has no login to log sets with.")
        self.user = patient.user
        self.therapist = therapist
        self.stages = stages
        self.top = max(stages)
        self.now = now
        self.rng = rng
        self.today = self.clinic.local_date(now)
        self.start_day = self.today - dt.timedelta(days=plan.start_offset_days)
        self.set_index = 0
        self.paused = False
        self.clearance_due: dt.date | None = None
        self.morning_person = rng.random() < 0.5
        self.source = Source.APP if rng.random() < 0.75 else Source.WEB
        self.ready_threshold = self.clinic.progress_at_reps
        self.pain_ceiling = self.clinic.pain_ceiling
        # The draws from `rng` keep their order: the same seed gives the same history.
        sides = sides_worked(plan, rng)
        self.script = script_for(plan.scenario, self.today, self.start_day, sides[0], rng)
        self.sides: list[SideState] = side_states(plan, sides, rng)

    # -- time ------------------------------------------------------------------------------

    def _at(self, day: dt.date, hour: int, minute: int) -> dt.datetime:
        # Hours stay between 6:00 and 22:00 local, so DST changes (at night) never apply.
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=self.tz)

    def _session_time(self, day: dt.date) -> dt.datetime | None:
        chance = self.plan.adherence.daily_chance
        if day > self.script.last_log_day:
            return None
        if day not in self.script.forced_days and self.rng.random() >= chance:
            return None
        morning = self.morning_person if self.rng.random() < 0.8 else not self.morning_person
        if morning:
            return self._at(day, self.rng.randint(6, 8), self.rng.randint(0, 59))
        return self._at(day, self.rng.randint(18, 21), self.rng.randint(0, 59))

    def _recording(self, at: dt.datetime) -> Recording:
        return Recording(patient=self.patient, therapist=self.therapist, at=at)

    # -- the replay ------------------------------------------------------------------------

    def run(self) -> None:
        if self.plan.scenario == Scenario.NOT_CLEARED:
            signed_on = self.today - dt.timedelta(days=6)
            recorded = self._at(signed_on + dt.timedelta(days=1), 9, 0)
            not_cleared_record(self._recording(recorded), signed_on, self.today)
        if self.plan.start_offset_days == 0:
            return  # waiting for clearance: no programme yet
        self._first_visit(self.start_day)
        day = self.start_day + dt.timedelta(days=1)
        reviews_until = self.script.reviews_until
        while day <= self.today:
            session_at = self._session_time(day)
            review_at = self._at(day, 12, self.rng.randint(15, 55))
            if session_at is not None and session_at < review_at:
                self._session(day, session_at)
            if review_at <= self.now and (reviews_until is None or day <= reviews_until):
                self._review(day, review_at)
            if session_at is not None and session_at > review_at:
                self._session(day, session_at)
            day += dt.timedelta(days=1)

    def _first_visit(self, day: dt.date) -> None:
        """The first appointment: clearance on file (if needed), stages started, a set in clinic."""
        visit = self._at(day, self.rng.randint(9, 15), self.rng.randint(0, 45))
        initial_clearance_record(
            self._recording(self._at(day, 8, 30)), self.plan.scenario, day, self.today, self.rng
        )
        for state in self.sides:
            stage = self.stages[state.first_stage]
            state.prescription = prescription_start(
                patient=self.patient,
                side=state.side,
                stage=stage,
                by=self.therapist,
                at=visit,
                sessions_per_week=5 if self.plan.index % 3 else 4,
                notes=THERAPIST_NOTES[self.plan.index % len(THERAPIST_NOTES)],
            )
        # The therapist logs the first set in clinic, having taught the exercise.
        performed = visit + dt.timedelta(minutes=10)
        for state in self.sides:
            reps, pain = self._reps_and_pain(state, 0, day)
            self._log(state, reps, pain, performed, visit + dt.timedelta(minutes=30), clinic=True)
            performed += dt.timedelta(minutes=3)

    def _session(self, day: dt.date, at: dt.datetime) -> None:
        # The phone syncs a little after the session; a session still going on "now" is skipped.
        if at + dt.timedelta(minutes=30) > self.now or self.paused:
            return
        performed = at
        for state in self.rng.sample(self.sides, len(self.sides)):
            if state.prescription is None:
                continue
            flare = self.script.flare_days.get(day) == state.side
            for k in range(1 if flare else self.rng.choice((2, 3, 3))):
                reps, pain = self._reps_and_pain(state, k, day)
                note = ""
                if flare:
                    reps, pain = max(3, round(state.capacity) - 5), self.rng.choice((6, 7, 7, 8))
                    note = "Sharp pain at the side of the hip; stopped early."
                try:
                    self._log(
                        state, reps, pain, performed, at + dt.timedelta(minutes=25), note=note
                    )
                except PrescriptionPaused:
                    # The app refuses sets while clearance has lapsed; the patient stops trying.
                    self.paused = True
                    return
                performed += dt.timedelta(seconds=self.rng.randint(90, 180))
            state.capacity += self.rng.uniform(0.3, 0.9)  # training effect
            state.sessions_at_stage += 1
            performed += dt.timedelta(minutes=self.rng.randint(1, 4))

    def _reps_and_pain(self, state: SideState, k: int, day: dt.date) -> tuple[int, int]:
        # Later sets of a session come out a little lower (fatigue).
        reps = round(state.capacity - k * self.rng.uniform(0.5, 2.0) + self.rng.gauss(0, 1))
        reps = max(3, min(reps, REPS_CAP))
        pain = self.rng.choices(range(len(PAIN_WEIGHTS)), weights=PAIN_WEIGHTS)[0]
        acceptable = self.clinic.pain_alert_above
        if state.sessions_at_stage < 3 and pain < acceptable and self.rng.random() < 0.3:
            pain += 1  # a new stage feels harder for the first few sessions
        push_from = self.script.push_from
        if push_from is not None and day >= push_from and k == 0:
            reps = max(reps, self.ready_threshold + self.rng.randint(0, 2))
            pain = min(pain, self.pain_ceiling)
        return reps, pain

    def _log(
        self,
        state: SideState,
        reps: int,
        pain: int,
        performed_at: dt.datetime,
        synced_at: dt.datetime,
        *,
        note: str = "",
        clinic: bool = False,
    ) -> None:
        assert state.prescription is not None
        self.set_index += 1
        if not note and self.rng.random() < 0.03:
            note = self.rng.choice(_SET_NOTES)
        set_log(
            SetLogRequest(
                patient=self.patient,
                prescription=state.prescription,
                reps=reps,
                pain=pain,
                effort=self.rng.randint(3, 8) if self.rng.random() < 0.6 else None,
                performed_at=performed_at,
                client_id=uuid.uuid5(
                    CLIENT_ID_NAMESPACE,
                    f"{self.plan.clinic.slug}:{self.plan.record_number}:{self.set_index}",
                ),
                by=self.therapist if clinic else self.user,
                source=Source.CLINIC if clinic else self.source,
                note=note,
            ),
            # `now` is the simulated moment the set reached the server, so the sync window
            # and the "not in the future" rule are checked as they were on that day.
            now=min(synced_at, self.now),
        )
        day = self.clinic.local_date(performed_at)
        if state.prescription.thresholds.is_painful(pain):
            state.flare_on, state.flare_pain = day, pain
        if reps >= self.ready_threshold and pain <= self.pain_ceiling and not state.ready_since:
            state.ready_since = day
            state.latency_days = self.rng.randint(1, 4)

    # -- the therapist's review ------------------------------------------------------------

    def _review(self, day: dt.date, at: dt.datetime) -> None:
        """The therapist's look at the caseload: act on pain, readiness and a completed ladder."""
        if self.clearance_due is not None and day >= self.clearance_due:
            full_clearance_record(self._recording(self._at(day, 12, 0)), day)
            self.clearance_due = None
        for state in self.sides:
            prescription = state.prescription
            if prescription is None:
                continue
            if state.flare_on is not None:
                self._pain_review(state, prescription.stage.number, day, at)
            elif state.ready_since is not None and day >= state.cautious_until:
                self._readiness_review(state, prescription, day, at)

    def _pain_review(self, state: SideState, number: int, day: dt.date, at: dt.datetime) -> None:
        """The pain alert is reviewed: back one stage, or (at stage 1) the exercise is gone over
        with the patient and continued."""
        pain_review_record(
            patient=self.patient,
            side=state.side,
            outcome=PainOutcome.REGRESSED if number > 1 else PainOutcome.CONTINUED,
            by=self.therapist,
            at=at,
            note=f"Pain {state.flare_pain}/10 at stage {number}: "
            + (
                "back one stage until it settles."
                if number > 1
                else "went over the exercise with the patient; continuing gently."
            ),
        )
        if number > 1:
            new = Prescription.objects.active().get(patient=self.patient, side=state.side)
            self._on_new_stage(state, new, capacity=self.rng.uniform(13, 16))
            state.cautious_until = day + dt.timedelta(days=10)
        state.flare_on = None

    def _readiness_review(
        self, state: SideState, prescription: Prescription, day: dt.date, at: dt.datetime
    ) -> None:
        """A side ready for a while: a step up the ladder, or off it once the ladder is done."""
        assert state.ready_since is not None
        number = prescription.stage.number
        waited = (day - state.ready_since).days
        if number < self.top and waited >= state.latency_days:
            try:
                new = prescription_advance(
                    prescription=prescription,
                    by=self.therapist,
                    at=at,
                    note=f"{self.ready_threshold}+ reps at stage {number} with little pain.",
                )
            except ClearanceRequired:
                # The gate holds the patient at this stage; the therapist asks the medical
                # team, whose new note arrives a few days later (RESTRICTED's story).
                if self.plan.scenario == Scenario.RESTRICTED and self.clearance_due is None:
                    self.clearance_due = day + dt.timedelta(days=self.rng.randint(3, 5))
                return
            self._on_new_stage(
                state, new, capacity=max(6.0, state.capacity - self.rng.uniform(7, 10))
            )
        elif number == self.top and state.allow_stop and waited >= state.latency_days + 3:
            prescription_stop(
                prescription=prescription,
                by=self.therapist,
                at=at,
                note="Ladder complete: all stages done; moving on to a maintenance programme.",
            )
            state.prescription = None

    def _on_new_stage(self, state: SideState, new: Prescription, *, capacity: float) -> None:
        state.prescription = new
        state.capacity = capacity
        state.sessions_at_stage = 0
        state.ready_since = None
