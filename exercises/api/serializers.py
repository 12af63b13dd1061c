"""Input and output shapes of the patient API. Inputs validate types and ranges (from the model's
own validators) and reject unknown fields; every rule beyond that is the services' job."""

from __future__ import annotations

import re
from typing import Any

from django.db import models
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from exercises.adherence import Window, WindowStatus
from exercises.api.errors import Error, ErrorBody
from exercises.models import Prescription, SetLog, Stage, StageChange
from exercises.plan import PainWarning, SidePlan, pain_warning
from patients.models import Clinic, Side
from patients.thresholds import (
    EFFORT_MAX,
    MAX_LOG_AGE_DAYS,
    NOTE_MAX_LENGTH,
    PAIN_ALERT_RANGE,
    PAIN_CEILING_RANGE,
    PAIN_MAX,
    READY_REPS_RANGE,
    WINDOW_DAYS,
    Thresholds,
)

MAX_BATCH = 200
SIDE_STATUS_CHOICES = [("active", "active"), ("paused", "paused"), ("none", "none")]
BATCH_STATUS_CHOICES = [
    ("created", "created"),
    ("duplicate", "duplicate"),
    ("rejected", "rejected"),
]
BAND_CHOICES = [("under_2", "under_2"), ("2_15", "2_15"), ("16_30", "16_30")]
# The bands of the patient's pain key (`Thresholds.pain_key`, `Thresholds.pain_band`).
PAIN_BAND_CHOICES = [
    ("none", "none"),
    ("safe", "safe"),
    ("acceptable", "acceptable"),
    ("too_much", "too_much"),
]
# Today's window runs up to today, so it is never "cut" by the end of a report's period.
CURRENT_WINDOW_STATUS_CHOICES = [
    (status.value, status.value) for status in WindowStatus if status != WindowStatus.CUT
]


class StrictSerializer[I](serializers.Serializer[I]):
    """Rejects fields it does not know: a misspelt `efort` must not be silently dropped."""

    def to_internal_value(self, data: Any) -> Any:
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        errors: dict[str, Any] = {name: ["Unknown field."] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Report everything wrong at once, unknown fields beside the invalid ones.
            if isinstance(exc.detail, dict):
                errors = {**exc.detail, **errors}
            raise serializers.ValidationError(errors or exc.detail) from exc
        if errors:
            raise serializers.ValidationError(errors)
        return value


# Input fields take the JSON type the schema names and nothing DRF would coerce into it: a number
# is not a note, "15" or true is not a count of reps, 123 is not a client_id. Anything the
# schema calls invalid is refused (the schema fuzzing in tests/api checks exactly that).


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


UUID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)


