"""The exercise ladder, prescriptions per side, stage changes and logged sets.

The ladder's rungs are data (seeded by a data migration), never code: nothing here assumes four
stages. Ranges, "one active prescription per side" and the idempotency key are database
constraints; rules that read many rows live in `exercises/progression.py` and
`exercises/adherence.py`, and writes go through `exercises/services.py`.
"""

from __future__ import annotations

import datetime as dt
from typing import Self, TypedDict, TypeVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, F, Max, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Least
from django.utils import timezone
from django_stubs_ext import WithAnnotations
from simple_history.models import HistoricalRecords

from patients import thresholds as t
from patients.models import Patient, Side
from patients.precautions import Rotation


class Ladder(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source = models.TextField(help_text="Where the ladder comes from (citation).")

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class IntensityBand(models.TextChoices):
    """Reiman et al. 2012 bands for %MVIC."""

    LOW = "low", f"Low (0–{t.MVIC_MODERATE_FROM - 1} %MVIC)"
    MODERATE = "moderate", f"Moderate ({t.MVIC_MODERATE_FROM}–{t.MVIC_HIGH_FROM - 1} %MVIC)"
    HIGH = "high", f"High ({t.MVIC_HIGH_FROM}–{t.MVIC_VERY_HIGH_FROM - 1} %MVIC)"
    VERY_HIGH = "very_high", f"Very high (>{t.MVIC_VERY_HIGH_FROM - 1} %MVIC)"


class Stage(models.Model):
    ladder = models.ForeignKey(Ladder, on_delete=models.PROTECT, related_name="stages")
    number = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    name = models.CharField(max_length=100)
    summary = models.CharField(max_length=300, help_text="One line a patient recognises.")
    position = models.TextField(help_text="How to lie, written for the patient.")
    movement = models.TextField(help_text="What to move, written for the patient.")
    cues = models.TextField(help_text="Tempo, the pause at the top, what to avoid.")
    bottom_hip_flexion_deg = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(180)], help_text="Bottom (supporting) hip flexion, degrees."
    )
    top_hip_flexion_deg = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(180)], help_text="Top (working) hip flexion, degrees."
    )
    # What the stage asks of the hip, read by the clearance gate's movement precautions
    # (patients/precautions.py) and by the stage's figure.
    top_hip_rotation = models.CharField(
        max_length=10,
        choices=Rotation.choices,
        help_text="Which way the top leg's hip turns during the movement.",
    )
    top_leg_lifted = models.BooleanField(
        default=False,
        help_text="The top leg is lifted and held level (parallel to the floor) for the whole set.",
    )
    # The safe default: a stage is taken to load the abductors until it says it does not, so the
    # "no resisted hip abduction" precaution rules out a new stage nobody described yet.
    abducts_against_gravity = models.BooleanField(
        "abducts against gravity",
        default=True,
        help_text="The top leg moves, or is held, out to the side against gravity (resisted hip "
        "abduction): the knee opening, or the leg held up.",
    )
    lies_on_other_side = models.BooleanField(
        default=True,
        help_text="The patient lies on the side not being exercised (side-lying).",
    )
    gmed_mvic_percent = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(300)],
        help_text="Gluteus medius activation, % of maximal voluntary isometric contraction.",
    )
    mvic_note = models.CharField(max_length=200, blank=True)
    source = models.TextField(help_text="Citation for the position and the %MVIC figure.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["ladder", "number"]
        constraints = [
            models.UniqueConstraint(fields=["ladder", "number"], name="stage_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="stage_number_positive"),
        ]

    def __str__(self) -> str:
        return f"Stage {self.number}: {self.name}"

    @property
    def intensity_band(self) -> IntensityBand:
        mvic = self.gmed_mvic_percent
        if mvic >= t.MVIC_VERY_HIGH_FROM:
            return IntensityBand.VERY_HIGH
        if mvic >= t.MVIC_HIGH_FROM:
            return IntensityBand.HIGH
        if mvic >= t.MVIC_MODERATE_FROM:
            return IntensityBand.MODERATE
        return IntensityBand.LOW


def pain_alert_in_force(rx: str = "") -> Coalesce:
    """The pain alert threshold in force for a prescription reached by `rx` ("" in a
    prescription query, "prescription__" in a set query): its own, else its clinic's. Both
    models carry `patient`, so the clinic is reached the short way."""
    return Coalesce(F(f"{rx}pain_alert_above"), F("patient__clinic__pain_alert_above"))


def pain_ceiling_in_force(rx: str = "") -> Least:
    """The readiness pain ceiling in force, never above the alert threshold in force (the SQL
    twin of `Thresholds.overridden`): a score cannot be "fine" and ring an alert at once."""
    return Least(
        Coalesce(F(f"{rx}pain_ceiling"), F("patient__clinic__pain_ceiling")),
        pain_alert_in_force(rx),
    )


# The rows of a queryset: the model, or the model with annotations (django-stubs' WithAnnotations).
_P = TypeVar("_P", bound="Prescription", covariant=True)
_S = TypeVar("_S", bound="SetLog", covariant=True)


class ThresholdsInForce(TypedDict):
    """`PrescriptionQuerySet.with_thresholds`: the prescription's own, else its clinic's."""

    reps_threshold: int
    pain_threshold: int
    alert_threshold: int


class Readiness(ThresholdsInForce):
    """`PrescriptionQuerySet.with_readiness`."""

    last_painful_at: dt.datetime | None
    last_qualifying_at: dt.datetime | None
    is_ready: bool


class BestReps(ThresholdsInForce):
    """`PrescriptionQuerySet.with_best_reps`: None before any set within the pain ceiling."""

    best_reps: int | None


class PrescriptionState(Readiness, BestReps):
    """Both: what `progression.active_prescriptions_with_state` fetches."""


class PrescriptionQuerySet(models.QuerySet[_P]):
    # Generic in its rows' type (covariant, like QuerySet), so that each `with_…` says in its
    # type what it annotates.

    def active(self) -> Self:
        return self.filter(ended_at__isnull=True)

    def with_thresholds(self) -> PrescriptionQuerySet[WithAnnotations[_P, ThresholdsInForce]]:
        """Annotate the thresholds in force: the prescription's own, else the clinic's.

        `reps_threshold` and `pain_threshold` (readiness), `alert_threshold` (pain alert).
        """
        return self.annotate(
            reps_threshold=Coalesce(F("progress_at_reps"), F("patient__clinic__progress_at_reps")),
            pain_threshold=pain_ceiling_in_force(),
            alert_threshold=pain_alert_in_force(),
        )

    def with_readiness(self) -> PrescriptionQuerySet[WithAnnotations[_P, Readiness]]:
        """Annotate `is_ready`: the readiness rule (docs/domain.md, "Readiness") computed by the
        database.

        Ready = a valid set on this prescription with reps >= the threshold and pain <= the
        ceiling, and no valid set above the pain alert threshold on it since (a painful set at
        the same moment counts as after). A painful set after a ready one withdraws readiness
        until the next qualifying set. This is the only implementation of the rule;
        `progression.is_ready` and `progression.ready_since` read it.
        """
        return (
            self.with_thresholds()
            .annotate(
                last_painful_at=Subquery(_painful_sets().values("performed_at")[:1]),
                last_qualifying_at=Subquery(
                    _qualifying_sets().order_by("-performed_at").values("performed_at")[:1]
                ),
            )
            .annotate(
                is_ready=Case(
                    When(
                        Q(last_qualifying_at__isnull=False)
                        & (
                            Q(last_painful_at__isnull=True)
                            | Q(last_qualifying_at__gt=F("last_painful_at"))
                        ),
                        then=Value(True),
                    ),
                    default=Value(False),
                    output_field=models.BooleanField(),
                )
            )
        )

    def with_best_reps(self) -> PrescriptionQuerySet[WithAnnotations[_P, BestReps]]:
        """Annotate `best_reps`: the most reps in one valid set within the pain ceiling in force
        ("best at this stage"; a set done in too much pain is not a best)."""
        return self.with_thresholds().annotate(best_reps=Subquery(_best_reps()))


def _qualifying_sets() -> models.QuerySet[SetLog]:
    """Sets that make an annotated prescription ready (`with_thresholds` provides the limits)."""
    return SetLog.objects.filter(
        prescription=OuterRef("pk"),
        voided_at__isnull=True,
        reps__gte=OuterRef("reps_threshold"),
        pain__lte=OuterRef("pain_threshold"),
    )


def _painful_sets() -> models.QuerySet[SetLog]:
    """Valid sets above the pain alert threshold on an annotated prescription, newest first."""
    return SetLog.objects.filter(
        prescription=OuterRef("pk"),
        voided_at__isnull=True,
        pain__gt=OuterRef("alert_threshold"),
    ).order_by("-performed_at")


class _Best(TypedDict):
    best: int | None


def _best_reps() -> models.QuerySet[WithAnnotations[SetLog, _Best], _Best]:
    """The most reps in one valid set within the pain ceiling, on an annotated prescription."""
    return (
        SetLog.objects.filter(
            prescription=OuterRef("pk"),
            voided_at__isnull=True,
            pain__lte=OuterRef("pain_threshold"),
        )
        .order_by()
        .values("prescription")
        .annotate(best=Max("reps"))
        .values("best")
    )


# What a therapist sets when prescribing a stage, kept when the stage changes (the services copy it
# to the next prescription; the admin's forms show it as one group).
DOSE_FIELDS = (
    "target_sets",
    "target_reps",
    "hold_at_top_seconds",
    "sessions_per_week",
    "progress_at_reps",
    "pain_ceiling",
    "pain_alert_above",
    "auto_advance",
)


class Prescription(models.Model):
    """One stage for one side of one patient, from started_at until ended_at."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="prescriptions")
    side = models.CharField(max_length=5, choices=Side.choices)
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="prescriptions")
    target_sets = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    target_reps = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(t.REPS_MIN), MaxValueValidator(t.REPS_MAX)],
        help_text="Reps per set to aim for today.",
    )
    hold_at_top_seconds = models.PositiveSmallIntegerField(
        default=1,
        validators=[MaxValueValidator(10)],
        help_text="Pause at the top of each rep, seconds (the source asks for a slight pause).",
    )
    sessions_per_week = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(14)]
    )
    # The three thresholds of one side's exercise; empty = the clinic's (patients/thresholds.py).
    progress_at_reps = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(t.REPS_MIN), MaxValueValidator(t.REPS_MAX)],
        help_text="Reps that make the patient ready for the next stage; empty = the clinic's.",
    )
    pain_ceiling = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(t.PAIN_MAX)],
        help_text="Highest pain for a set to count towards readiness; empty = the clinic's.",
    )
    pain_alert_above = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(t.PAIN_ALERT_RANGE[1])],
        help_text="A set with pain above this opens a pain alert; empty = the clinic's.",
    )
    auto_advance = models.BooleanField(
        default=False,
        help_text="Advance automatically when ready (still subject to the clearance gate).",
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    prescribed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the system advanced the patient automatically.",
    )
    notes = models.TextField(blank=True)

    objects = PrescriptionQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "side", "-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "side"],
                condition=Q(ended_at__isnull=True),
                name="prescription_one_active_per_side",
                violation_error_message="This side already has an active prescription.",
            ),
            models.CheckConstraint(
                condition=Q(side__in=Side.values), name="prescription_side_valid"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="prescription_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(target_sets__gte=1, target_sets__lte=10),
                name="prescription_target_sets_1_10",
            ),
            models.CheckConstraint(
                condition=Q(target_reps__gte=t.REPS_MIN, target_reps__lte=t.REPS_MAX),
                name="prescription_target_reps_1_100",
            ),
            models.CheckConstraint(
                condition=Q(hold_at_top_seconds__lte=10), name="prescription_hold_0_10"
            ),
            models.CheckConstraint(
                condition=Q(sessions_per_week__gte=1, sessions_per_week__lte=14),
                name="prescription_sessions_per_week_1_14",
            ),
            models.CheckConstraint(
                condition=Q(progress_at_reps__isnull=True)
                | Q(progress_at_reps__gte=t.REPS_MIN, progress_at_reps__lte=t.REPS_MAX),
                name="prescription_progress_at_reps_1_100",
            ),
            models.CheckConstraint(
                condition=Q(pain_ceiling__isnull=True) | Q(pain_ceiling__lte=t.PAIN_MAX),
                name="prescription_pain_ceiling_0_10",
            ),
            models.CheckConstraint(
                condition=Q(pain_alert_above__isnull=True)
                | Q(pain_alert_above__lte=t.PAIN_ALERT_RANGE[1]),
                name="prescription_pain_alert_above_0_9",
            ),
            models.CheckConstraint(
                condition=Q(pain_ceiling__isnull=True)
                | Q(pain_alert_above__isnull=True)
                | Q(pain_ceiling__lte=F("pain_alert_above")),
                name="prescription_pain_ceiling_not_above_alert",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} — {self.get_side_display()} stage {self.stage.number}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None

    @property
    def thresholds(self) -> t.Thresholds:
        """The thresholds in force for this side: its own where set, else the clinic's."""
        return self.patient.clinic.thresholds.overridden(
            ready_reps=self.progress_at_reps,
            pain_ceiling=self.pain_ceiling,
            pain_alert_above=self.pain_alert_above,
        )

    @property
    def effective_progress_at_reps(self) -> int:
        return self.thresholds.ready_reps

    @property
    def effective_pain_ceiling(self) -> int:
        return self.thresholds.pain_ceiling

    @property
    def effective_pain_alert_above(self) -> int:
        return self.thresholds.pain_alert_above


# A prescription as `progression.active_prescriptions_with_state` returns it: with its readiness,
# its best reps and the thresholds in force.
type PrescriptionWithState = WithAnnotations[Prescription, PrescriptionState]


class ChangeReason(models.TextChoices):
    START = "start", "Started"
    PROGRESSED = "progressed", "Progressed"
    REGRESSED = "regressed", "Regressed"
    STOPPED = "stopped", "Stopped"


class StageChange(models.Model):
    """One step on a patient's ladder for one side: who decided, when, why."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="stage_changes")
    side = models.CharField(max_length=5, choices=Side.choices)
    from_stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=12, choices=ChangeReason.choices)
    prescription = models.ForeignKey(
        Prescription,
        on_delete=models.PROTECT,
        related_name="stage_changes",
        help_text="The prescription started by this change (or ended, for a stop).",
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the system advanced the patient automatically.",
    )
    at = models.DateTimeField()
    note = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "side", "at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__in=ChangeReason.values), name="stage_change_reason_valid"
            ),
            models.CheckConstraint(
                condition=Q(side__in=Side.values), name="stage_change_side_valid"
            ),
            # A start has no "from"; a stop has no "to"; progress and regress have both.
            models.CheckConstraint(
                condition=(
                    Q(reason="start", from_stage__isnull=True, to_stage__isnull=False)
                    | Q(reason="stopped", from_stage__isnull=False, to_stage__isnull=True)
                    | Q(
                        reason__in=["progressed", "regressed"],
                        from_stage__isnull=False,
                        to_stage__isnull=False,
                    )
                ),
                name="stage_change_shape",
            ),
        ]
        indexes = [models.Index(fields=["patient", "side", "at"])]

    def __str__(self) -> str:
        a = self.from_stage.number if self.from_stage else "—"
        b = self.to_stage.number if self.to_stage else "—"
        return f"{self.get_side_display()} {a} → {b} ({self.get_reason_display()})"


class Source(models.TextChoices):
    APP = "app", "Phone app"
    WEB = "web", "Web page"
    CLINIC = "clinic", "In clinic"


class AlertThreshold(TypedDict):
    """`SetLogQuerySet.with_alert_threshold`: the pain alert threshold in force for the set."""

    alert_threshold: int


class SetLogQuerySet(models.QuerySet[_S]):
    def valid(self) -> Self:
        """Sets that count: voided sets stay stored but count for nothing."""
        return self.filter(voided_at__isnull=True)

    def with_alert_threshold(self) -> SetLogQuerySet[WithAnnotations[_S, AlertThreshold]]:
        """Annotate `alert_threshold`, the pain alert threshold in force for each set (its
        prescription's own, else its clinic's), so lists can flag painful sets without a query
        per row (`SetLog.pain_alert`)."""
        return self.annotate(alert_threshold=pain_alert_in_force("prescription__"))

    def painful(self) -> SetLogQuerySet[WithAnnotations[_S, AlertThreshold]]:
        """Sets above the pain alert threshold in force for them."""
        return self.with_alert_threshold().filter(pain__gt=F("alert_threshold"))


class SetLog(models.Model):
    """One set of one stage on one side. Never deleted; a therapist may void it with a reason."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="set_logs")
    prescription = models.ForeignKey(
        Prescription, on_delete=models.PROTECT, related_name="set_logs"
    )
    # Copied at log time so the history reads right even after the prescription changes.
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=5, choices=Side.choices)
    reps = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(t.REPS_MIN), MaxValueValidator(t.REPS_MAX)]
    )
    pain = models.PositiveSmallIntegerField(validators=[MaxValueValidator(t.PAIN_MAX)])
    effort = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(t.EFFORT_MAX)]
    )
    performed_at = models.DateTimeField(help_text="When the patient did the set (their clock).")
    logged_at = models.DateTimeField(help_text="When the server stored it.")
    source = models.CharField(max_length=10, choices=Source.choices)
    client_id = models.UUIDField(help_text="Chosen by the client: the idempotency key.")
    note = models.CharField(max_length=t.NOTE_MAX_LENGTH, blank=True)
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    void_reason = models.CharField(max_length=300, blank=True)

    objects = SetLogQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["-performed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "client_id"], name="setlog_client_id_unique_per_patient"
            ),
            models.CheckConstraint(
                condition=Q(reps__gte=t.REPS_MIN, reps__lte=t.REPS_MAX), name="setlog_reps_1_100"
            ),
            models.CheckConstraint(
                condition=Q(pain__gte=0, pain__lte=t.PAIN_MAX), name="setlog_pain_0_10"
            ),
            models.CheckConstraint(
                condition=Q(effort__isnull=True) | Q(effort__gte=0, effort__lte=t.EFFORT_MAX),
                name="setlog_effort_0_10",
            ),
            models.CheckConstraint(condition=Q(side__in=Side.values), name="setlog_side_valid"),
            models.CheckConstraint(
                condition=Q(source__in=Source.values), name="setlog_source_valid"
            ),
            # Voided means: when, by whom and why, all three or none.
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True, voided_by__isnull=True, void_reason="")
                | (Q(voided_at__isnull=False, voided_by__isnull=False) & ~Q(void_reason="")),
                name="setlog_void_complete",
            ),
        ]
        indexes = [
            # A patient's sets by time: their history newest first (scanned backwards), and every
            # "sets of these patients in this range" of the dashboard and the reports. The
            # trailing columns are carried, not searched: with them those range reads answer from
            # the index alone, on PostgreSQL and SQLite (docs/performance.md shows the plans).
            models.Index(
                fields=["patient", "performed_at", "side", "pain", "voided_at"],
                name="setlog_patient_performed",
            ),
            models.Index(fields=["prescription", "reps", "pain"]),
        ]

    def __str__(self) -> str:
        return f"{self.reps} reps, pain {self.pain}/10 ({self.get_side_display()}, {self.stage})"

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None

    @property
    def pain_alert(self) -> bool:
        """Above the pain alert threshold in force for its prescription (read from the
        `with_alert_threshold` annotation when the list has it)."""
        threshold = getattr(self, "alert_threshold", None)
        if threshold is None:
            threshold = self.prescription.effective_pain_alert_above
        return self.pain > threshold


