"""A generated network of clinics, for measuring the pages at the size of a large network.

The shape is what a network of clinics would hold after a year: clinic sizes skewed (the largest
clinic is several times the next and ~20× the smallest), every patient with a login, patients at
every stage on both sides, patients who started last week and patients discharged months ago,
weeks with no logging, pain spikes reviewed by the therapist (a regress, "continued", "referred")
and recent ones not reviewed yet (open pain alerts), readiness left waiting for a decision, medical
clearance (cleared, cleared up to stage 2 with a movement precaution, lapsed, missing, not cleared,
ended by a "no further clearance needed" note, required again after one), clinics and prescriptions
with thresholds of their own.

Speed matters more than the services here: millions of sets cannot go through `exercises.services`
one by one in minutes. Rows are built as tuples and written in bulk, straight to the tables:
PostgreSQL's COPY (through psycopg), SQLite's `executemany` in one transaction per chunk. What the
services would have enforced holds by construction (one active prescription per side, a set only
on the prescription active when it was performed, clearance covering every stage worked, a pain
review only of an alert that was open, covering the painful sets that had reached the clinic by
then); the database constraints still check every row. No simple-history rows are written: the
audit history of generated data is empty. Primary keys are assigned here, so rows can refer to
each other before they are written; sequences are reset at the end.

Everything is deterministic for a given size and seed: one `random.Random` per patient, seeded
from the network seed and the patient's number; "now" is the moment the generation starts.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.db import connection, models, transaction

from exercises.models import (
    ChangeReason,
    PainOutcome,
    PainReview,
    Prescription,
    SetLog,
    Source,
    Stage,
    StageChange,
)
from patients import thresholds as t
from patients.models import (
    AffectedSide,
    ClearanceNote,
    Clinic,
    Decision,
    Membership,
    Patient,
    Role,
    Side,
    WeightBearing,
)

DEFAULT_SEED = 2011  # Boren et al. 2011, whose %MVIC figures the ladder reports.
# Every generated user (therapists, staff, patients) signs in with this password.
PASSWORD = "bench-password"
USERNAME_PREFIX = "bench-"
# Generated clinics are `bench-01`, `bench-02`…: the bench measures and writes only into these, and
# refuses to wipe a database holding any other clinic (clinic/bench/database.py).
CLINIC_SLUG_PREFIX = "bench-"
GENERATED_SLUG = r"^bench-[0-9]+$"
LADDER_SLUG = "hip-clamshell"
# Rows per bulk write: large enough that per-statement overhead vanishes, small enough for memory.
CHUNK_ROWS = 50_000

ZONES = (
    "Europe/London",
    "America/New_York",
    "Europe/Berlin",
    "America/Chicago",
    "Australia/Sydney",
    "America/Los_Angeles",
    "UTC",
)
FIRST_NAMES = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Ella",
    "Femi",
    "Grace",
    "Hugo",
    "Ines",
    "Jon",
    "Kira",
    "Liam",
    "Maya",
    "Nico",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Yusuf",
)
LAST_NAMES = (
    "Adams",
    "Baker",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Jones",
    "Khan",
    "Lopez",
    "Murphy",
    "Novak",
    "Okafor",
    "Patel",
    "Quinn",
    "Rossi",
    "Smith",
    "Tanaka",
    "Usman",
    "Varga",
    "Walsh",
    "Young",
    "Zhou",
)
# Ordinary pain 0..5, mostly in the pain-monitoring model's safe band; above the default alert
# threshold (5) only in a spike, whose sets score 6..8.
PAIN_WEIGHTS = (34, 30, 20, 10, 4, 2)
SPIKE_PAIN = (t.PAIN_ALERT_ABOVE + 1, t.PAIN_ALERT_ABOVE + 3)
# Choices as plain strings: psycopg's COPY would write an enum member by its name.
LEFT, RIGHT = Side.LEFT.value, Side.RIGHT.value
START, PROGRESSED = ChangeReason.START.value, ChangeReason.PROGRESSED.value
REGRESSED, STOPPED = ChangeReason.REGRESSED.value, ChangeReason.STOPPED.value
SOURCES = (Source.APP.value, Source.WEB.value, Source.CLINIC.value)
REVIEW_REGRESSED = PainOutcome.REGRESSED.value
REVIEW_CONTINUED, REVIEW_REFERRED = PainOutcome.CONTINUED.value, PainOutcome.REFERRED.value


@dataclass(frozen=True)
class ClinicSettings:
    """A clinic's thresholds (`patients.Clinic`; the defaults are `patients.thresholds`)."""

    progress_at_reps: int = t.READY_REPS
    pain_ceiling: int = t.READY_PAIN_CEILING
    pain_alert_above: int = t.PAIN_ALERT_ABOVE
    pain_lookback_days: int = t.PAIN_LOOKBACK_DAYS
    silent_days: int = t.SILENT_DAYS
    review_soon_days: int = t.REVIEW_SOON_DAYS


