"""The Django admin for the ladder, prescriptions, stage changes and set logs.

Stages and ladders are content (data) and are edited here like any content. Everything clinical goes
through `exercises/services.py`, exactly as the therapist's screens do:

- a prescription is started by `prescription_start` and is then read-only: it changes only through
  the "Advance", "Regress" and "Stop" actions, which call the matching services;
- a set is logged by `set_log` (source "clinic") and is then read-only except for voiding it, with a
  reason, through `set_void`; sets are never deleted;
- stage changes are written only by the services, so they are read-only;
- a patient is discharged through `patient_discharge` (an action added to the patient admin here,
  because it stops prescriptions and `patients` must not import `exercises`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypedDict, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import HttpRequest
from django.utils import timezone
from django_stubs_ext import WithAnnotations

from exercises.models import (
    DOSE_FIELDS,
    Ladder,
    PainReview,
    Prescription,
    PrescriptionQuerySet,
    SetLog,
    Source,
    Stage,
    StageChange,
)
from exercises.services import (
    SetLogRequest,
    patient_discharge,
    pause_reason,
    prescription_advance,
    prescription_regress,
    prescription_start,
    prescription_stop,
    set_log,
    set_void,
)
from patients import admin as patients_admin
from patients.admin import (
    PATIENT_SEARCH_FIELDS,
    AuditedAdmin,
    NullDateFilter,
    PatientColumns,
    ReadOnlyInline,
    ReadOnlyRecords,
    ServiceForm,
    acting_user,
    adopt,
    dry_run,
)
from patients.models import Patient

# -- the ladder ----------------------------------------------------------------------------------


class StageForm(forms.ModelForm[Stage]):
    class Meta:
        model = Stage
        fields = (
            "ladder",
            "number",
            "name",
            "summary",
            "position",
            "movement",
            "cues",
            "bottom_hip_flexion_deg",
            "top_hip_flexion_deg",
            "top_hip_rotation",
            "top_leg_lifted",
            "abducts_against_gravity",
            "lies_on_other_side",
            "gmed_mvic_percent",
            "mvic_note",
            "source",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            # Prescriptions, stage changes and set logs point at this rung, and "next stage" is
            # found by number: renumbering it (or moving it to another ladder) would rewrite
            # every patient's history ("1 → 2") and the order of the ladder.
            for name in ("ladder", "number"):
                if name in self.fields:
                    self.fields[name].disabled = True


class StageInline(admin.StackedInline[Stage, Ladder]):
    model = Stage
    form = StageForm
    extra = 0


class _StageCount(TypedDict):
    _stage_count: int


@admin.register(Ladder)
class LadderAdmin(admin.ModelAdmin[Ladder]):
    list_display = ("name", "slug", "stage_count")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = (StageInline,)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Ladder]:
        return super().get_queryset(request).annotate(_stage_count=models.Count("stages"))

    @admin.display(description="stages", ordering="_stage_count")
    def stage_count(self, obj: WithAnnotations[Ladder, _StageCount]) -> int:
        return obj._stage_count


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin[Stage]):
    form = StageForm
    list_display = (
        "number",
        "name",
        "ladder",
        "gmed_mvic_percent",
        "intensity",
        "bottom_hip_flexion_deg",
        "top_hip_flexion_deg",
    )
    list_display_links = ("number", "name")
    list_filter = ("ladder",)
    search_fields = ("name", "summary")
    list_select_related = ("ladder",)

    @admin.display(description="intensity (Reiman 2012)")
    def intensity(self, obj: Stage) -> str:
        return obj.intensity_band.label


# -- prescriptions -------------------------------------------------------------------------------


class PrescriptionStartForm(ServiceForm[Prescription]):
    """Start a side on a stage: the fields `prescription_start` takes, checked by a dry run of it."""

    class Meta:
        model = Prescription
        fields = ("patient", "side", "stage", *DOSE_FIELDS, "notes")

    def start(self) -> Prescription:
        data = self.cleaned_data
        return prescription_start(
            patient=data["patient"],
            side=data["side"],
            stage=data["stage"],
            by=self.by,
            notes=data["notes"],
            **{name: data[name] for name in DOSE_FIELDS},
        )

    def validate_with_service(self) -> None:
        # The clearance gate, one active prescription per side, a discharged patient.
        dry_run(self, self.start)


class PrescriptionStatusFilter(NullDateFilter):
    title = "status"
    parameter_name = "status"
    field = "ended_at"
    options = (("active", "Active"), ("ended", "Ended"))


class StageChangeInline(ReadOnlyInline[StageChange, Prescription]):
    """The change that started this prescription (and the stop that ended it, if any)."""

    model = StageChange
    fields = ("reason", "from_stage", "to_stage", "by", "at", "note")
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[StageChange]:
        return super().get_queryset(request).select_related("from_stage", "to_stage", "by")


@admin.register(Prescription)
class PrescriptionAdmin(PatientColumns, AuditedAdmin[Prescription]):
    form = PrescriptionStartForm
    list_display = (
        "patient_name",
        "record_number",
        "clinic",
        "side",
        "stage_number",
        "dose",
        "started_at",
        "ended_at",
        "is_active",
        "is_paused",
    )
    list_filter = ("patient__clinic", "side", "stage", PrescriptionStatusFilter, "auto_advance")
    search_fields = PATIENT_SEARCH_FIELDS
    autocomplete_fields = ("patient",)
    actions = ("advance", "regress", "stop")
    inlines = (StageChangeInline,)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Prescription]:
        # `__str__` reads the patient and the stage; "paused" reads the clinic's day and the notes.
        return (
            super()
            .get_queryset(request)
            .select_related("patient__clinic", "stage", "prescribed_by")
            .prefetch_related("patient__clearance_notes")
        )

    def get_fieldsets(self, request: HttpRequest, obj: Prescription | None = None) -> Any:
        if obj is None:
            return [
                (None, {"fields": ["patient", "side", "stage"]}),
                ("Dose", {"fields": list(DOSE_FIELDS)}),
                (None, {"fields": ["notes"]}),
            ]
        return [
            (None, {"fields": ["patient", "side", "stage", "pause"]}),
            ("Dose", {"fields": list(DOSE_FIELDS)}),
            (None, {"fields": ["started_at", "ended_at", "prescribed_by", "notes"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Prescription | None = None) -> Any:
        return () if obj is None else ("pause",)

    def get_inlines(self, request: HttpRequest, obj: Prescription | None = None) -> Any:
        return self.inlines if obj is not None else ()

    def has_change_permission(self, request: HttpRequest, obj: Prescription | None = None) -> bool:
        # Without an object this is the permission to run the actions; a prescription itself is
        # never edited (changing the stage ends it and starts the next).
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Prescription | None = None) -> bool:
        return False

    @admin.display(description="stage", ordering="stage__number")
    def stage_number(self, obj: Prescription) -> int:
        return obj.stage.number

    @admin.display(description="sets × reps")
    def dose(self, obj: Prescription) -> str:
        return f"{obj.target_sets} × {obj.target_reps}"

    @admin.display(description="active", boolean=True, ordering="ended_at")
    def is_active(self, obj: Prescription) -> bool:
        return obj.is_active

    def _pause_reason(self, obj: Prescription) -> str | None:
        if not obj.is_active:
            return None
        patient = obj.patient
        # Fed the prefetched notes, the rule costs no query per row.
        return pause_reason(
            obj, patient.clinic.local_date(timezone.now()), patient.clearance_notes.all()
        )

    @admin.display(description="paused (clearance)", boolean=True)
    def is_paused(self, obj: Prescription) -> bool:
        return self._pause_reason(obj) is not None

    @admin.display(description="paused")
    def pause(self, obj: Prescription) -> str:
        if not obj.is_active:
            return "Ended."
        return self._pause_reason(obj) or "Not paused: clearance allows this stage."

    def save_model(
        self, request: HttpRequest, obj: Prescription, form: PrescriptionStartForm, change: bool
    ) -> None:
        if change:  # unreachable: the change view refuses a POST without change permission
            raise PermissionDenied
        adopt(obj, form.start())

    def _act(
        self,
        request: HttpRequest,
        queryset: models.QuerySet[Prescription],
        service: Callable[..., Prescription],
        done: str,
    ) -> None:
        """Run one service per selected prescription; report each success or refusal by itself."""
        by = acting_user(request)
        for prescription in queryset:
            label = (
                f"{prescription.patient.full_name}, {prescription.get_side_display().lower()} "
                f"side (stage {prescription.stage.number})"
            )
            try:
                result = service(prescription=prescription, by=by)
            except ValidationError as error:
                self.message_user(request, f"{label}: {' '.join(error.messages)}", messages.ERROR)
            else:
                self.message_user(
                    request, f"{label}: {done.format(stage=result.stage.number)}", messages.SUCCESS
                )

    @admin.action(description="Advance one stage", permissions=("change",))
    def advance(self, request: HttpRequest, queryset: models.QuerySet[Prescription]) -> None:
        self._act(request, queryset, prescription_advance, "advanced to stage {stage}.")

    @admin.action(description="Regress one stage", permissions=("change",))
    def regress(self, request: HttpRequest, queryset: models.QuerySet[Prescription]) -> None:
        self._act(request, queryset, prescription_regress, "regressed to stage {stage}.")

    @admin.action(description="Stop", permissions=("change",))
    def stop(self, request: HttpRequest, queryset: models.QuerySet[Prescription]) -> None:
        self._act(request, queryset, prescription_stop, "stopped.")


# -- stage changes -------------------------------------------------------------------------------


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyRecords, PatientColumns, AuditedAdmin[StageChange]):
    """Written only by the prescription services: read-only here."""

    list_display = (
        "at",
        "patient_name",
        "record_number",
        "clinic",
        "side",
        "from_number",
        "to_number",
        "reason",
        "by",
    )
    list_filter = ("patient__clinic", "side", "reason", "to_stage")
    search_fields = PATIENT_SEARCH_FIELDS

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[StageChange]:
        return (
            super()
            .get_queryset(request)
            .select_related("patient__clinic", "from_stage", "to_stage", "by", "prescription")
        )

    @admin.display(description="from stage", ordering="from_stage__number")
    def from_number(self, obj: StageChange) -> int | None:
        return obj.from_stage.number if obj.from_stage else None

    @admin.display(description="to stage", ordering="to_stage__number")
    def to_number(self, obj: StageChange) -> int | None:
        return obj.to_stage.number if obj.to_stage else None


# -- set logs ------------------------------------------------------------------------------------


class SetLogForm(ServiceForm[SetLog]):
    """Log a set in clinic, on the patient's behalf, checked by a dry run of `set_log`."""

    class Meta:
        model = SetLog
        fields = ("prescription", "reps", "pain", "effort", "performed_at", "note")

    def log(self) -> SetLog:
        return set_log(
            SetLogRequest.from_input(
                # A fresh idempotency key per save: each admin submission is a new set.
                {**self.cleaned_data, "client_id": uuid.uuid4()},
                patient=self.cleaned_data["prescription"].patient,
                by=self.by,
                source=Source.CLINIC,
            )
        ).set_log

    def validate_with_service(self) -> None:
        # The time window, an ended prescription, a prescription paused for clearance.
        dry_run(self, self.log)