class StrictUUIDField(serializers.UUIDField):
    """Only the hyphenated form (`format: uuid`); DRF also takes an integer, 32 bare hex digits or
    a `urn:uuid:` prefix."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or not UUID_RE.match(data):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class StrictModelSerializer[M: models.Model](StrictSerializer[M], serializers.ModelSerializer[M]):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.PositiveSmallIntegerField: StrictIntegerField,
        models.UUIDField: StrictUUIDField,
    }


# RFC 3339 (`format: date-time`), the offset left optional so that a time without one gets the
# service's helpful message (`exercises.services.set_log`) rather than a format error.
DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$", re.IGNORECASE
)


class AwareDateTimeField(serializers.DateTimeField):
    """A time as RFC 3339 writes it. The patient's clock must come with its UTC offset, which
    `set_log` checks (the one place for that rule): this field hands a time without one over
    as it is."""

    default_error_messages = {
        "rfc3339": "Give the time as in 2026-11-24T07:30:00+01:00 (RFC 3339).",
    }

    def to_internal_value(self, value: Any) -> Any:
        # DRF also reads "2026-11-24 07:30", without seconds or with a space: not what the schema
        # promises, and an app that sends it has a bug worth hearing about.
        if not isinstance(value, str) or not DATE_TIME_RE.match(value):
            self.fail("rfc3339")
        return super().to_internal_value(value)

    def enforce_timezone(self, value: Any) -> Any:
        # DRF would silently read a naive time as the server's zone (hours off for a patient in
        # another zone): left naive, the service refuses it.
        if timezone.is_naive(value):
            return value
        return super().enforce_timezone(value)


# -- sign-in ----------------------------------------------------------------------------------


class TokenRequestSerializer(StrictSerializer[None]):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False)


class TokenSerializer(serializers.Serializer[dict[str, Any]]):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")


# -- me and the plan --------------------------------------------------------------------------


class ClinicSerializer(serializers.Serializer[Clinic]):
    name = serializers.CharField()
    timezone = serializers.CharField(help_text="Days (adherence, 'this week') count in this zone.")


class TherapistSerializer(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField()


class MeSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    record_number = serializers.CharField()
    clinic = ClinicSerializer()
    therapist = TherapistSerializer(allow_null=True)


class StageSerializer(serializers.ModelSerializer[Stage]):
    intensity_band = serializers.CharField(help_text="Reiman 2012 band of the %MVIC.")

    class Meta:
        model = Stage
        fields = [
            "number",
            "name",
            "summary",
            "position",
            "movement",
            "cues",
            "bottom_hip_flexion_deg",
            "top_hip_flexion_deg",
            "gmed_mvic_percent",
            "intensity_band",
        ]


class PainKeyBandSerializer(serializers.Serializer[dict[str, Any]]):
    band = serializers.ChoiceField(
        choices=PAIN_BAND_CHOICES,
        help_text="`none` (0), `safe` (fine: counts towards readiness), `acceptable` (moderate: "
        "allowed, but the set does not count towards readiness), `too_much` (above "
        "`pain_alert_above`: stop, a warning is shown and the therapist alerted).",
    )
    lowest = serializers.IntegerField(
        min_value=0, max_value=PAIN_MAX, help_text="The lowest pain score (0-10) in this band."
    )
    highest = serializers.IntegerField(
        min_value=0, max_value=PAIN_MAX, help_text="The highest pain score (0-10) in this band."
    )
    scores = serializers.CharField(
        help_text="The scores as the patient reads them: one score (`0`), a span of scores "
        "(`1–2`) or a score and above (`9+`)."
    )
    words = serializers.CharField(help_text="What the band means, for the patient.")


def pain_key(thresholds: Thresholds) -> list[dict[str, Any]]:
    """The patient's pain key (`Thresholds.pain_key`, worded once for the page and the API), each
    band with its lowest and highest score as numbers, read from `Thresholds.pain_band` (the same
    rule) so the app can colour a 0-10 scale without parsing "1–3"."""
    scores: dict[str, list[int]] = {}
    for score in range(PAIN_MAX + 1):
        scores.setdefault(thresholds.pain_band(score), []).append(score)
    return [
        {
            "band": band,
            "lowest": min(scores[band]),
            "highest": max(scores[band]),
            "scores": shown,
            "words": words,
        }
        for band, shown, words in thresholds.pain_key
    ]


class PrescriptionSerializer(serializers.ModelSerializer[Prescription]):
    """A prescription with the thresholds in force for it: its own where the therapist set one,
    else the clinic's (`Prescription.thresholds`)."""

    stage = StageSerializer()
    progress_at_reps = serializers.IntegerField(
        source="effective_progress_at_reps",
        min_value=READY_REPS_RANGE[0],
        max_value=READY_REPS_RANGE[1],
        help_text="Reps in one set (with pain at most `pain_ceiling`) that make you ready for "
        "the next stage.",
    )
    pain_ceiling = serializers.IntegerField(
        source="effective_pain_ceiling",
        min_value=PAIN_CEILING_RANGE[0],
        max_value=PAIN_CEILING_RANGE[1],
        help_text="Highest pain (0-10) for a set to count towards readiness: the top of the "
        "`safe` band of the pain key.",
    )
    pain_alert_above = serializers.IntegerField(
        source="effective_pain_alert_above",
        min_value=PAIN_ALERT_RANGE[0],
        max_value=PAIN_ALERT_RANGE[1],
        help_text="A set with pain above this (0-10) is too much: logging it answers with a "
        "`warning` (stop for today), alerts your therapist, and takes back `ready_to_progress` "
        "until the next qualifying set. At least `pain_ceiling`.",
    )
    pain_key = serializers.SerializerMethodField(
        help_text="The pain key for this exercise, from 0 upwards: every score 0-10 is in exactly "
        "one band. A band that is empty with these thresholds is left out (e.g. no `acceptable` "
        "band when `pain_ceiling` equals `pain_alert_above`)."
    )

    class Meta:
        model = Prescription
        fields = [
            "id",
            "side",
            "stage",
            "target_sets",
            "target_reps",
            "hold_at_top_seconds",
            "sessions_per_week",
            "progress_at_reps",
            "pain_ceiling",
            "pain_alert_above",
            "pain_key",
            "started_at",
            "notes",
        ]
        extra_kwargs = {"notes": {"help_text": "Your therapist's instructions for this exercise."}}

    @extend_schema_field(PainKeyBandSerializer(many=True))
    def get_pain_key(self, prescription: Prescription) -> list[dict[str, Any]]:
        # With many=True it takes a list and gives a ReturnList: DRF's stubs know only one item.
        bands = pain_key(prescription.thresholds)
        return PainKeyBandSerializer(bands, many=True).data  # type: ignore[arg-type,return-value]  # above


