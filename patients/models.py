"""Clinics, their care teams, patients and medical clearance.

Integrity that must never be broken lives in the database (check and unique constraints), so the
admin, a management command and a future importer cannot get around it. Rules that read more than
one row live in `patients/clearance.py` and the services.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

# Pain-monitoring model (Thomeé 1997, used with loading programmes): 0-3/10 safe, 4-5 acceptable,
# above 5 not acceptable. The ceiling for "ready to progress" defaults to the top of the safe band.
DEFAULT_PAIN_CEILING = 3
# Boren et al. 2011: "when a patient can do 20 reps at a level, it is time to move to the next".
DEFAULT_PROGRESS_AT_REPS = 20


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
    progress_at_reps = models.PositiveSmallIntegerField(
        default=DEFAULT_PROGRESS_AT_REPS,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Reps in one set that make a patient ready for the next stage (Boren 2011: 20).",
    )
    pain_ceiling = models.PositiveSmallIntegerField(
        default=DEFAULT_PAIN_CEILING,
        validators=[MaxValueValidator(10)],
        help_text="Highest pain (0-10) a set may have and still count towards readiness.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress_at_reps__gte=1, progress_at_reps__lte=100),
                name="clinic_progress_at_reps_1_100",
            ),
            models.CheckConstraint(
                condition=Q(pain_ceiling__gte=0, pain_ceiling__lte=10),
                name="clinic_pain_ceiling_0_10",
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


class Role(models.TextChoices):
    THERAPIST = "therapist", "Therapist"
    STAFF = "staff", "Staff"


class MembershipQuerySet(models.QuerySet["Membership"]):
    def therapists(self) -> MembershipQuerySet:
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


class PatientQuerySet(models.QuerySet["Patient"]):
    def active(self) -> PatientQuerySet:
        return self.filter(discharged_at__isnull=True)

    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> PatientQuerySet:
        """Patients this user may see: their clinics' patients, or only themselves as a patient.

        Private is the default: anonymous users and users with no membership see nothing.
        """
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self.all()
        return self.filter(Q(clinic__memberships__user=user) | Q(user=user)).distinct()


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
        help_text="Exercise only after the medical team signs off (e.g. after a pelvic fracture).",
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


class WeightBearing(models.TextChoices):
    FULL = "full", "Full weight-bearing"
    AS_TOLERATED = "as_tolerated", "Weight-bearing as tolerated"
    PARTIAL = "partial", "Partial weight-bearing"
    TOUCH = "touch", "Touch-toe weight-bearing"
    NONE = "none", "Non-weight-bearing"
    NOT_STATED = "not_stated", "Not stated"


class ClearanceNoteQuerySet(models.QuerySet["ClearanceNote"]):
    def newest_first(self) -> ClearanceNoteQuerySet:
        # The note signed last supersedes; recording order breaks ties on the same day.
        return self.order_by("-signed_on", "-recorded_at", "-id")


class ClearanceNote(models.Model):
    """A medical team's sign-off, as recorded by the clinic. Never edited: a new note supersedes."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="clearance_notes")
    reason = models.CharField(
        max_length=300, help_text="Reason or diagnosis, e.g. pelvic fracture."
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
    restrictions = models.TextField(blank=True, help_text="Any other restriction, as written.")
    signed_by_name = models.CharField(max_length=200)
    signed_by_credentials = models.CharField(max_length=100, help_text="e.g. MD, orthopaedics.")
    signed_on = models.DateField()
    review_on = models.DateField(help_text="Review or expiry date: the clearance lapses after it.")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = ClearanceNoteQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["-signed_on", "-recorded_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(review_on__gte=models.F("signed_on")),
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
        ]
        indexes = [models.Index(fields=["patient", "-signed_on"])]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.signed_by_name} on {self.signed_on}"

    def clean(self) -> None:
        super().clean()
        if self.decision == Decision.RESTRICTED and not (
            self.max_stage
            or self.restrictions.strip()
            or self.weight_bearing not in (WeightBearing.FULL, WeightBearing.NOT_STATED)
        ):
            raise ValidationError(
                {"restrictions": "A clearance with restrictions must say what they are."}
            )
        if self.decision == Decision.NOT_CLEARED and self.max_stage:
            raise ValidationError(
                {"max_stage": "A note that does not clear the patient cannot allow a stage."}
            )

    # These read this note alone. A newer note supersedes it, so whether a patient may exercise
    # is decided by `patients.clearance.clearance_status`, which picks the note in effect first.
    def is_in_force(self, on: dt.date) -> bool:
        """Cleared (with or without restrictions), signed on or before `on`, review date not passed."""
        return (
            self.decision in (Decision.CLEARED, Decision.RESTRICTED)
            and self.signed_on <= on <= self.review_on
        )

    def allows_stage(self, stage_number: int) -> bool:
        return self.max_stage is None or stage_number <= self.max_stage

    def covers(self, stage_number: int, on: dt.date) -> bool:
        return self.is_in_force(on) and self.allows_stage(stage_number)


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
    LOGIN_DISABLED = "login_disabled", "Disabled the patient's login"
    LOGIN_ENABLED = "login_enabled", "Enabled the patient's login again"


class AccessEventQuerySet(models.QuerySet["AccessEvent"]):
    def newest_first(self) -> AccessEventQuerySet:
        return self.order_by("-at", "-id")


class AccessEvent(models.Model):
    """One read or export of patient data, or one change to a patient's login (disabled or enabled
    again): who, when, which clinic and patient, what.

    Written only by `patients.audit.record_access` and never changed afterwards; it has no
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