# Clinic i takes CLINIC_SETTINGS[i % 3]: the largest keeps the defaults; the others differ, so that
# every figure read with the thresholds in force (readiness, painful sets, open alerts and their
# look-back, clearance due for review) meets clinics that changed them.
CLINIC_SETTINGS = (
    ClinicSettings(),
    # Steps up sooner, tolerates more pain, alerts one point later; a short look-back.
    ClinicSettings(
        progress_at_reps=t.READY_REPS - 2,
        pain_ceiling=t.READY_PAIN_CEILING + 1,
        pain_alert_above=t.PAIN_ALERT_ABOVE + 1,
        pain_lookback_days=3,
        silent_days=t.SILENT_DAYS + 3,
        review_soon_days=2 * t.REVIEW_SOON_DAYS,
    ),
    # Stricter about pain for readiness; a painful set synced more than a day late does not ring.
    ClinicSettings(
        pain_ceiling=t.READY_PAIN_CEILING - 1,
        pain_lookback_days=1,
        silent_days=t.SILENT_DAYS - 2,
        review_soon_days=3,
    ),
)
# A side's own thresholds (progress_at_reps, pain_ceiling, pain_alert_above), for a few sides: an
# alert one point earlier (a cautious therapist after surgery), an easier step, a stricter one.
SIDE_OVERRIDES: tuple[tuple[int | None, int | None, int | None], ...] = (
    (None, None, t.PAIN_ALERT_ABOVE - 1),
    (t.READY_REPS - 5, None, None),
    (t.READY_REPS - 2, t.READY_PAIN_CEILING - 1, None),
)


@dataclass(frozen=True)
class Size:
    """How large a network to generate. Clinic sizes follow a Zipf law with exponent `skew`."""

    name: str
    clinics: int
    therapists: int
    patients: int
    # How far back the first patients started (the network's history).
    days: int
    skew: float = 0.8


SIZES = {
    # For tests: a few seconds at most.
    "tiny": Size("tiny", clinics=3, therapists=6, patients=45, days=90),
    # `make bench`: generated and measured, with the API part, in well under two minutes.
    "quick": Size("quick", clinics=10, therapists=40, patients=1_600, days=240),
    # The network of the issue: 50 clinics, 500 therapists, 20,000 patients, ~2.5 million sets.
    "full": Size("full", clinics=50, therapists=500, patients=20_000, days=365),
}


@dataclass
class Counts:
    clinics: int = 0
    users: int = 0
    therapists: int = 0
    patients: int = 0
    discharged: int = 0
    prescriptions: int = 0
    stage_changes: int = 0
    clearance_notes: int = 0
    sets: int = 0
    pain_reviews: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def clinic_sizes(total: int, clinics: int, skew: float) -> list[int]:
    """Patients per clinic, largest first: a Zipf law, at least 10 per clinic, summing to total."""
    weights = [1 / (rank**skew) for rank in range(1, clinics + 1)]
    scale = total / sum(weights)
    sizes = [max(10, math.floor(w * scale)) for w in weights]
    sizes[0] += total - sum(sizes)  # rounding goes to the largest clinic
    return sizes


# -- writing rows in bulk ----------------------------------------------------------------------