class SetVoidForm(ServiceForm[SetLog]):
    """The only change a set allows: voiding it, with a reason, through `set_void`."""

    class Meta:
        model = SetLog
        fields = ("void_reason",)
        help_texts = {
            "void_reason": "To void this set, say why and save. A voided set stays stored (and "
            "in its history) but no longer counts towards readiness or adherence."
        }

    def void(self) -> SetLog:
        return set_void(set_log=self.instance, by=self.by, reason=self.cleaned_data["void_reason"])

    def validate_with_service(self) -> None:
        dry_run(self, self.void, rename={"reason": "void_reason"})


class VoidedFilter(NullDateFilter):
    title = "voided"
    parameter_name = "voided"
    field = "voided_at"
    options = (("no", "No"), ("yes", "Yes"))


SET_FIELDSETS = [
    (None, {"fields": ["patient", "prescription", "stage", "side"]}),
    ("Set", {"fields": ["reps", "pain", "effort", "performed_at", "note"]}),
    ("Logged", {"fields": ["logged_at", "source", "client_id", "logged_by"]}),
    ("Void", {"fields": ["voided_at", "voided_by", "void_reason"]}),
]


@admin.register(SetLog)
class SetLogAdmin(PatientColumns, AuditedAdmin[SetLog]):
    list_display = (
        "performed_at",
        "patient_name",
        "record_number",
        "clinic",
        "side",
        "stage_number",
        "reps",
        "pain",
        "effort",
        "source",
        "is_voided",
    )
    list_filter = ("patient__clinic", "side", "stage", "source", VoidedFilter)
    search_fields = PATIENT_SEARCH_FIELDS
    autocomplete_fields = ("prescription",)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[SetLog]:
        return super().get_queryset(request).select_related("patient__clinic", "stage")

    def get_form(
        self, request: HttpRequest, obj: SetLog | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[SetLog]]:
        kwargs["form"] = SetLogForm if obj is None else SetVoidForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: SetLog | None = None) -> Any:
        if obj is None:
            return [(None, {"fields": list(SetLogForm.Meta.fields)})]
        return SET_FIELDSETS

    def get_readonly_fields(self, request: HttpRequest, obj: SetLog | None = None) -> Any:
        if obj is None:
            return ()
        every = [name for _, options in SET_FIELDSETS for name in options["fields"]]
        return [name for name in every if name != "void_reason"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"performed_at": timezone.now(), **super().get_changeform_initial_data(request)}

    def has_change_permission(self, request: HttpRequest, obj: SetLog | None = None) -> bool:
        # A voided set is final; an unvoided one may only be voided (see SetVoidForm).
        if obj is not None and obj.is_voided:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: SetLog | None = None) -> bool:
        return False  # sets are never hard-deleted: void them

    @admin.display(description="stage", ordering="stage__number")
    def stage_number(self, obj: SetLog) -> int:
        return obj.stage.number

    @admin.display(description="voided", boolean=True, ordering="voided_at")
    def is_voided(self, obj: SetLog) -> bool:
        return obj.is_voided

    def save_model(
        self, request: HttpRequest, obj: SetLog, form: SetLogForm | SetVoidForm, change: bool
    ) -> None:
        saved = form.void() if isinstance(form, SetVoidForm) else form.log()
        adopt(obj, saved)


