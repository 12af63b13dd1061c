"""Clinics, their care teams, patients and medical clearance.

Integrity that must never be broken lives in the database (check and unique constraints), so the
admin, a management command and a future importer cannot get around it. Rules that read more than
one row live in `patients/clearance.py` and the services.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Self, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import Storage, storages
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from patients import thresholds as t
from patients.precautions import Precaution, operated_hips


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            "%(value)s is not a known time zone; use an IANA name such as Europe/London.",
            params={"value": value},
            code="invalid_timezone",
        )


class Side(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"


class Clinic(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text="IANA time zone; a patient's 'day' (adherence, alerts) is counted in it.",
    )
    phone = models.CharField(
        max_length=40,
        blank=True,
        help_text="The number a patient calls about their exercises, e.g. after too much pain. "
        "Shown to patients.",
    )
    # The clinic's thresholds (patients/thresholds.py has the defaults and their sources). A
    # prescription may set its own readiness reps, pain ceiling and pain alert threshold.
    progress_at_reps = models.PositiveSmallIntegerField(
        "ready at reps",
        default=t.READY_REPS,
        validators=[
            MinValueValidator(t.READY_REPS_RANGE[0]),
            MaxValueValidator(t.READY_REPS_RANGE[1]),
        ],
        help_text="Reps in one set that make a patient ready for the next stage (the source "
        "article: 20).",
    )
    pain_ceiling = models.PositiveSmallIntegerField(
        "readiness pain ceiling",
        default=t.READY_PAIN_CEILING,
        validators=[MaxValueValidator(t.PAIN_CEILING_RANGE[1])],
        help_text="Highest pain (0–10) a set may have and still count towards readiness, and the "
        "top of the band the patient's pain key calls fine (pain-monitoring model: 3).",
    )
    pain_alert_above = models.PositiveSmallIntegerField(
        "pain alert above",
        default=t.PAIN_ALERT_ABOVE,
        validators=[MaxValueValidator(t.PAIN_ALERT_RANGE[1])],
        help_text="A set with pain above this opens a pain alert on its side and stops the patient "
        f"for the day (pain-monitoring model: above {t.PAIN_ALERT_ABOVE} is not acceptable).",
    )
    pain_lookback_days = models.PositiveSmallIntegerField(
        "pain alert look-back (days)",
        default=t.PAIN_LOOKBACK_DAYS,
        validators=[
            MinValueValidator(t.PAIN_LOOKBACK_RANGE[0]),
            MaxValueValidator(t.PAIN_LOOKBACK_RANGE[1]),
        ],
        help_text="A painful set opens an alert when it reaches the clinic within this many days "
        "of being done.",
    )
    silent_days = models.PositiveSmallIntegerField(
        "days without logs before an alert",
        default=t.SILENT_DAYS,
        validators=[
            MinValueValidator(t.SILENT_DAYS_RANGE[0]),
            MaxValueValidator(t.SILENT_DAYS_RANGE[1]),
        ],
    )
    review_soon_days = models.PositiveSmallIntegerField(
        "clearance review warning (days)",
        default=t.REVIEW_SOON_DAYS,
        validators=[MaxValueValidator(t.REVIEW_SOON_RANGE[1])],
        help_text="Flag a clearance whose review date is this close.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    progress_at_reps__gte=t.READY_REPS_RANGE[0],
                    progress_at_reps__lte=t.READY_REPS_RANGE[1],
                ),
                name="clinic_progress_at_reps_1_100",
            ),
            models.CheckConstraint(
                condition=Q(
                    pain_ceiling__gte=t.PAIN_CEILING_RANGE[0],
                    pain_ceiling__lte=t.PAIN_CEILING_RANGE[1],
                ),
                name="clinic_pain_ceiling_0_10",
            ),
            models.CheckConstraint(
                condition=Q(
                    pain_alert_above__gte=t.PAIN_ALERT_RANGE[0],
                    pain_alert_above__lte=t.PAIN_ALERT_RANGE[1],
                ),
                name="clinic_pain_alert_above_0_9",
            ),
            models.CheckConstraint(
                condition=Q(pain_ceiling__lte=F("pain_alert_above")),
                name="clinic_pain_ceiling_not_above_alert",
                violation_error_message="The readiness pain ceiling cannot be above the pain "
                "alert threshold: a set could then make a patient ready and raise an alert.",
            ),
            models.CheckConstraint(
                condition=Q(
                    pain_lookback_days__gte=t.PAIN_LOOKBACK_RANGE[0],
                    pain_lookback_days__lte=t.PAIN_LOOKBACK_RANGE[1],
                ),
                name="clinic_pain_lookback_days_range",
            ),
            models.CheckConstraint(
                condition=Q(
                    silent_days__gte=t.SILENT_DAYS_RANGE[0],
                    silent_days__lte=t.SILENT_DAYS_RANGE[1],
                ),
                name="clinic_silent_days_range",
            ),
            models.CheckConstraint(
                condition=Q(
                    review_soon_days__gte=t.REVIEW_SOON_RANGE[0],
                    review_soon_days__lte=t.REVIEW_SOON_RANGE[1],
                ),
                name="clinic_review_soon_days_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def local_date(self, moment: dt.datetime) -> dt.date:
        """The calendar day of `moment` in this clinic's zone."""
        return moment.astimezone(self.tzinfo).date()

    @property
    def thresholds(self) -> t.Thresholds:
        return t.Thresholds.of_clinic(self)