class BulkWriter:
    """Writes tuples straight to a model's table: COPY on PostgreSQL, executemany on SQLite.

    Values are Python values; what SQLite cannot store natively (aware datetimes, dates, UUIDs) is
    converted the way Django's SQLite backend converts it, so the ORM reads the rows back as usual.
    """

    def __init__(self) -> None:
        self.vendor = connection.vendor
        if self.vendor not in ("postgresql", "sqlite"):
            raise NotImplementedError(f"No bulk writer for {self.vendor}.")

    def _adapter(self, f: models.Field[Any, Any]) -> Callable[[Any], Any] | None:
        if self.vendor != "sqlite":
            return None
        ops = connection.ops
        if isinstance(f, models.DateTimeField):
            return lambda v: None if v is None else ops.adapt_datetimefield_value(v)
        if isinstance(f, models.DateField):
            return lambda v: None if v is None else v.isoformat()
        if isinstance(f, models.UUIDField):
            # Generated keys may already come as hex text (see `uuid_out`).
            return lambda v: v.hex if isinstance(v, uuid.UUID) else v
        return None

    def write(
        self, model: type[models.Model], names: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if not rows:
            return
        # The names are the model's columns: each a Field (not a relation's other end), with its
        # column set (django-stubs allows neither to be known).
        fields = [cast(models.Field[Any, Any], model._meta.get_field(name)) for name in names]
        columns = ", ".join(connection.ops.quote_name(cast(str, f.column)) for f in fields)
        table = connection.ops.quote_name(model._meta.db_table)
        connection.ensure_connection()
        raw = connection.connection
        assert raw is not None
        if self.vendor == "postgresql":
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        adapters = [(i, a) for i, f in enumerate(fields) if (a := self._adapter(f)) is not None]
        if adapters:
            converted = []
            for row in rows:
                values = list(row)
                for i, adapt in adapters:
                    values[i] = adapt(values[i])
                converted.append(values)
            rows = converted
        marks = ", ".join("?" * len(fields))
        raw.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def _next_id(model: type[models.Model]) -> int:
    last = model._default_manager.order_by("-pk").values_list("pk", flat=True).first()
    return (last or 0) + 1


class Ids:
    """Primary keys handed out here, so rows can refer to rows not yet written."""

    def __init__(self, *models_: type[models.Model]) -> None:
        self._next = {m: _next_id(m) for m in models_}

    def take(self, model: type[models.Model]) -> int:
        pk = self._next[model]
        self._next[model] = pk + 1
        return pk


USER_FIELDS = (
    "id",
    "password",
    "is_superuser",
    "username",
    "first_name",
    "last_name",
    "email",
    "is_staff",
    "is_active",
    "date_joined",
)
PATIENT_FIELDS = (
    "id",
    "clinic",
    "primary_therapist",
    "user",
    "record_number",
    "first_name",
    "last_name",
    "date_of_birth",
    "affected_side",
    "requires_clearance",
    "clearance_reason",
    "discharged_at",
    "created_at",
)
PRESCRIPTION_FIELDS = (
    "id",
    "patient",
    "side",
    "stage",
    "target_sets",
    "target_reps",
    "hold_at_top_seconds",
    "sessions_per_week",
    "auto_advance",
    "started_at",
    "ended_at",
    "prescribed_by",
    "notes",
    "progress_at_reps",
    "pain_ceiling",
    "pain_alert_above",
)
CHANGE_FIELDS = (
    "id",
    "patient",
    "side",
    "from_stage",
    "to_stage",
    "reason",
    "prescription",
    "by",
    "at",
    "note",
)
NOTE_FIELDS = (
    "id",
    "patient",
    "reason",
    "procedure_on",
    "decision",
    "weight_bearing",
    "max_stage",
    "no_internal_rotation",
    "no_flexion_past_90",
    "no_lying_on_operated_side",
    "no_resisted_abduction",
    "operated_side",
    "restrictions",
    "signed_by_name",
    "signed_by_credentials",
    "signed_on",
    "review_on",
    "document",
    "document_type",
    "document_name",
    "recorded_by",
    "recorded_at",
)
CLINIC_FIELDS = (
    "id",
    "name",
    "slug",
    "timezone",
    "phone",
    "progress_at_reps",
    "pain_ceiling",
    "pain_alert_above",
    "pain_lookback_days",
    "silent_days",
    "review_soon_days",
    "created_at",
)
REVIEW_FIELDS = (
    "id",
    "patient",
    "side",
    "outcome",
    "note",
    "by",
    "at",
    "highest_pain",
    "painful_sets",
)
SET_FIELDS = (
    "id",
    "patient",
    "prescription",
    "stage",
    "side",
    "reps",
    "pain",
    "effort",
    "performed_at",
    "logged_at",
    "source",
    "client_id",
    "note",
    "logged_by",
    "voided_at",
    "voided_by",
    "void_reason",
)


@dataclass
class Buffers:
    users: list[tuple] = field(default_factory=list)
    patients: list[tuple] = field(default_factory=list)
    notes: list[tuple] = field(default_factory=list)
    prescriptions: list[tuple] = field(default_factory=list)
    changes: list[tuple] = field(default_factory=list)
    sets: list[tuple] = field(default_factory=list)
    reviews: list[tuple] = field(default_factory=list)

    def size(self) -> int:
        return len(self.sets) + len(self.prescriptions) + len(self.patients)

    def flush(self, writer: BulkWriter) -> None:
        """Parents before children, in one transaction: each chunk is whole or absent."""
        user_model = get_user_model()
        with transaction.atomic():
            writer.write(user_model, USER_FIELDS, self.users)
            writer.write(Patient, PATIENT_FIELDS, self.patients)
            writer.write(ClearanceNote, NOTE_FIELDS, self.notes)
            writer.write(Prescription, PRESCRIPTION_FIELDS, self.prescriptions)
            writer.write(StageChange, CHANGE_FIELDS, self.changes)
            writer.write(SetLog, SET_FIELDS, self.sets)
            writer.write(PainReview, REVIEW_FIELDS, self.reviews)
        for rows in self.__dict__.values():
            rows.clear()


# -- the simulation of one patient ------------------------------------------------------------


@dataclass
class ClinicInfo:
    pk: int
    tz: zoneinfo.ZoneInfo
    therapists: list[int]
    patients: int
    settings: ClinicSettings


@dataclass
class SideState:
    side: str
    rx: int
    stage: int
    started: dt.datetime
    start_day: dt.date
    # Days of work at this stage before the patient reaches 20 reps.
    length: int
    # The thresholds in force on this side: its own where it has one, else the clinic's.
    reps: int
    ceiling: int
    alert: int
    # The day of the first qualifying set after the side's last painful set on this prescription
    # (the readiness rule of `PrescriptionQuerySet.with_readiness`); None while not ready.
    ready_day: dt.date | None = None
    decide_after: int = 0


@dataclass(frozen=True)
class PainfulSet:
    pain: int
    logged: dt.datetime
    voided: dt.datetime | None


@dataclass
class SideAlert:
    """A side's painful sets that no review has covered yet, and the therapist's next review.

    The alert rule (`exercises.progression`): a review closes the alert for the painful sets that
    had reached the clinic by then; one that reaches it later opens a new alert."""

    pending: list[PainfulSet] = field(default_factory=list)
    review_at: dt.datetime | None = None
    outcome: str = REVIEW_CONTINUED

    def open_at(self, moment: dt.datetime) -> bool:
        return any(
            p.logged <= moment and (p.voided is None or p.voided > moment) for p in self.pending
        )


class PatientSimulation:
    """One patient's course, day by day, written as rows into `buffers`."""

    def __init__(
        self,
        *,
        number: int,
        clinic: ClinicInfo,
        stages: dict[int, int],
        rng: random.Random,
        ids: Ids,
        buffers: Buffers,
        now: dt.datetime,
        days: int,
        password: str,
        uuid_out: Callable[[int], Any],
        counts: Counts,
    ) -> None:
        self.n, self.clinic, self.stages, self.rng = number, clinic, stages, rng
        self.ids, self.buf, self.now, self.counts = ids, buffers, now, counts
        self.uuid_out = uuid_out
        self.today = now.astimezone(clinic.tz).date()
        self.history_days = days
        self.password = password
        self.therapist = rng.choice(clinic.therapists)
        self.top = max(stages)

    # times in the clinic's zone
    def at(self, day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
        local = dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=self.clinic.tz)
        return local.astimezone(dt.UTC)

    def run(self) -> None:
        rng = self.rng
        start_day = self.today - dt.timedelta(days=rng.randint(1, self.history_days))
        program = rng.randint(40, 200)
        end_day = start_day + dt.timedelta(days=program)
        discharged = end_day < self.today
        affected = rng.choices(AffectedSide.values, weights=(40, 40, 20))[0]
        sides = [LEFT, RIGHT] if affected == AffectedSide.BOTH.value else [affected]
        if len(sides) == 1 and rng.random() < 0.4:
            sides.append(RIGHT if affected == LEFT else LEFT)
        self.affected = affected

        # Clearance (about one patient in ten, e.g. after a pelvic fracture).
        clearance = None
        if rng.random() < 0.10:
            clearance = rng.choices(
                (
                    "cleared",
                    "review_due",
                    "restricted",
                    "lapsed",
                    "missing",
                    "not_cleared",
                    "ended",
                    "required_again",
                ),
                weights=(40, 10, 15, 12, 12, 6, 8, 4),
            )[0]
            if clearance in ("review_due", "lapsed", "missing", "not_cleared", "required_again"):
                discharged = False  # their story is still open
        registered_only = clearance in ("missing", "not_cleared") or rng.random() < 0.02
        # "No further clearance needed" ends the requirement (the patient's flag goes off with
        # it); required again after it, the patient waits for a new note: paused, "missing".
        ended_on: dt.date | None = None
        required_again_on: dt.date | None = None
        if clearance in ("ended", "required_again"):
            ended_on = start_day + dt.timedelta(days=rng.randint(15, 45))
            again = ended_on + dt.timedelta(days=rng.randint(5, 30))
            if ended_on >= (end_day if discharged else self.today):
                ended_on = None  # the course ended first: still cleared
            elif clearance == "required_again" and again < self.today:
                required_again_on = again
        requires_clearance = clearance is not None and (
            ended_on is None or required_again_on is not None
        )

        user_id = self.ids.take(get_user_model())
        patient_id = self.ids.take(Patient)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = self.at(start_day - dt.timedelta(days=rng.randint(0, 6)), 9)
        self.buf.users.append(
            (
                user_id,
                self.password,
                False,
                f"{USERNAME_PREFIX}p{self.n}",
                first,
                last,
                "",
                False,
                True,
                created,
            )
        )
        discharge_at = self.at(end_day, 10) if discharged and not registered_only else None
        self.buf.patients.append(
            (
                patient_id,
                self.clinic.pk,
                self.therapist,
                user_id,
                f"B{self.n:06d}",
                first,
                last,
                dt.date(rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28)),
                affected,
                requires_clearance,
                "Pelvic fracture" if clearance else "",
                discharge_at,
                created,
            )
        )
        self.counts.patients += 1
        self.counts.discharged += discharge_at is not None
        self.patient_id, self.user_id = patient_id, user_id

        cap_until: dt.date | None = None  # stage 2 at most until this day (restricted clearance)
        paused_from: dt.date | None = None  # clearance lapsed: no logging from this day
        if clearance:
            signed = start_day - dt.timedelta(days=rng.randint(1, 10))
            self.injured_on = signed - dt.timedelta(days=rng.randint(10, 80))
            if clearance == "not_cleared":
                self._note(signed, Decision.NOT_CLEARED.value, None, signed + dt.timedelta(days=30))
            elif clearance == "review_due":
                soon = max(1, self.clinic.settings.review_soon_days)
                self._note(
                    signed,
                    Decision.CLEARED.value,
                    None,
                    self.today + dt.timedelta(rng.randint(1, soon)),
                )
            elif clearance == "lapsed":
                review = min(start_day + dt.timedelta(days=rng.randint(20, 60)), self.today)
                review -= dt.timedelta(days=1)
                review = max(review, signed)
                self._note(signed, Decision.CLEARED.value, None, review)
                paused_from = review + dt.timedelta(days=1)
            elif clearance == "restricted":
                full = start_day + dt.timedelta(days=rng.randint(15, 45))
                self._note(signed, Decision.RESTRICTED.value, 2, full + dt.timedelta(days=30))
                if full < self.today:
                    self._note(full, Decision.CLEARED.value, None, full + dt.timedelta(days=365))
                    cap_until = full
                else:
                    cap_until = end_day + dt.timedelta(days=1)
            elif clearance in ("cleared", "ended", "required_again"):
                self._note(signed, Decision.CLEARED.value, None, signed + dt.timedelta(days=400))
                if ended_on is not None:
                    self._note(ended_on, Decision.NOT_REQUIRED.value, None, None)
                paused_from = required_again_on
        if registered_only:
            return

        # A discharged patient's last session is the day before discharge.
        last_day = end_day - dt.timedelta(days=1) if discharge_at else self.today
        self._course(sides, start_day, last_day, discharge_at, cap_until, paused_from)

    def _note(
        self, signed: dt.date, decision: str, max_stage: int | None, review: dt.date | None
    ) -> None:
        restricted = decision == Decision.RESTRICTED
        if restricted:
            weight_bearing = WeightBearing.AS_TOLERATED.value
        elif decision == Decision.NOT_REQUIRED:
            weight_bearing = WeightBearing.NOT_STATED.value
        else:
            weight_bearing = WeightBearing.FULL.value
        self.buf.notes.append(
            (
                self.ids.take(ClearanceNote),
                self.patient_id,
                "Pelvic fracture",
                self.injured_on,
                decision,
                weight_bearing,
                max_stage,
                False,
                # A movement precaution on the injured hip that no stage of the ladder breaks
                # (every stage keeps both hips at 45° or less): it is listed, never pauses.
                restricted,
                False,
                False,
                self.affected if restricted else "",
                "Progress gently; review at the fracture clinic." if restricted else "",
                "Dr A. Surgeon",
                "MD, orthopaedics",
                signed,
                review,
                "",
                "",
                "",
                self.therapist,
                self.at(signed, 12),
            )
        )
        self.counts.clearance_notes += 1

    def _prescribe(self, side: str, stage: int, day: dt.date, since: dt.datetime) -> SideState:
        rng = self.rng
        pk = self.ids.take(Prescription)
        own_reps, own_ceiling, own_alert = self._own[side]
        self._rx_open[pk] = (
            pk,
            self.patient_id,
            side,
            self.stages[stage],
            self._target_sets,
            rng.choice((10, 10, 12, 15)),
            rng.choice((1, 1, 2)),
            self._per_week,
            False,
            since,
            None,
            self.therapist,
            "",
            own_reps,
            own_ceiling,
            own_alert,
        )
        self.counts.prescriptions += 1
        length = max(7, min(60, round(rng.gauss(25, 10))))
        clinic = self.clinic.settings
        return SideState(
            side,
            pk,
            stage,
            since,
            day,
            length,
            reps=clinic.progress_at_reps if own_reps is None else own_reps,
            ceiling=clinic.pain_ceiling if own_ceiling is None else own_ceiling,
            alert=clinic.pain_alert_above if own_alert is None else own_alert,
            decide_after=self._decision_delay(),
        )

    def _decision_delay(self) -> int:
        # Most readiness is acted on within a week; some waits (the report's backlog).
        return self.rng.randint(0, 6) if self.rng.random() < 0.88 else self.rng.randint(8, 25)

    def _end(self, state: SideState, at: dt.datetime) -> None:
        row = self._rx_open.pop(state.rx)
        self.buf.prescriptions.append((*row[:10], at, *row[11:]))

    def _change(
        self,
        side: str,
        from_: int | None,
        to: int | None,
        reason: str,
        rx: int,
        at: dt.datetime,
        note: str = "",
    ) -> None:
        self.buf.changes.append(
            (
                self.ids.take(StageChange),
                self.patient_id,
                side,
                self.stages[from_] if from_ else None,
                self.stages[to] if to else None,
                reason,
                rx,
                self.therapist,
                at,
                note,
            )
        )
        self.counts.stage_changes += 1

    # -- pain alerts and the therapist's reviews

    def _painful(
        self,
        side: str,
        pain: int,
        performed: dt.datetime,
        logged: dt.datetime,
        voided: dt.datetime | None,
    ) -> None:
        """A set above the side's alert threshold: it opens (or joins) the side's alert, and the
        therapist plans to review it."""
        if performed < logged - dt.timedelta(days=self.clinic.settings.pain_lookback_days):
            return  # done long before it reached the clinic: listed, never rings
        alert = self._alerts[side]
        alert.pending.append(PainfulSet(pain, logged, voided))
        if alert.review_at is None:
            self._plan_review(alert, logged)

    def _plan_review(self, alert: SideAlert, opened: dt.datetime) -> None:
        rng = self.rng
        # Most alerts are reviewed within three days; one in five waits up to three weeks. A
        # review that would come after "now" is not written: the alert is open.
        if rng.random() < 0.2:
            wait = dt.timedelta(days=rng.randint(4, 21), hours=rng.randint(0, 8))
        else:
            wait = dt.timedelta(hours=rng.randint(2, 72))
        alert.review_at = opened + wait
        alert.outcome = REVIEW_CONTINUED if rng.random() < 0.75 else REVIEW_REFERRED

    def _review(self, side: str, at: dt.datetime, outcome: str) -> int | None:
        """The therapist reviews the side's alert as it stood at `at` (the painful sets that had
        reached the clinic by then and were not voided); returns the highest pain reviewed, or
        None when no alert was open (`exercises.services.pain_review_record` would refuse)."""
        alert = self._alerts[side]
        seen = [p for p in alert.pending if p.logged <= at and (p.voided is None or p.voided > at)]
        alert.pending = [p for p in alert.pending if p.logged > at]
        if not seen:
            return None
        highest = max(p.pain for p in seen)
        self.buf.reviews.append(
            (
                self.ids.take(PainReview),
                self.patient_id,
                side,
                outcome,
                "",
                self.therapist,
                at,
                highest,
                len(seen),
            )
        )
        self.counts.pain_reviews += 1
        return highest

    def _due_reviews(self, before: dt.datetime | None) -> None:
        """Write the planned reviews due before `before` (all of them when None), never later than
        now. Called at the start of a day, when every set that could have reached the clinic
        before then has been made."""
        for side, alert in self._alerts.items():
            while (
                alert.review_at is not None
                and alert.review_at <= self.now
                and (before is None or alert.review_at < before)
            ):
                at, outcome = alert.review_at, alert.outcome
                alert.review_at = None
                self._review(side, at, outcome)
                if alert.pending:  # sets that reached the clinic after the review: a new alert
                    self._plan_review(alert, min(p.logged for p in alert.pending))

    def _course(
        self,
        sides: list[str],
        first_day: dt.date,
        last_day: dt.date,
        discharge_at: dt.datetime | None,
        cap_until: dt.date | None,
        paused_from: dt.date | None,
    ) -> None:
        rng = self.rng
        self._rx_open: dict[int, tuple] = {}
        self._per_week = rng.choice((3, 4, 5, 5, 5, 7))
        self._target_sets = rng.choice((2, 3, 3))
        # A few sides have thresholds of their own, carried from stage to stage with the dose.
        self._own = {
            side: rng.choice(SIDE_OVERRIDES) if rng.random() < 0.06 else (None, None, None)
            for side in sides
        }
        self._alerts = {side: SideAlert() for side in sides}
        adherence = rng.choices((1.0, 0.6, 0.3), weights=(45, 35, 20))[0]
        session_p = min(1.0, self._per_week / 7 * adherence)
        gaps: list[tuple[dt.date, dt.date]] = []
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
            g = first_day + dt.timedelta(days=rng.randint(5, 150))
            gaps.append((g, g + dt.timedelta(days=rng.randint(5, 20))))
        if discharge_at is None and rng.random() < 0.08:  # went quiet recently: "no logs" alert
            g = self.today - dt.timedelta(days=rng.randint(8, 20))
            gaps.append((g, self.today))

        states: dict[str, SideState] = {}
        start_at = self.at(first_day, 8)
        for i, side in enumerate(sides):
            stage = 1 if i == 0 or rng.random() < 0.5 else 2
            states[side] = self._prescribe(side, stage, first_day, start_at)
            self._change(side, None, stage, START, states[side].rx, start_at)

        day = first_day
        while day <= last_day:
            self._due_reviews(self.at(day, 0))
            change_at = self.at(day, 8)
            # Decisions taken in the morning: progress a side that has waited its delay, unless
            # its pain alert is open (the therapist reviews pain before the load goes up).
            for side, s in list(states.items()):
                if (
                    s.ready_day is not None
                    and s.stage < self.top
                    and (day - s.ready_day).days >= s.decide_after
                    and not (cap_until and s.stage + 1 > 2 and day < cap_until)
                    and (paused_from is None or day < paused_from)
                    and change_at <= self.now
                    and not self._alerts[side].open_at(change_at)
                ):
                    self._end(s, change_at)
                    states[side] = self._prescribe(side, s.stage + 1, day, change_at)
                    self._change(side, s.stage, s.stage + 1, PROGRESSED, states[side].rx, change_at)
            paused = paused_from is not None and day >= paused_from
            in_gap = any(a <= day <= b for a, b in gaps)
            if not paused and not in_gap and rng.random() < session_p:
                at = self.at(day, 22)
                for side in self._session(day, states, regress_at=at):
                    # The review of the spike, and the regress it decides, at the same moment.
                    highest = self._review(side, at, REVIEW_REGRESSED)
                    if highest is None:
                        continue
                    s = states[side]
                    self._end(s, at)
                    states[side] = self._prescribe(side, s.stage - 1, day, at)
                    self._change(
                        side,
                        s.stage,
                        s.stage - 1,
                        REGRESSED,
                        states[side].rx,
                        at,
                        f"Pain {highest}/10: back one stage (pain alert reviewed).",
                    )
            day += dt.timedelta(days=1)
        self._due_reviews(None)

        for side, s in states.items():
            if discharge_at is not None:
                self._end(s, discharge_at)
                self._change(side, s.stage, None, STOPPED, s.rx, discharge_at)
        # Still-open prescriptions (active patients) are written without an end.
        self.buf.prescriptions.extend(self._rx_open.values())
        self._rx_open.clear()

    def _session(
        self, day: dt.date, states: dict[str, SideState], *, regress_at: dt.datetime
    ) -> list[str]:
        """One day's sets on every side; returns the sides to regress at `regress_at` after a pain
        spike (only when the spike's sets had reached the clinic by then)."""
        rng = self.rng
        begin = self.at(day, rng.randint(9, 20), rng.randint(0, 59), rng.randint(0, 59))
        if begin > self.now - dt.timedelta(minutes=30):
            return []
        source = rng.choices(SOURCES, weights=(70, 20, 10))[0]
        logged_by = self.therapist if source == SOURCES[2] else self.user_id
        offline = dt.timedelta(hours=rng.randint(1, 30)) if rng.random() < 0.1 else None
        regress = []
        offset = 0
        for side, s in states.items():
            worked = (day - s.start_day).days
            progress = worked / s.length
            spike = rng.random() < 0.015
            n_sets = self._target_sets if rng.random() < 0.8 else rng.randint(1, self._target_sets)
            painful_logged: list[dt.datetime] = []
            for _ in range(n_sets):
                reps = round(6 + 15 * min(progress, 1.1) + rng.gauss(0, 1.5))
                reps = max(1, min(25, reps))
                pain = rng.randint(*SPIKE_PAIN) if spike else rng.choices(range(6), PAIN_WEIGHTS)[0]
                performed = begin + dt.timedelta(seconds=90 * offset)
                offset += 1
                logged = performed + (offline or dt.timedelta(seconds=rng.randint(1, 20)))
                logged = min(logged, self.now)
                voided = rng.random() < 0.003
                voided_at = min(logged + dt.timedelta(days=1), self.now) if voided else None
                self.buf.sets.append(
                    (
                        self.ids.take(SetLog),
                        self.patient_id,
                        s.rx,
                        self.stages[s.stage],
                        side,
                        reps,
                        pain,
                        rng.randint(3, 8) if rng.random() < 0.6 else None,
                        performed,
                        logged,
                        source,
                        self.uuid_out(rng.getrandbits(128)),
                        "Felt a pinch at the top." if rng.random() < 0.02 else "",
                        logged_by,
                        voided_at,
                        self.therapist if voided else None,
                        "Entered twice." if voided else "",
                    )
                )
                self.counts.sets += 1
                if pain > s.alert:
                    self._painful(side, pain, performed, logged, voided_at)
                    if not voided:
                        s.ready_day = None  # a painful set withdraws readiness
                        painful_logged.append(logged)
                elif not voided and s.ready_day is None and reps >= s.reps and pain <= s.ceiling:
                    s.ready_day = day
            if (
                spike
                and painful_logged
                and s.stage > 1
                and rng.random() < 0.4
                and max(painful_logged) <= regress_at <= self.now
            ):
                regress.append(side)
        return regress