class PlanSideSerializer(serializers.Serializer[SidePlan]):
    side = serializers.ChoiceField(choices=Side.choices)
    status = serializers.ChoiceField(
        choices=SIDE_STATUS_CHOICES,
        help_text="`paused`: medical clearance is not in force, logging is refused; `none`: "
        "no exercise on this side.",
    )
    status_reason = serializers.CharField(
        source="status_reason_for_patient",
        allow_null=True,
        help_text="Why the side is paused, for the patient; null when active.",
    )
    ready_to_progress = serializers.BooleanField(
        help_text="A set at this stage had at least `progress_at_reps` reps with pain at most "
        "`pain_ceiling`, and no set since had pain above `pain_alert_above`: a painful set takes "
        "readiness back until the next such set. Your therapist confirms the step."
    )
    ladder_complete = serializers.BooleanField(
        help_text="Ready at the top stage: the ladder is done (your therapist decides what next)."
    )
    next_stage_blocked = serializers.BooleanField(
        help_text="Ready, but the medical team's sign-off does not allow the next stage yet: "
        "the therapist will choose what comes next. Tell the patient so, not that they will "
        "move up."
    )
    prescription = PrescriptionSerializer(allow_null=True)


class PlanSerializer(serializers.Serializer[dict[str, Any]]):
    sides = PlanSideSerializer(many=True)


# -- sets -------------------------------------------------------------------------------------


class SetLogInputSerializer(StrictModelSerializer[SetLog]):
    prescription = StrictIntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The id of a prescription in your plan."
    )
    performed_at = AwareDateTimeField(
        help_text=f"When you did the set, with its UTC offset; up to {MAX_LOG_AGE_DAYS} days ago."
    )
    effort = StrictIntegerField(min_value=0, max_value=EFFORT_MAX, required=False, allow_null=True)
    note = StrictCharField(max_length=NOTE_MAX_LENGTH, required=False, allow_blank=True, default="")

    class Meta:
        model = SetLog
        fields = ["client_id", "prescription", "reps", "pain", "effort", "performed_at", "note"]
        extra_kwargs = {
            "client_id": {
                "help_text": "A UUID your app chooses for this set: the idempotency key. "
                "Send the same one when retrying."
            },
        }


class SetLogSerializer(serializers.ModelSerializer[SetLog]):
    prescription = serializers.IntegerField(source="prescription_id")
    stage = serializers.IntegerField(source="stage.number", help_text="Stage number at log time.")
    voided = serializers.BooleanField(source="is_voided")

    class Meta:
        model = SetLog
        fields = [
            "id",
            "client_id",
            "prescription",
            "side",
            "stage",
            "reps",
            "pain",
            "effort",
            "performed_at",
            "logged_at",
            "source",
            "note",
            "voided",
            "void_reason",
        ]