class Role(models.TextChoices):
    THERAPIST = "therapist", "Therapist"
    STAFF = "staff", "Staff"


# The querysets are generic in their rows' type (covariant, like QuerySet), so an annotated
# queryset keeps its annotations through their methods.
_Membership = TypeVar("_Membership", bound="Membership", covariant=True)
_Patient = TypeVar("_Patient", bound="Patient", covariant=True)
_Note = TypeVar("_Note", bound="ClearanceNote", covariant=True)
_Event = TypeVar("_Event", bound="AccessEvent", covariant=True)


class MembershipQuerySet(models.QuerySet[_Membership]):
    def therapists(self) -> Self:
        return self.filter(role=Role.THERAPIST)


class Membership(models.Model):
    """A user's role in one clinic. A user may work in several clinics."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["clinic__name", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "clinic"], name="membership_one_role_per_clinic"
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.clinic}"


class AffectedSide(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    BOTH = "both", "Both"


class PatientQuerySet(models.QuerySet[_Patient]):
    def active(self) -> Self:
        return self.filter(discharged_at__isnull=True)


class Patient(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    primary_therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="caseload",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patient",
        help_text="The patient's own login (optional): for the phone app and the 'my exercises' page.",
    )
    record_number = models.CharField(
        max_length=40, help_text="The clinic's medical record number; unique within the clinic."
    )
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    affected_side = models.CharField(max_length=5, choices=AffectedSide.choices)
    requires_clearance = models.BooleanField(
        default=False,
        help_text="Exercise only after the medical team signs off (e.g. after a pelvic fracture). "
        "Turned on with one click; only a clearance note recording “no further clearance needed” "
        "turns it off.",
    )
    clearance_reason = models.CharField(
        max_length=300, blank=True, help_text="Why clearance is needed, e.g. 'pelvic fracture'."
    )
    discharged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PatientQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "record_number"], name="patient_record_number_unique_per_clinic"
            ),
            models.CheckConstraint(
                condition=~Q(record_number=""), name="patient_record_number_not_empty"
            ),
            models.CheckConstraint(
                condition=Q(affected_side__in=AffectedSide.values),
                name="patient_affected_side_valid",
            ),
            models.CheckConstraint(
                condition=Q(requires_clearance=False) | ~Q(clearance_reason=""),
                name="patient_clearance_requires_reason",
                violation_error_message="Give the reason clearance is required.",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "last_name", "first_name"])]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.record_number})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def is_active(self) -> bool:
        return self.discharged_at is None

    def clean(self) -> None:
        super().clean()
        errors = {}
        if self.date_of_birth and self.date_of_birth > timezone.localdate():
            errors["date_of_birth"] = "Date of birth cannot be in the future."
        if (
            self.clinic_id is not None
            and self.primary_therapist_id is not None
            and not Membership.objects.therapists()
            .filter(clinic_id=self.clinic_id, user_id=self.primary_therapist_id)
            .exists()
        ):
            errors["primary_therapist"] = (
                "The primary therapist must be a therapist of this clinic."
            )
        if errors:
            raise ValidationError(errors)


class Decision(models.TextChoices):
    CLEARED = "cleared", "Cleared"
    RESTRICTED = "restricted", "Cleared with restrictions"
    NOT_CLEARED = "not_cleared", "Not cleared"
    # The medical team's decision that the patient no longer needs clearance: the only way the
    # requirement ends (`patients.services.clearance_note_record`).
    NOT_REQUIRED = "not_required", "No further clearance needed"


# Decisions that let the patient exercise (within the note's limits).
CLEARING = (Decision.CLEARED, Decision.RESTRICTED)


class WeightBearing(models.TextChoices):
    FULL = "full", "Full weight-bearing"
    AS_TOLERATED = "as_tolerated", "Weight-bearing as tolerated"
    PARTIAL = "partial", "Partial weight-bearing"
    TOUCH = "touch", "Touch-toe weight-bearing"
    NONE = "none", "Non-weight-bearing"
    NOT_STATED = "not_stated", "Not stated"


class OperatedSide(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    BOTH = "both", "Both"


class DocumentType(models.TextChoices):
    """What a scanned sign-off may be, as read from the file's content (never its name)."""

    PDF = "application/pdf", "PDF"
    JPEG = "image/jpeg", "JPEG image"
    PNG = "image/png", "PNG image"