# -- the network --------------------------------------------------------------------------------


def generate_network(
    size: Size,
    *,
    seed: int = DEFAULT_SEED,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> Counts:
    """Write a whole network into the current database (which must hold the clamshell ladder).

    `progress` is called with the number of patients done since the last call.
    """
    now = now or dt.datetime.now(dt.UTC)
    counts = Counts()
    relax_sync = connection.vendor == "sqlite" and not connection.in_atomic_block
    if relax_sync:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous")
            synchronous = cursor.fetchone()[0]
            # A bench database is rebuilt, never recovered: no need to sync every chunk to disk.
            cursor.execute("PRAGMA synchronous = OFF")
    try:
        return _generate(size, seed=seed, now=now, progress=progress, counts=counts)
    finally:
        if relax_sync:
            # The same connection then times the pages: with the setting the app runs with.
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA synchronous = {int(synchronous)}")


def _generate(
    size: Size,
    *,
    seed: int,
    now: dt.datetime,
    progress: Callable[[int], None] | None,
    counts: Counts,
) -> Counts:
    user_model = get_user_model()
    stages = dict(Stage.objects.filter(ladder__slug=LADDER_SLUG).values_list("number", "pk"))
    if not stages:
        raise RuntimeError("The clamshell ladder is missing: run the migrations first.")
    ids = Ids(
        user_model,
        Clinic,
        Membership,
        Patient,
        ClearanceNote,
        Prescription,
        StageChange,
        SetLog,
        PainReview,
    )
    writer = BulkWriter()
    # One hash for every user: hashing 20,000 passwords would take longer than the whole network.
    password = make_password(PASSWORD)
    native_uuid = connection.features.has_native_uuid_field
    uuid_out: Callable[[int], Any] = (
        (lambda n: uuid.UUID(int=n)) if native_uuid else (lambda n: f"{n:032x}")
    )

    rng = random.Random(seed)
    sizes = clinic_sizes(size.patients, size.clinics, size.skew)
    therapists = _therapists_per_clinic(sizes, size.therapists)
    clinic_rows, membership_rows, user_rows = [], [], []
    clinics: list[ClinicInfo] = []
    for i, (n_patients, n_therapists) in enumerate(zip(sizes, therapists, strict=True)):
        pk = ids.take(Clinic)
        tz_name = ZONES[i % len(ZONES)]
        chosen = CLINIC_SETTINGS[i % len(CLINIC_SETTINGS)]
        clinic_rows.append(
            (
                pk,
                f"Bench clinic {i + 1:02d}",
                f"{CLINIC_SLUG_PREFIX}{i + 1:02d}",
                tz_name,
                f"020 7946 {i + 1:04d}",
                chosen.progress_at_reps,
                chosen.pain_ceiling,
                chosen.pain_alert_above,
                chosen.pain_lookback_days,
                chosen.silent_days,
                chosen.review_soon_days,
                now,
            )
        )
        info = ClinicInfo(pk, zoneinfo.ZoneInfo(tz_name), [], n_patients, chosen)
        for role, count in ((Role.THERAPIST.value, n_therapists), (Role.STAFF.value, 1)):
            for j in range(count):
                user_id = ids.take(user_model)
                username = f"{USERNAME_PREFIX}c{i + 1:02d}-{role}{j + 1}"
                user_rows.append(
                    (
                        user_id,
                        password,
                        False,
                        username,
                        rng.choice(FIRST_NAMES),
                        rng.choice(LAST_NAMES),
                        "",
                        False,
                        True,
                        now,
                    )
                )
                membership_rows.append((ids.take(Membership), user_id, pk, role, now))
                if role == Role.THERAPIST.value:
                    info.therapists.append(user_id)
        clinics.append(info)
    with transaction.atomic():
        writer.write(user_model, USER_FIELDS, user_rows)
        writer.write(Clinic, CLINIC_FIELDS, clinic_rows)
        writer.write(Membership, ("id", "user", "clinic", "role", "created_at"), membership_rows)
    counts.clinics = len(clinics)
    counts.therapists = sum(therapists)
    counts.users = len(user_rows)

    # Patients are spread over the clinics in a fixed interleaved order, so every chunk touches
    # many clinics and a partial run is still a (smaller) network of the same shape.
    order = [c for c in clinics for _ in range(c.patients)]
    random.Random(seed + 1).shuffle(order)
    buffers = Buffers()
    done = 0
    for number, clinic in enumerate(order, start=1):
        PatientSimulation(
            number=number,
            clinic=clinic,
            stages=stages,
            rng=random.Random(f"{seed}-{number}"),
            ids=ids,
            buffers=buffers,
            now=now,
            days=size.days,
            password=password,
            uuid_out=uuid_out,
            counts=counts,
        ).run()
        done += 1
        if buffers.size() >= CHUNK_ROWS:
            buffers.flush(writer)
            if progress:
                progress(done)
            done = 0
    buffers.flush(writer)
    if progress and done:
        progress(done)
    counts.users += counts.patients

    _reset_sequences()
    _analyze()
    return counts


def _therapists_per_clinic(sizes: list[int], total: int) -> list[int]:
    """Therapists in proportion to patients, at least two per clinic."""
    patients = sum(sizes)
    counts = [max(2, round(total * n / patients)) for n in sizes]
    counts[0] += total - sum(counts)
    return counts


def _reset_sequences() -> None:
    """Keys were chosen here: move PostgreSQL's sequences past them (SQLite follows by itself)."""
    if connection.vendor != "postgresql":
        return
    user_model = get_user_model()
    models_: Iterable[type[models.Model]] = (
        user_model,
        Clinic,
        Membership,
        Patient,
        ClearanceNote,
        Prescription,
        StageChange,
        SetLog,
        PainReview,
    )
    statements = connection.ops.sequence_reset_sql(no_style(), list(models_))
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def _analyze() -> None:
    """Fresh statistics, so the planner sees the generated sizes (autovacuum would, later).
    VACUUM cannot run in a transaction (e.g. a test's): there, statistics only."""
    with connection.cursor() as cursor:
        # VACUUM on PostgreSQL also sets the visibility map that index-only scans need.
        vacuum = connection.vendor == "postgresql" and not connection.in_atomic_block
        cursor.execute("VACUUM ANALYZE" if vacuum else "ANALYZE")