class PainWarningSerializer(serializers.Serializer[PainWarning]):
    """`exercises.plan.PainWarning`: the same words the "my exercises" page shows."""

    title = serializers.CharField(
        help_text='Show it as the heading, in place of a calm "saved" (e.g. "Stop this exercise '
        'for today").'
    )
    steps = serializers.ListField(
        child=serializers.CharField(), help_text="What to do, in order: show every step."
    )
    message = serializers.CharField(
        help_text="The title and the steps as one text (a notification, a screen reader)."
    )
    pain = serializers.IntegerField(
        min_value=0, max_value=PAIN_MAX, help_text="The pain of the set (0-10)."
    )
    pain_alert_above = serializers.IntegerField(
        source="threshold",
        min_value=PAIN_ALERT_RANGE[0],
        max_value=PAIN_ALERT_RANGE[1],
        help_text="The threshold in force for this exercise: pain above it is too much.",
    )
    clinic_name = serializers.CharField(help_text="Who to call.")
    clinic_phone = serializers.CharField(
        allow_null=True,
        help_text="The clinic's number, to offer a call button; null when the clinic has none "
        "recorded (the steps then say to contact the clinic).",
    )

    def to_representation(self, instance: PainWarning) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["clinic_phone"] = data["clinic_phone"] or None
        return data


class LoggedSetSerializer(SetLogSerializer):
    """The answer to logging a set (alone or in a batch): the stored set and, for a set above
    the pain alert threshold, the warning. The list of sets leaves the warning out."""

    warning = serializers.SerializerMethodField(
        help_text="Null when the set's pain is within `pain_alert_above`. Otherwise the warning "
        'to show the patient instead of "saved": the set is stored, and a replay (200) carries '
        "the same warning."
    )

    class Meta(SetLogSerializer.Meta):
        fields = [*SetLogSerializer.Meta.fields, "warning"]

    @extend_schema_field(PainWarningSerializer(allow_null=True))
    def get_warning(self, set_log: SetLog) -> dict[str, Any] | None:
        # The set's prescription and patient come loaded (views._logged): no query here.
        warning = pain_warning(set_log)
        return PainWarningSerializer(warning).data if warning is not None else None


class ErrorDetailSerializer(serializers.Serializer[Error]):
    code = serializers.CharField()
    message = serializers.CharField()
    # A declared field: DRF's metaclass takes it out of the class, leaving `Serializer.fields`.
    fields = serializers.DictField(  # type: ignore[assignment]  # above
        child=serializers.ListField(child=serializers.CharField())
    )


class ErrorSerializer(serializers.Serializer[ErrorBody]):
    error = ErrorDetailSerializer()


@extend_schema_field(
    {
        # Any item is accepted into the batch: each is validated on its own and a bad one is
        # reported in its result (200), so the schema must not call the whole request invalid.
        "anyOf": [{"$ref": "#/components/schemas/SetLogInputRequest"}, {}],
        "description": "A set, as the body of log_set. Each item is validated on its own: a bad "
        "one is rejected in its result and never blocks the others.",
    }
)
class BatchItemField(serializers.JSONField):
    def run_validation(self, data: Any = serializers.empty) -> Any:
        # Any item, null included, is taken into the batch as it came: the view validates each on
        # its own (SetLogInputSerializer), so a bad item is that item's rejection, not the batch's.
        return data


class BatchRequestSerializer(StrictSerializer[None]):
    """Up to 200 sets stored in one request (an offline backlog), each reported on its own.
    Unknown fields are rejected."""

    # It checks the envelope only (the docstring is the schema's description): the view
    # validates each item on its own.
    default_error_messages = {
        # Formatted by DRF (with the type it got), hence the doubled braces.
        "invalid": 'Send an object: {{"sets": [...]}}.',
    }

    sets = serializers.ListField(
        child=BatchItemField(),
        min_length=1,
        max_length=MAX_BATCH,
        error_messages={
            **dict.fromkeys(
                ("required", "null", "not_a_list"), "This field is required and must be a list."
            ),
            **dict.fromkeys(("min_length", "max_length"), f"Send between 1 and {MAX_BATCH} sets."),
        },
    )

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        # A body of `null` is not an object either: answered like a list or a number (by
        # `to_internal_value`), not with DRF's "No data provided".
        if data is None:
            return (False, data)
        return super().validate_empty_values(data)