class ClearanceNoteQuerySet(models.QuerySet[_Note]):
    def newest_first(self) -> Self:
        # The note signed last supersedes; recording order breaks ties on the same day.
        return self.order_by("-signed_on", "-recorded_at", "-id")


def _document_path(note: ClearanceNote, filename: str) -> str:
    # A random name: the file's own name may carry the patient's name, and the storage is not
    # the place to keep it (the note keeps it, for the care team).
    suffix = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}.get(
        note.document_type, "bin"
    )
    return f"clearance/{uuid.uuid4().hex}.{suffix}"


def _private_storage() -> Storage:
    return storages["private"]


# Every precaution field is named after its `Precaution` value.
PRECAUTION_FIELDS = tuple(p.value for p in Precaution)


class ClearanceNote(models.Model):
    """A medical team's sign-off, as recorded by the clinic. Never edited: a new note supersedes."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="clearance_notes")
    reason = models.CharField(
        "procedure or injury",
        max_length=300,
        help_text="As the sign-off names it, e.g. posterior-approach total hip replacement.",
    )
    procedure_on = models.DateField(
        "date of the procedure or injury",
        null=True,
        blank=True,
        help_text="e.g. the day of the operation or of the fracture.",
    )
    decision = models.CharField(max_length=20, choices=Decision.choices)
    weight_bearing = models.CharField(
        max_length=20, choices=WeightBearing.choices, default=WeightBearing.NOT_STATED
    )
    max_stage = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Highest stage allowed; leave empty when no stage limit was given.",
    )
    # Movement precautions (patients/precautions.py): each rules out the stages whose movements
    # conflict with it, on the hip it protects (`operated_side`).
    no_internal_rotation = models.BooleanField(
        Precaution.NO_INTERNAL_ROTATION.label, default=False, db_default=False
    )
    no_flexion_past_90 = models.BooleanField(
        Precaution.NO_FLEXION_PAST_90.label, default=False, db_default=False
    )
    no_lying_on_operated_side = models.BooleanField(
        Precaution.NO_LYING_ON_OPERATED_SIDE.label, default=False, db_default=False
    )
    no_resisted_abduction = models.BooleanField(
        Precaution.NO_RESISTED_ABDUCTION.label, default=False, db_default=False
    )
    operated_side = models.CharField(
        "operated or injured side",
        max_length=5,
        choices=OperatedSide.choices,
        blank=True,
        db_default="",
        help_text="The hip the precautions protect.",
    )
    restrictions = models.TextField(
        "other restrictions", blank=True, help_text="Any other restriction, as written."
    )
    signed_by_name = models.CharField(max_length=200)
    signed_by_credentials = models.CharField(max_length=100, help_text="e.g. MD, orthopaedics.")
    signed_on = models.DateField()
    review_on = models.DateField(
        null=True,
        blank=True,
        help_text="Review or expiry date: the clearance lapses after it. None for a note that ends "
        "the requirement.",
    )
    # A scan of the signed document, in the private storage (never served as a static file):
    # `clinic.patient_page.views.clearance_document` serves it to the care team and records who opened it.
    document = models.FileField(
        "scanned copy",
        upload_to=_document_path,
        storage=_private_storage,
        blank=True,
        max_length=200,
    )
    document_type = models.CharField(
        max_length=40, choices=DocumentType.choices, blank=True, db_default=""
    )
    document_name = models.CharField(
        "file name",
        max_length=200,
        blank=True,
        db_default="",
        help_text="The name the file had when it was uploaded.",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = ClearanceNoteQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["-signed_on", "-recorded_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(review_on__isnull=True) | Q(review_on__gte=models.F("signed_on")),
                name="clearance_review_not_before_signed",
                violation_error_message="The review date cannot be before the date signed.",
            ),
            models.CheckConstraint(
                condition=Q(decision__in=Decision.values), name="clearance_decision_valid"
            ),
            models.CheckConstraint(
                condition=Q(max_stage__isnull=True) | Q(max_stage__gte=1),
                name="clearance_max_stage_positive",
            ),
            models.CheckConstraint(
                condition=~Q(signed_by_name=""), name="clearance_signed_by_not_empty"
            ),
            models.CheckConstraint(
                condition=~Q(signed_by_credentials=""),
                name="clearance_credentials_not_empty",
                violation_error_message="Give the signer's credentials, e.g. MD, orthopaedics.",
            ),
            # Every decision but "no further clearance needed" has a review date; that one has
            # none, and lifts every limit with the requirement.
            models.CheckConstraint(
                condition=(
                    Q(
                        decision=Decision.NOT_REQUIRED,
                        review_on__isnull=True,
                        max_stage__isnull=True,
                    )
                    & Q(**dict.fromkeys(PRECAUTION_FIELDS, False))
                )
                | (~Q(decision=Decision.NOT_REQUIRED) & Q(review_on__isnull=False)),
                name="clearance_not_required_shape",
                violation_error_message="A note that ends the requirement has no review date, "
                "stage limit or precaution; every other note has a review date.",
            ),
            # Precautions are restrictions: only a note that clears with restrictions carries
            # them, and it names the hip they protect.
            models.CheckConstraint(
                condition=Q(**dict.fromkeys(PRECAUTION_FIELDS, False))
                | (Q(decision=Decision.RESTRICTED) & ~Q(operated_side="")),
                name="clearance_precautions_restricted_with_side",
                violation_error_message="Movement precautions go on a note that clears with "
                "restrictions, with the operated side they protect.",
            ),
            models.CheckConstraint(
                condition=Q(operated_side__in=["", *OperatedSide.values]),
                name="clearance_operated_side_valid",
            ),
            models.CheckConstraint(
                condition=Q(document="", document_type="")
                | (~Q(document="") & Q(document_type__in=DocumentType.values)),
                name="clearance_document_typed",
            ),
        ]
        indexes = [models.Index(fields=["patient", "-signed_on"])]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.signed_by_name} on {self.signed_on}"

    @property
    def precautions(self) -> list[Precaution]:
        return [p for p in Precaution if getattr(self, p.value)]

    @property
    def protected_hips(self) -> set[str]:
        return operated_hips(self.operated_side) if self.operated_side else set()

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        if self.decision == Decision.RESTRICTED and not (
            self.max_stage
            or self.precautions
            or self.restrictions.strip()
            or self.weight_bearing not in (WeightBearing.FULL, WeightBearing.NOT_STATED)
        ):
            errors["restrictions"] = "A clearance with restrictions must say what they are."
        if self.decision == Decision.NOT_CLEARED and self.max_stage:
            errors["max_stage"] = "A note that does not clear the patient cannot allow a stage."
        if self.decision == Decision.NOT_REQUIRED:
            if self.max_stage:
                errors["max_stage"] = (
                    "A note that ends the requirement lifts every stage limit; record “cleared "
                    "with restrictions” to keep one."
                )
            if self.precautions:
                errors["precautions"] = (
                    "A note that ends the requirement lifts every precaution; record “cleared "
                    "with restrictions” to keep them."
                )
            if self.review_on is not None:
                errors["review_on"] = (
                    "A note that ends the requirement has no review date: leave it empty."
                )
        elif self.decision and self.review_on is None:
            errors["review_on"] = "Give the review or expiry date written on the note."
        if self.precautions and self.decision != Decision.RESTRICTED:
            errors["decision"] = (
                "Movement precautions are restrictions: choose “cleared with restrictions”."
            )
        if self.precautions and not self.operated_side:
            errors["operated_side"] = "Say which hip the precautions protect."
        if self.procedure_on and self.signed_on and self.procedure_on > self.signed_on:
            errors["procedure_on"] = (
                "The procedure or injury cannot be after the sign-off that refers to it."
            )
        if errors:
            raise ValidationError(errors)

    # These read this note alone. A newer note supersedes it, so whether a patient may exercise
    # is decided by `patients.clearance.clearance_status`, which picks the note in effect first.
    def is_in_force(self, on: dt.date) -> bool:
        """Cleared (with or without restrictions), signed on or before `on`, review date not passed."""
        return (
            self.decision in CLEARING
            and self.review_on is not None
            and self.signed_on <= on <= self.review_on
        )

    def allows_stage(self, stage_number: int) -> bool:
        return self.max_stage is None or stage_number <= self.max_stage


class AccessAction(models.TextChoices):
    """What someone read or took away, and who cut off or restored a patient's own access.

    Changes to records are not here: the history tables record those. A login's `is_active` is the
    exception, because the user table has no history of its own (docs/audit.md).
    """

    PATIENT_PAGE = "patient_page", "Viewed the patient page"
    PATIENT_REPORT = "patient_report", "Viewed the progression report"
    PATIENT_REPORT_CSV = "patient_report_csv", "Downloaded a progression report table (CSV)"
    PATIENT_HISTORY = "patient_history", "Viewed the audit history"
    FHIR_EXPORT = "fhir_export", "Exported the record (FHIR bundle)"
    CLINIC_REPORT_CSV = "clinic_report_csv", "Downloaded a clinic report table (CSV)"
    CLINIC_ACCESS_LOG = "clinic_access_log", "Viewed the clinic's access log"
    ADMIN_VIEW = "admin_view", "Viewed a record in the admin"
    CLEARANCE_DOCUMENT = "clearance_document", "Opened a clearance note's scanned copy"
    LOGIN_DISABLED = "login_disabled", "Disabled the patient's login"
    LOGIN_ENABLED = "login_enabled", "Enabled the patient's login again"


class AccessEventQuerySet(models.QuerySet[_Event]):
    def newest_first(self) -> Self:
        return self.order_by("-at", "-id")


class AccessEvent(models.Model):
    """One read or export of patient data, or one change to a patient's login (disabled or enabled
    again): who, when, which clinic and patient, what.

    Written only by `patients.access_events.record_access` and never changed afterwards; it has no
    simple-history of its own because it is itself the record. `detail` holds only values the
    app chose (a table's name, a period), never free text typed by someone or a patient's name.
    """

    at = models.DateTimeField(default=timezone.now)
    # SET_NULL so that removing an account never fails on its audit trail; `username` keeps who it
    # was. Clinics and patients are never deleted (PROTECT, as everywhere else).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    username = models.CharField(max_length=150)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="access_events")
    patient = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="access_events",
        help_text="Empty for a clinic-wide event (e.g. a clinic report download).",
    )
    action = models.CharField(max_length=30, choices=AccessAction.choices)
    detail = models.CharField(max_length=200, blank=True)

    objects = AccessEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=AccessAction.values), name="access_event_action_valid"
            ),
        ]
        indexes = [
            # "This patient's events, newest first" (the history page) and the clinic's log.
            models.Index(fields=["patient", "-at"], name="access_event_patient_at"),
            models.Index(fields=["clinic", "-at"], name="access_event_clinic_at"),
        ]

    def __str__(self) -> str:
        return f"{self.username}: {self.get_action_display()} at {self.at:%Y-%m-%d %H:%M}"