# -- pain reviews -------------------------------------------------------------------------------


@admin.register(PainReview)
class PainReviewAdmin(ReadOnlyRecords, PatientColumns, AuditedAdmin[PainReview]):
    """Reviews are recorded on the patient page, by `pain_review_record` (which may regress the
    side as part of the review): read-only here, never added, changed or deleted."""

    list_display = (
        "at",
        "patient_name",
        "record_number",
        "clinic",
        "side",
        "outcome",
        "highest_pain",
        "painful_sets",
        "by",
    )
    list_filter = ("patient__clinic", "side", "outcome")
    search_fields = PATIENT_SEARCH_FIELDS

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[PainReview]:
        return super().get_queryset(request).select_related("patient__clinic", "by")


# -- patients: discharge -------------------------------------------------------------------------


class CurrentPrescriptionInline(ReadOnlyInline[Prescription, Patient]):
    """The patient's active prescriptions; each opens on its own page with the actions."""

    model = Prescription
    verbose_name_plural = "current prescriptions"
    fields = ("side", "stage", "target_sets", "target_reps", "sessions_per_week", "started_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Prescription]:
        # The admin's queryset comes from the model's default manager, a PrescriptionQuerySet.
        queryset = cast(PrescriptionQuerySet[Prescription], super().get_queryset(request))
        return queryset.active().select_related("stage")


admin.site.unregister(Patient)


@admin.register(Patient)
class PatientAdmin(patients_admin.PatientAdmin):
    """The patient admin, plus what needs exercises: the current plan and discharge."""

    actions = ("discharge",)
    inlines = (*patients_admin.PatientAdmin.inlines, CurrentPrescriptionInline)

    @admin.action(
        description="Discharge (stops every active prescription)", permissions=("change",)
    )
    def discharge(self, request: HttpRequest, queryset: models.QuerySet[Patient]) -> None:
        by = acting_user(request)
        for patient in queryset:
            try:
                patient_discharge(patient=patient, by=by)
            except ValidationError as error:
                self.message_user(
                    request, f"{patient.full_name}: {' '.join(error.messages)}", messages.ERROR
                )
            else:
                self.message_user(request, f"{patient.full_name}: discharged.", messages.SUCCESS)
