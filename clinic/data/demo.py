"""Demo data: two clinics, their care teams and ~40 patients with eight weeks of history.

Every clinical write goes through the services (`patients.services`, `exercises.services`) with
explicit times, so eight weeks are replayed day by day through exactly the rules live data meets:
the clearance gate, the logging window, one active prescription per side, "a set cannot be
logged on an ended or paused prescription". Only clinics, memberships and the care team's users
are created directly: they have no service.

Everything is deterministic for a given seed and day: names are fixed, randomness comes from one
`random.Random` per patient, and each set's `client_id` is a uuid5 of the patient's record number
and the set's index. A patient whose record number already exists in the clinic is skipped, so
running the command again creates nothing new.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.db.models import Q

from exercises.models import PainOutcome, Prescription, SetLog, Source, Stage
from exercises.services import (
    pain_review_record,
    prescription_advance,
    prescription_start,
    prescription_stop,
    set_log,
)
from patients.errors import ClearanceRequired, PrescriptionPaused
from patients.models import (
    AffectedSide,
    Clinic,
    Decision,
    Membership,
    Patient,
    Role,
    Side,
    WeightBearing,
)
from patients.precautions import Precaution
from patients.services import clearance_note_record, patient_create, patient_login_create

LADDER_SLUG = "hip-clamshell"
WEEKS = 8
DEFAULT_PATIENTS_PER_CLINIC = 20
DEFAULT_SEED = 2011  # Boren et al. 2011, whose %MVIC figures the ladder reports.
ADMIN_USERNAME = "admin"
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
        return {
            "steady": "",
            "regressed": "regressed a stage after a pain flare-up",
            "ready": "ready to progress, not yet advanced",
            "pain": "a painful set this week, not yet reviewed",
            "no_logs": "stopped logging over a week ago",
            "clearance_missing": "needs clearance (pelvic fracture), none recorded",
            "not_cleared": "medical team has not cleared them yet",
            "clearance_lapsed": "clearance lapsed: exercises paused",
            "restricted": "cleared up to stage 2 at first, fully cleared later",
            "review_due": "clearance due for review this week",
            "posterior_hip": "posterior hip replacement: no internal rotation, so stage 1 only",
        }[self.value]

    @property
    def needs_clearance(self) -> bool:
        return self in _CLEARANCE_SCENARIOS


_CLEARANCE_SCENARIOS = {
    Scenario.CLEARANCE_MISSING,
    Scenario.NOT_CLEARED,
    Scenario.CLEARANCE_LAPSED,
    Scenario.RESTRICTED,
    Scenario.REVIEW_DUE,
    Scenario.POSTERIOR_HIP,
}


class Adherence(enum.StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NONE = "none"  # no programme yet (waiting for clearance)

    @property
    def daily_chance(self) -> float:
        # 5-6 days a week, 2-3 days a week, about one day a week.
        return {"high": 0.8, "medium": 0.38, "low": 0.13, "none": 0.0}[self.value]

    @property
    def label(self) -> str:
        return {
            "high": "logs 5–6 days a week",
            "medium": "logs 2–3 days a week",
            "low": "logs rarely",
            "none": "no programme yet",
        }[self.value]


@dataclass(frozen=True)
class ClinicSpec:
    slug: str
    name: str
    timezone: str
    record_prefix: str
    therapists: tuple[tuple[str, str], ...]
    staff: tuple[str, str]
    patient_names: tuple[tuple[str, str], ...]
    # Scenarios of the clinic's first patients, in order; every further patient is STEADY. The
    # alerts a demo must show come first, so that even `--patients 5` shows each of them.
    scenarios: tuple[Scenario, ...]


CLINICS: tuple[ClinicSpec, ...] = (
    ClinicSpec(
        slug="riverside",
        name="Riverside Physiotherapy",
        timezone="Europe/London",
        record_prefix="RIV",
        therapists=(("Hannah", "Whitaker"), ("Tom", "Ellison"), ("Nadia", "Qureshi")),
        staff=("Jo", "Partridge"),
        patient_names=(
            ("Amelia", "Clarke"),
            ("Oliver", "Bennett"),
            ("Priya", "Patel"),
            ("George", "Whitfield"),
            ("Fatima", "Rahman"),
            ("Harry", "Doyle"),
            ("Chloe", "Evans"),
            ("Samuel", "Adeyemi"),
            ("Grace", "Thornton"),
            ("Arjun", "Mehta"),
            ("Isla", "Morgan"),
            ("Thomas", "Hughes"),
            ("Zara", "Ahmed"),
            ("William", "Foster"),
            ("Ruby", "Kowalski"),
            ("Daniel", "Okafor"),
            ("Evie", "Marshall"),
            ("Jack", "Robinson"),
            ("Sophie", "Turner"),
            ("Noah", "Fletcher"),
        ),
        scenarios=(
            Scenario.READY,
            Scenario.PAIN,
            Scenario.CLEARANCE_MISSING,
            Scenario.CLEARANCE_LAPSED,
            Scenario.NO_LOGS,
            Scenario.REGRESSED,
            Scenario.RESTRICTED,
            Scenario.REGRESSED,
            Scenario.POSTERIOR_HIP,
        ),
    ),
    ClinicSpec(
        slug="lakeside",
        name="Lakeside Rehab",
        timezone="America/Chicago",
        record_prefix="LAK",
        therapists=(("Rosa", "Delgado"), ("Ben", "Kowalczyk")),
        staff=("Dana", "Price"),
        patient_names=(
            ("Emily", "Johnson"),
            ("Marcus", "Williams"),
            ("Sofia", "Hernandez"),
            ("Ethan", "Lindgren"),
            ("Aaliyah", "Brooks"),
            ("Kevin", "Nguyen"),
            ("Olivia", "Martinez"),
            ("Tyler", "Jackson"),
            ("Hannah", "Schmidt"),
            ("Jamal", "Carter"),
            ("Megan", "Sullivan"),
            ("Luis", "Ramirez"),
            ("Rachel", "Goldberg"),
            ("Andre", "Washington"),
            ("Katie", "Novak"),
            ("Brandon", "Lee"),
            ("Natalie", "Rossi"),
            ("Derek", "Olson"),
            ("Jasmine", "Reddy"),
            ("Ryan", "Murphy"),
        ),
        scenarios=(
            Scenario.READY,
            Scenario.PAIN,
            Scenario.NO_LOGS,
            Scenario.REVIEW_DUE,
            Scenario.REGRESSED,
            Scenario.NOT_CLEARED,
            Scenario.REGRESSED,
        ),
    ),
)

# Mixes for the STEADY patients, by their index in the clinic.
_ADHERENCE_CYCLE = (
    Adherence.HIGH,
    Adherence.MEDIUM,
    Adherence.HIGH,
    Adherence.LOW,
    Adherence.MEDIUM,
    Adherence.HIGH,
    Adherence.MEDIUM,
    Adherence.LOW,
)
_START_OFFSET_CYCLE = (56, 56, 49, 56, 42, 56, 35, 56, 28, 56, 21)
_AFFECTED_CYCLE = (
    AffectedSide.LEFT,
    AffectedSide.RIGHT,
    AffectedSide.BOTH,
    AffectedSide.RIGHT,
    AffectedSide.LEFT,
    AffectedSide.LEFT,
    AffectedSide.RIGHT,
)
_SPECIAL_ADHERENCE = {
    Scenario.READY: Adherence.HIGH,
    Scenario.PAIN: Adherence.MEDIUM,
    Scenario.NO_LOGS: Adherence.MEDIUM,
    Scenario.CLEARANCE_LAPSED: Adherence.HIGH,
    Scenario.RESTRICTED: Adherence.HIGH,
    Scenario.REVIEW_DUE: Adherence.MEDIUM,
    Scenario.CLEARANCE_MISSING: Adherence.NONE,
    Scenario.NOT_CLEARED: Adherence.NONE,
    Scenario.POSTERIOR_HIP: Adherence.HIGH,
}
# Days before today each special patient started; 0 = no programme yet.
_SPECIAL_START = {
    Scenario.READY: 42,
    Scenario.PAIN: 42,
    Scenario.NO_LOGS: WEEKS * 7,
    Scenario.CLEARANCE_LAPSED: WEEKS * 7,
    Scenario.RESTRICTED: WEEKS * 7,
    Scenario.REVIEW_DUE: 49,
    Scenario.REGRESSED: WEEKS * 7,
    Scenario.CLEARANCE_MISSING: 0,
    Scenario.NOT_CLEARED: 0,
    Scenario.POSTERIOR_HIP: 35,
}
_CLEARANCE_REASONS = {
    Scenario.CLEARANCE_MISSING: "pelvic fracture",
    Scenario.NOT_CLEARED: "acetabular fracture",
    Scenario.CLEARANCE_LAPSED: "pelvic fracture",
    Scenario.RESTRICTED: "pelvic fracture",
    Scenario.REVIEW_DUE: "total hip replacement",
    Scenario.POSTERIOR_HIP: "posterior-approach total hip replacement",
}
_SET_NOTES = (
    "Felt easier today.",
    "Hip a bit stiff today.",
    "Did these after a walk.",
    "Kept the pause at the top.",
    "Pelvis kept rolling back on the last few.",
)


def username_for(first_name: str, last_name: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", f"{first_name}.{last_name}".lower())


@dataclass(frozen=True)
class PatientPlan:
    clinic: ClinicSpec
    index: int
    record_number: str
    first_name: str
    last_name: str
    username: str
    scenario: Scenario
    adherence: Adherence
    affected_side: str
    start_offset_days: int

    @property
    def story(self) -> str:
        return self.scenario.story or self.adherence.label


def patient_plans(patients_per_clinic: int) -> list[PatientPlan]:
    """Who the demo patients are: fixed names and stories, the same on every run."""
    plans = []
    for spec in CLINICS:
        names = spec.patient_names
        for i in range(patients_per_clinic):
            if i < len(names):
                first, last = names[i]
                username = username_for(first, last)
            else:
                # Beyond the fixed list: recombine the names; the number keeps usernames unique.
                first, last = names[i % len(names)][0], names[(i // len(names) + i) % len(names)][1]
                username = f"{username_for(first, last)}{i + 1}"
            scenario = spec.scenarios[i] if i < len(spec.scenarios) else Scenario.STEADY
            if scenario in (Scenario.STEADY, Scenario.REGRESSED):
                adherence = _ADHERENCE_CYCLE[i % len(_ADHERENCE_CYCLE)]
            else:
                adherence = _SPECIAL_ADHERENCE[scenario]
            if scenario == Scenario.STEADY:
                start = _START_OFFSET_CYCLE[i % len(_START_OFFSET_CYCLE)]
            else:
                start = _SPECIAL_START[scenario]
            affected = _AFFECTED_CYCLE[(i + len(spec.slug)) % len(_AFFECTED_CYCLE)]
            if scenario.needs_clearance and affected == AffectedSide.BOTH:
                affected = AffectedSide.LEFT
            plans.append(
                PatientPlan(
                    clinic=spec,
                    index=i,
                    record_number=f"{spec.record_prefix}-{i + 1:05d}",
                    first_name=first,
                    last_name=last,
                    username=username,
                    scenario=scenario,
                    adherence=adherence,
                    affected_side=affected,
                    start_offset_days=start,
                )
            )
    return plans


@dataclass(frozen=True)
class Login:
    role: str
    clinic: str
    username: str
    note: str = ""


@dataclass
class Cast:
    """The clinics and their care teams, created or found."""

    clinics: dict[str, Clinic] = field(default_factory=dict)
    therapists: dict[str, list[AbstractUser]] = field(default_factory=dict)
    logins: list[Login] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)


def _team_user(username: str, first_name: str, last_name: str, **flags: bool) -> AbstractUser:
    User = get_user_model()
    user, _ = User.objects.get_or_create(
        username=username,
        defaults={
            "first_name": first_name,
            "last_name": last_name,
            "email": f"{username}@example.org",
            **flags,
        },
    )
    return user


def cast_ensure() -> Cast:
    """Get or create the clinics, the superuser, the therapists and the staff (no service exists)."""
    cast = Cast()
    admin = _team_user(ADMIN_USERNAME, "Demo", "Admin", is_staff=True, is_superuser=True)
    # An "admin" that existed before (e.g. made by hand) still has to open the Django admin.
    get_user_model().objects.filter(pk=admin.pk).update(
        is_staff=True, is_superuser=True, is_active=True
    )
    cast.user_ids.append(admin.pk)
    cast.logins.append(Login("admin", "all clinics", admin.username, "Django admin"))
    for spec in CLINICS:
        clinic, _ = Clinic.objects.get_or_create(
            slug=spec.slug, defaults={"name": spec.name, "timezone": spec.timezone}
        )
        cast.clinics[spec.slug] = clinic
        team = [
            (f"therapist{n}.{spec.slug}", name, Role.THERAPIST)
            for n, name in enumerate(spec.therapists, start=1)
        ]
        team.append((f"staff.{spec.slug}", spec.staff, Role.STAFF))
        cast.therapists[spec.slug] = []
        for username, (first, last), role in team:
            user = _team_user(username, first, last)
            Membership.objects.get_or_create(user=user, clinic=clinic, defaults={"role": role})
            if role == Role.THERAPIST:
                cast.therapists[spec.slug].append(user)
            cast.user_ids.append(user.pk)
            cast.logins.append(Login(str(role), clinic.name, username, f"{first} {last}"))
    return cast


def passwords_reset(user_ids: Sequence[int], password: str) -> int:
    """Give every demo user the same password, hashed once.

    The password hasher is deliberately slow (~0.3 s per hash); hashing it once per user would
    cost ~15 s for ~50 users. The demo password is shared and public anyway, so sharing the
    hash gives nothing away.
    """
    User = get_user_model()
    return User.objects.filter(pk__in=user_ids).update(password=make_password(password))


def demo_patients(plans: Sequence[PatientPlan]) -> Q:
    """A filter for the demo patients of these plans (on Patient)."""
    query = Q(pk__in=[])
    for spec in CLINICS:
        records = [p.record_number for p in plans if p.clinic.slug == spec.slug]
        query |= Q(clinic__slug=spec.slug, record_number__in=records)
    return query


def stages_by_number() -> dict[int, Stage]:
    return {
        s.number: s for s in Stage.objects.filter(ladder__slug=LADDER_SLUG).select_related("ladder")
    }


def patient_seed(
    plan: PatientPlan,
    cast: Cast,
    *,
    stages: dict[int, Stage],
    now: dt.datetime,
    seed: int,
) -> bool:
    """Create one demo patient with their whole history, or skip them if they exist already.

    One transaction per patient: a failure leaves no half-made patient behind, and a patient
    that exists is complete, so skipping it keeps the command idempotent.
    """
    clinic = cast.clinics[plan.clinic.slug]
    with transaction.atomic():
        if Patient.objects.filter(clinic=clinic, record_number=plan.record_number).exists():
            return False
        therapists = cast.therapists[plan.clinic.slug]
        therapist = therapists[plan.index % len(therapists)]
        # A string seed is hashed with SHA-512, so it is stable across processes and machines.
        rng = random.Random(f"{seed}:{plan.clinic.slug}:{plan.record_number}")
        today = clinic.local_date(now)
        age = rng.randint(24, 82)
        patient = patient_create(
            clinic=clinic,
            record_number=plan.record_number,
            first_name=plan.first_name,
            last_name=plan.last_name,
            date_of_birth=dt.date(today.year - age, rng.randint(1, 12), rng.randint(1, 28)),
            affected_side=plan.affected_side,
            primary_therapist=therapist,
            requires_clearance=plan.scenario.needs_clearance,
            clearance_reason=_CLEARANCE_REASONS.get(plan.scenario, ""),
            by=therapist,
        )
        # No password here: the caller sets every demo user's password in one go (see
        # `passwords_reset`), which keeps the run fast.
        patient_login_create(
            patient=patient, username=_free_username(plan.username), password=None, by=therapist
        )
        _Replay(plan, patient, therapist, stages, now, rng).run()
    return True


def _free_username(wanted: str) -> str:
    # Only reached when someone else already took the name outside the demo.
    User = get_user_model()
    username, n = wanted, 1
    while User.objects.filter(username=username).exists():
        n += 1
        username = f"{wanted}{n}"
    return username


@dataclass
class _SideState:
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


class _Replay:
    """One patient's weeks, simulated day by day through the services.

    Each day: maybe a home session (morning or evening, local time), and the therapist's review at
    lunchtime, which advances a side some days after it became ready, regresses a side the day
    after a pain flare-up, and retires a side a while after the ladder is complete.
    """

    def __init__(
        self,
        plan: PatientPlan,
        patient: Patient,
        therapist: AbstractUser,
        stages: dict[int, Stage],
        now: dt.datetime,
        rng: random.Random,
    ) -> None:
        self.plan = plan
        self.patient = patient
        self.clinic = patient.clinic
        self.tz = self.clinic.tzinfo
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

        scenario = plan.scenario
        days = dt.timedelta
        # Days on which a session happens whatever the adherence, for the scripted stories.
        self.forced_days: set[dt.date] = set()
        self.flare_days: dict[dt.date, str] = {}
        self.last_log_day = self.today
        self.reviews_until: dt.date | None = None  # the therapist's last review day, if any
        self.push_from: dt.date | None = None  # READY: the readiness reps from this day on
        sides = self._sides_worked()
        if scenario == Scenario.READY:
            self.push_from = self.today - days(6)
            self.forced_days |= {self.today - days(n) for n in range(1, 7)}
            self.reviews_until = self.today - days(8)
        elif scenario == Scenario.POSTERIOR_HIP:
            # Strong enough for stage 2 this week; the clearance keeps them at stage 1.
            self.push_from = self.today - days(5)
            self.forced_days |= {self.today - days(n) for n in range(1, 6)}
        elif scenario == Scenario.PAIN:
            flare = self.today - days(2)
            self.flare_days[flare] = sides[0]
            self.forced_days.add(flare)
            self.reviews_until = self.today - days(8)
        elif scenario == Scenario.NO_LOGS:
            self.last_log_day = self.today - days(10)
            self.forced_days.add(self.last_log_day)
            self.reviews_until = self.last_log_day - days(1)
        elif scenario == Scenario.REGRESSED:
            flare = self.start_day + days(rng.randint(18, 34))
            self.flare_days[flare] = sides[0]
            self.forced_days.add(flare)

        self.sides: list[_SideState] = []
        for n, side in enumerate(sides):
            affected = n == 0 or plan.affected_side == AffectedSide.BOTH
            if affected:
                stage = 2 if scenario in (Scenario.REGRESSED, Scenario.PAIN) else 1
                if scenario == Scenario.STEADY and plan.index % 4 == 3:
                    stage = 2
                capacity = rng.uniform(8, 12)
            else:
                # The other side is stronger: it starts higher up the ladder.
                stage, capacity = rng.choice((2, 3)), rng.uniform(11, 15)
            self.sides.append(
                _SideState(
                    side=side,
                    capacity=capacity,
                    first_stage=stage,
                    allow_stop=scenario in (Scenario.STEADY, Scenario.REGRESSED),
                )
            )

    def _sides_worked(self) -> list[str]:
        affected = self.plan.affected_side
        if affected == AffectedSide.BOTH:
            return [Side.LEFT, Side.RIGHT]
        other = Side.RIGHT if affected == Side.LEFT else Side.LEFT
        # Some patients train the unaffected side too; never those under medical restrictions.
        if not self.plan.scenario.needs_clearance and self.rng.random() < 0.4:
            return [affected, other]
        return [affected]

    # -- time ------------------------------------------------------------------------------

    def _at(self, day: dt.date, hour: int, minute: int) -> dt.datetime:
        # Hours stay between 6:00 and 22:00 local, so DST changes (at night) never apply.
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=self.tz)

    def _session_time(self, day: dt.date) -> dt.datetime | None:
        chance = self.plan.adherence.daily_chance
        if day > self.last_log_day:
            return None
        if day not in self.forced_days and self.rng.random() >= chance:
            return None
        morning = self.morning_person if self.rng.random() < 0.8 else not self.morning_person
        if morning:
            return self._at(day, self.rng.randint(6, 8), self.rng.randint(0, 59))
        return self._at(day, self.rng.randint(18, 21), self.rng.randint(0, 59))

    # -- the replay ------------------------------------------------------------------------

    def run(self) -> None:
        if self.plan.scenario == Scenario.NOT_CLEARED:
            self._record_not_cleared()
        if self.plan.start_offset_days == 0:
            return  # waiting for clearance: no programme yet
        self._first_visit(self.start_day)
        day = self.start_day + dt.timedelta(days=1)
        while day <= self.today:
            session_at = self._session_time(day)
            review_at = self._at(day, 12, self.rng.randint(15, 55))
            if session_at is not None and session_at < review_at:
                self._session(day, session_at)
            if review_at <= self.now and (self.reviews_until is None or day <= self.reviews_until):
                self._review(day, review_at)
            if session_at is not None and session_at > review_at:
                self._session(day, session_at)
            day += dt.timedelta(days=1)

    def _first_visit(self, day: dt.date) -> None:
        """The first appointment: clearance on file (if needed), stages started, a set in clinic."""
        visit = self._at(day, self.rng.randint(9, 15), self.rng.randint(0, 45))
        self._record_initial_clearance(day)
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

    def _record_initial_clearance(self, day: dt.date) -> None:
        scenario = self.plan.scenario
        if scenario not in (
            Scenario.CLEARANCE_LAPSED,
            Scenario.RESTRICTED,
            Scenario.REVIEW_DUE,
            Scenario.POSTERIOR_HIP,
        ):
            return
        signed_on = day - dt.timedelta(days=self.rng.randint(2, 6))
        common = {
            "patient": self.patient,
            "signed_by_name": "Dr. Ada Osei",
            "signed_by_credentials": "MD, orthopaedic trauma",
            "signed_on": signed_on,
            "recorded_by": self.therapist,
            # Recorded at the first visit, before the prescriptions it allows.
            "now": self._at(day, 8, 30),
        }
        if scenario == Scenario.POSTERIOR_HIP:
            clearance_note_record(
                **{
                    **common,
                    "signed_by_name": "Mr. James Okonkwo",
                    "signed_by_credentials": "FRCS (Orth), hip surgeon",
                },
                reason="Total hip replacement, posterior approach; wound healed.",
                procedure_on=signed_on - dt.timedelta(days=35),
                decision=Decision.RESTRICTED,
                weight_bearing=WeightBearing.FULL,
                precautions=[Precaution.NO_INTERNAL_ROTATION, Precaution.NO_FLEXION_PAST_90],
                operated_side=self.plan.affected_side,
                restrictions="Posterior hip precautions for 12 weeks after surgery: a pillow "
                "between the knees when lying on the side.",
                review_on=self.today + dt.timedelta(days=40),
            )
            return
        if scenario == Scenario.CLEARANCE_LAPSED:
            clearance_note_record(
                reason="Pelvic fracture (pubic rami), managed without surgery; healing well.",
                decision=Decision.CLEARED,
                weight_bearing=WeightBearing.AS_TOLERATED,
                # It lapsed six days ago and no new note has come in: the plan is paused.
                review_on=self.today - dt.timedelta(days=6),
                **common,
            )
        elif scenario == Scenario.RESTRICTED:
            clearance_note_record(
                reason="Pelvic fracture (pubic rami), managed without surgery.",
                decision=Decision.RESTRICTED,
                weight_bearing=WeightBearing.AS_TOLERATED,
                max_stage=2,
                restrictions="Stages 1–2 only until the fracture clinic reviews the X-ray.",
                review_on=day + dt.timedelta(days=90),
                **common,
            )
        else:
            clearance_note_record(
                reason="Total hip replacement, posterior approach; wound healed.",
                decision=Decision.CLEARED,
                weight_bearing=WeightBearing.FULL,
                review_on=self.today + dt.timedelta(days=5),
                **common,
            )

    def _record_not_cleared(self) -> None:
        signed_on = self.today - dt.timedelta(days=6)
        clearance_note_record(
            patient=self.patient,
            reason="Acetabular fracture, fixed five weeks ago.",
            decision=Decision.NOT_CLEARED,
            weight_bearing=WeightBearing.TOUCH,
            restrictions="Touch-toe weight-bearing; no hip exercises until the 8-week review.",
            signed_by_name="Dr. Luis Ortega",
            signed_by_credentials="MD, orthopaedic surgery",
            signed_on=signed_on,
            review_on=self.today + dt.timedelta(days=14),
            recorded_by=self.therapist,
            now=self._at(signed_on + dt.timedelta(days=1), 9, 0),
        )

    def _session(self, day: dt.date, at: dt.datetime) -> None:
        # The phone syncs a little after the session; a session still going on "now" is skipped.
        if at + dt.timedelta(minutes=30) > self.now or self.paused:
            return
        performed = at
        for state in self.rng.sample(self.sides, len(self.sides)):
            if state.prescription is None:
                continue
            flare = self.flare_days.get(day) == state.side
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

    def _reps_and_pain(self, state: _SideState, k: int, day: dt.date) -> tuple[int, int]:
        # Later sets of a session come out a little lower (fatigue).
        reps = round(state.capacity - k * self.rng.uniform(0.5, 2.0) + self.rng.gauss(0, 1))
        reps = max(3, min(reps, REPS_CAP))
        pain = self.rng.choices(range(len(PAIN_WEIGHTS)), weights=PAIN_WEIGHTS)[0]
        acceptable = self.clinic.pain_alert_above
        if state.sessions_at_stage < 3 and pain < acceptable and self.rng.random() < 0.3:
            pain += 1  # a new stage feels harder for the first few sessions
        if self.push_from is not None and day >= self.push_from and k == 0:
            reps = max(reps, self.ready_threshold + self.rng.randint(0, 2))
            pain = min(pain, self.pain_ceiling)
        return reps, pain

    def _log(
        self,
        state: _SideState,
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
            patient=self.patient,
            prescription=state.prescription,
            reps=reps,
            pain=pain,
            effort=self.rng.randint(3, 8) if self.rng.random() < 0.6 else None,
            performed_at=performed_at,
            # `now` is the simulated moment the set reached the server, so the sync window
            # and the "not in the future" rule are checked as they were on that day.
            now=min(synced_at, self.now),
            client_id=uuid.uuid5(
                CLIENT_ID_NAMESPACE,
                f"{self.plan.clinic.slug}:{self.plan.record_number}:{self.set_index}",
            ),
            by=self.therapist if clinic else self.user,
            source=Source.CLINIC if clinic else self.source,
            note=note,
        )
        day = self.clinic.local_date(performed_at)
        if state.prescription.thresholds.is_painful(pain):
            state.flare_on, state.flare_pain = day, pain
        if reps >= self.ready_threshold and pain <= self.pain_ceiling and not state.ready_since:
            state.ready_since = day
            state.latency_days = self.rng.randint(1, 4)

    def _review(self, day: dt.date, at: dt.datetime) -> None:
        """The therapist's look at the caseload: act on pain, readiness and a completed ladder."""
        if self.clearance_due is not None and day >= self.clearance_due:
            self._record_full_clearance(day)
        for state in self.sides:
            prescription = state.prescription
            if prescription is None:
                continue
            number = prescription.stage.number
            if state.flare_on is not None:
                # The pain alert is reviewed: back one stage, or (at stage 1) the exercise is
                # gone over with the patient and continued.
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
                continue
            if state.ready_since is None or day < state.cautious_until:
                continue
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
                    continue
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

    def _record_full_clearance(self, day: dt.date) -> None:
        clearance_note_record(
            patient=self.patient,
            reason="Pelvic fracture (pubic rami): united on X-ray.",
            decision=Decision.CLEARED,
            weight_bearing=WeightBearing.FULL,
            signed_by_name="Dr. Ada Osei",
            signed_by_credentials="MD, orthopaedic trauma",
            signed_on=day - dt.timedelta(days=1),
            review_on=day + dt.timedelta(days=90),
            recorded_by=self.therapist,
            now=self._at(day, 12, 0),
        )
        self.clearance_due = None

    def _on_new_stage(self, state: _SideState, new: Prescription, *, capacity: float) -> None:
        state.prescription = new
        state.capacity = capacity
        state.sessions_at_stage = 0
        state.ready_since = None


def set_count(plans: Sequence[PatientPlan]) -> int:
    return SetLog.objects.filter(patient__in=Patient.objects.filter(demo_patients(plans))).count()