class PainOutcome(models.TextChoices):
    """What a therapist decided about a side's pain alert."""

    REGRESSED = "regressed", "Regressed"
    CONTINUED = "continued", "Continued at this stage"
    REFERRED = "referred", "Referred to the doctor"
    # Written once, by the migration that made alerts stay open until reviewed: alerts that the
    # earlier rule had already closed (a stage change, or a week without pain).
    CLOSED_EARLIER = "closed_earlier", "Closed before reviews were recorded"


class PainReview(models.Model):
    """A therapist's review of a side's pain alert: it closes the alert for every painful set
    that had reached the clinic by then (exercises/progression.py). Never edited or deleted."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="pain_reviews")
    side = models.CharField(max_length=5, choices=Side.choices)
    outcome = models.CharField(max_length=20, choices=PainOutcome.choices)
    note = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty only for the alerts closed when reviews began to be recorded.",
    )
    at = models.DateTimeField(default=timezone.now)
    # What was reviewed, as it stood: the worst pain and how many painful sets.
    highest_pain = models.PositiveSmallIntegerField(validators=[MaxValueValidator(t.PAIN_MAX)])
    painful_sets = models.PositiveIntegerField()

    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "side", "-at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(side__in=Side.values), name="pain_review_side_valid"
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=PainOutcome.values), name="pain_review_outcome_valid"
            ),
            models.CheckConstraint(
                condition=Q(by__isnull=False) | Q(outcome=PainOutcome.CLOSED_EARLIER),
                name="pain_review_by_a_therapist",
            ),
            models.CheckConstraint(
                condition=Q(highest_pain__lte=t.PAIN_MAX), name="pain_review_pain_0_10"
            ),
        ]
        indexes = [models.Index(fields=["patient", "side", "-at"], name="pain_review_side_at")]

    def __str__(self) -> str:
        return f"{self.get_side_display()} side: {self.get_outcome_display()} ({self.at:%Y-%m-%d})"