class BatchResultSerializer(serializers.Serializer[dict[str, Any]]):
    index = serializers.IntegerField(help_text="Position of the item in the request.")
    client_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=BATCH_STATUS_CHOICES)
    http_status = serializers.IntegerField(
        help_text="What POST me/sets/ would have answered for this item: 201, 200, 400, 404, 409."
    )
    set = LoggedSetSerializer(
        allow_null=True,
        help_text="The stored set, as POST me/sets/ answers it (with its `warning`); null when "
        "rejected.",
    )
    error = ErrorDetailSerializer(allow_null=True)


class BatchResponseSerializer(serializers.Serializer[dict[str, Any]]):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    warnings = serializers.IntegerField(
        help_text="How many of the stored sets (created or duplicate) carry a pain `warning`: "
        'when not 0, show the warnings, not a calm "synced".'
    )
    results = BatchResultSerializer(many=True)


# -- progress ---------------------------------------------------------------------------------


class StageChangeSerializer(serializers.ModelSerializer[StageChange]):
    from_stage = serializers.IntegerField(source="from_stage.number", allow_null=True)
    to_stage = serializers.IntegerField(source="to_stage.number", allow_null=True)

    class Meta:
        model = StageChange
        fields = ["from_stage", "to_stage", "reason", "at"]


class ProgressSideSerializer(serializers.Serializer[dict[str, Any]]):
    side = serializers.ChoiceField(choices=Side.choices)
    stage = serializers.IntegerField(allow_null=True, help_text="Current stage, or null.")
    stage_name = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=SIDE_STATUS_CHOICES)
    best_reps_at_stage = serializers.IntegerField(allow_null=True)
    progress_at_reps = serializers.IntegerField(allow_null=True)
    ready_to_progress = serializers.BooleanField()
    ladder_complete = serializers.BooleanField()
    sessions_this_week = serializers.IntegerField()
    sessions_per_week_target = serializers.IntegerField(allow_null=True)
    history = StageChangeSerializer(many=True)


class MonitoringWindowSerializer(serializers.Serializer[Window]):
    """`exercises.adherence.Window`: one of the consecutive monitoring windows (`WINDOW_DAYS` days
    each) counted from the day your first exercise started."""

    number = serializers.IntegerField(
        min_value=1, help_text=f"1 for the first {WINDOW_DAYS} days, 2 for the next…"
    )
    first_day = serializers.DateField(
        source="first", help_text="Its first day (clinic's calendar)."
    )
    last_day = serializers.DateField(source="last", help_text=f"Its {WINDOW_DAYS}th day.")
    counted_until = serializers.DateField(
        source="until", help_text="The last day counted: today, or the day of discharge."
    )
    days_counted = serializers.IntegerField(
        source="length", min_value=1, help_text="Days of the window so far (30 once complete)."
    )
    data_days = serializers.IntegerField(
        min_value=0, help_text="Days of the window so far with at least one logged set."
    )
    adherence_band = serializers.ChoiceField(
        source="band",
        choices=BAND_CHOICES,
        help_text="US remote-therapeutic-monitoring band of those data days: <2, 2-15, 16-30.",
    )
    status = serializers.ChoiceField(
        choices=CURRENT_WINDOW_STATUS_CHOICES,
        help_text="`in_progress` (today is one of its days: data days so far), `complete` (today "
        "is its 30th day) or `discharged` (monitoring ended today, at discharge).",
    )


class ProgressSerializer(serializers.Serializer[dict[str, Any]]):
    data_days_last_30 = serializers.IntegerField(
        help_text=f"Days with at least one logged set in the rolling last {WINDOW_DAYS} days (your "
        "clinic's days). Kept for older apps; `current_window` is what the clinic monitors."
    )
    adherence_band = serializers.ChoiceField(
        choices=BAND_CHOICES,
        help_text="US remote-therapeutic-monitoring band of `data_days_last_30`: <2, 2-15, 16-30.",
    )
    current_window = MonitoringWindowSerializer(
        allow_null=True,
        help_text="Today's monitoring window; null before your first exercise starts (and after "
        "discharge, which ends monitoring).",
    )
    sides = ProgressSideSerializer(many=True)
