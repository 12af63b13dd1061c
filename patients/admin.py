"""The Django admin for clinics, care teams, patients and clearance notes.

The admin shows everything, but it does not get around the rules. Writes that have a service go
through it (a patient is created by `patient_create`, a clearance note by `clearance_note_record`),
the form shows the service's own error messages, a recorded clearance note is never edited or
deleted, and nothing is ever reverted from the audit history.

The helpers at the top (`ServiceForm`, `AuditedAdmin`, `NullDateFilter`) are shared with
`exercises/admin.py`, which imports this module (never the other way round: patients sits below
exercises). For the same reason the "Discharge" action, which stops prescriptions, is added to the
patient admin by `exercises/admin.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypedDict

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_stubs_ext import WithAnnotations

from patients.access_events import record_access
from patients.clearance import clearance_status
from patients.documents import document_type_of
from patients.models import (
    PRECAUTION_FIELDS,
    AccessAction,
    AccessEvent,
    ClearanceNote,
    Clinic,
    Membership,
    Patient,
)
from patients.services import (
    clearance_note_record,
    patient_create,
    patient_update,
    save_with_history,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    class SimpleHistoryAdmin[M: models.Model](admin.ModelAdmin[M]):
        """What we use of simple_history's admin, which ships no types: a ModelAdmin with a
        history page per object, whose old versions open in a form that could revert them."""

        def history_form_view(
            self,
            request: HttpRequest,
            object_id: str,
            version_id: str,
            extra_context: dict[str, Any] | None = None,
        ) -> HttpResponse: ...

        def revert_disabled(self, request: HttpRequest, obj: M | None = None) -> bool: ...
else:
    from simple_history.admin import SimpleHistoryAdmin

# -- shared helpers ------------------------------------------------------------------------------


def acting_user(request: HttpRequest) -> User:
    """The signed-in admin user: the services record them as the one who made the change."""
    user = request.user
    if not isinstance(user, AbstractUser):  # admin views only let active staff in
        raise PermissionDenied
    return user


def adopt(obj: models.Model, saved: models.Model) -> None:
    """Copy what a service saved onto the admin's unsaved form instance.

    The admin goes on to log, message and redirect with the object it built from the form, so it
    needs the primary key and the values the service set (times, who, copied stage).
    """
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


def add_service_errors(
    form: forms.BaseForm, error: ValidationError, rename: Mapping[str, str] | None = None
) -> None:
    """Put a service's ValidationError on the form: on its field when the form has one, else on top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        name = (rename or {}).get(field, field)
        form.add_error(name if name in form.fields else None, errors)


class _DryRun(Exception):
    """Raised inside a dry run so that its savepoint is always rolled back."""


def dry_run(
    form: forms.BaseForm, call: Callable[[], object], rename: Mapping[str, str] | None = None
) -> None:
    """Run a service call in a savepoint that is always rolled back, and put its errors on the form.

    The admin must refuse exactly what the service refuses, with the service's message, on the form
    (not as a crash after the form was accepted). Asking the service itself rather than copying its
    checks here means the admin and the service cannot drift apart. `save_model` makes the real call.
    """
    try:
        with transaction.atomic():
            call()
            raise _DryRun
    except _DryRun:
        pass
    except ValidationError as error:
        add_service_errors(form, error, rename)


class ServiceForm[M: models.Model](forms.ModelForm[M]):
    """A ModelForm whose object is written by a service, checked by a dry run of that service.

    First the model's own validation (field validators, `clean()`, constraints) runs as in any
    ModelForm; if that passes, `validate_with_service` dry-runs the service for the rules that read
    other rows (the clearance gate, one active prescription per side, a set's time window).
    """

    # The signed-in user, set by `AuditedAdmin.get_form`: services need to know who acts.
    by: ClassVar[User]

    def _post_clean(self) -> None:
        # ModelForm validates the model here (after `clean()`), so the dry run goes after it: a
        # form with a bad field never reaches the service, and no message is shown twice.
        super()._post_clean()  # type: ignore[misc]  # Django's hook, which django-stubs omits
        if not self.errors:
            self.validate_with_service()

    def validate_with_service(self) -> None:
        raise NotImplementedError


class AuditedAdmin[M: models.Model](SimpleHistoryAdmin[M]):
    """Admin for a model with an audit history: the history is one click away, and read-only.

    simple_history saves a POSTed old version straight through `save_model`, even when its Revert
    button is hidden. That would un-void a set, re-open an ended prescription, edit a recorded
    clearance note or un-discharge a patient past the services, so reverting is refused outright.

    Opening a patient's record here (the patient, a clearance note, a prescription, a stage change,
    a set) is a view of it like any other, recorded as an access event: the web server's log has
    no user, and behind a proxy not even the admin's address.
    """

    def patient_of(self, obj: models.Model) -> Patient | None:
        """The patient whose record `obj` is part of; None for a record of no one patient."""
        patient = getattr(obj, "patient", None)
        return patient if isinstance(patient, Patient) else None

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        # Only a GET that showed the record: a POST is a change (in the history) or the form shown
        # again with its errors; a missing object redirects and showed nothing.
        if request.method == "GET" and response.status_code == 200:
            obj: M | None = getattr(response, "context_data", {}).get("original")
            if obj is not None and (patient := self.patient_of(obj)) is not None:
                record_access(
                    user=request.user,
                    action=AccessAction.ADMIN_VIEW,
                    patient=patient,
                    detail=f"{obj._meta.verbose_name} #{obj.pk}",
                )
        return response

    def revert_disabled(self, request: HttpRequest, obj: M | None = None) -> bool:
        return True

    def history_form_view(
        self,
        request: HttpRequest,
        object_id: str,
        version_id: str,
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_form(
        self,
        request: HttpRequest,
        obj: M | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[M]]:
        form = super().get_form(request, obj, change=change, **kwargs)
        by = acting_user(request)
        if issubclass(form, ServiceForm):
            # modelform_factory builds a new class on every call: this never leaks between requests.
            form.by = by
        return form

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:
            # The form dry-ran the service, but another user may have written in between (e.g.
            # started the same side a moment earlier). The real call refused and the admin's
            # transaction rolled back: say why instead of failing with a server error.
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class NullDateFilter(admin.SimpleListFilter):
    """A two-way filter on whether a date is set: active/ended, active/discharged, voided or not."""

    field: ClassVar[str]
    # ((value, label) when the date is empty, (value, label) when it is set)
    options: ClassVar[tuple[tuple[str, str], tuple[str, str]]]

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> Iterable[tuple[str, str]]:
        return self.options

    def queryset(
        self, request: HttpRequest, queryset: models.QuerySet[Any]
    ) -> models.QuerySet[Any]:
        (empty, _), (set_, _) = self.options
        if self.value() == empty:
            return queryset.filter(**{f"{self.field}__isnull": True})
        if self.value() == set_:
            return queryset.filter(**{f"{self.field}__isnull": False})
        return queryset


# Search and columns that every patient-related changelist shares.
PATIENT_SEARCH_FIELDS = ("patient__first_name", "patient__last_name", "patient__record_number")


class OfAPatient(Protocol):
    """A record that belongs to one patient: a clearance note, a prescription, a set…"""

    @property
    def patient(self) -> Patient: ...


class PatientColumns:
    """Patient name, record number and clinic as changelist columns, for models with a `patient`.

    The admin using it must select `patient__clinic` in its queryset, or each row costs queries.
    """

    @admin.display(description="patient", ordering="patient__last_name")
    def patient_name(self, obj: OfAPatient) -> str:
        return obj.patient.full_name

    @admin.display(description="record number", ordering="patient__record_number")
    def record_number(self, obj: OfAPatient) -> str:
        return obj.patient.record_number

    @admin.display(description="clinic", ordering="patient__clinic__name")
    def clinic(self, obj: OfAPatient) -> str:
        return obj.patient.clinic.name


# -- clinics and care teams ----------------------------------------------------------------------


class MembershipInline(admin.TabularInline[Membership, Clinic]):
    model = Membership
    extra = 1
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Membership]:
        return super().get_queryset(request).select_related("user")


class _PatientCount(TypedDict):
    _patient_count: int


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin[Clinic]):
    list_display = (
        "name",
        "slug",
        "timezone",
        "progress_at_reps",
        "pain_ceiling",
        "pain_alert_above",
        "patient_count",
    )
    fieldsets = (
        (None, {"fields": ("name", "slug", "timezone", "phone")}),
        (
            "Thresholds (patients/thresholds.py has the defaults and their sources)",
            {
                "fields": (
                    "progress_at_reps",
                    "pain_ceiling",
                    "pain_alert_above",
                    "pain_lookback_days",
                    "silent_days",
                    "review_soon_days",
                )
            },
        ),
    )
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = (MembershipInline,)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Clinic]:
        return super().get_queryset(request).annotate(_patient_count=models.Count("patients"))

    @admin.display(description="patients", ordering="_patient_count")
    def patient_count(self, obj: WithAnnotations[Clinic, _PatientCount]) -> int:
        return obj._patient_count


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin[Membership]):
    list_display = ("user", "clinic", "role", "created_at")
    list_filter = ("clinic", "role")
    search_fields = (
        "user__username",
        "user__first_name",
        "user__last_name",
        "user__email",
        "clinic__name",
    )
    list_select_related = ("user", "clinic")
    autocomplete_fields = ("user",)


class ReadOnlyRecords:
    """An admin for records that only the services (or the audit trail) write: listed and shown,
    never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


class ReadOnlyInline[M: models.Model, P: models.Model](admin.TabularInline[M, P]):
    """An inline of rows written elsewhere (by a service, through their own pages): shown only."""

    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: P | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: P | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: P | None = None) -> bool:
        return False


# -- patients ------------------------------------------------------------------------------------


class PatientForm(forms.ModelForm[Patient]):
    class Meta:
        model = Patient
        fields = (
            "clinic",
            "record_number",
            "first_name",
            "last_name",
            "date_of_birth",
            "affected_side",
            "primary_therapist",
            "user",
            "requires_clearance",
            "clearance_reason",
        )


class ActivePatientFilter(NullDateFilter):
    title = "status"
    parameter_name = "status"
    field = "discharged_at"
    options = (("active", "Active"), ("discharged", "Discharged"))


class ClearanceNoteInline(ReadOnlyInline[ClearanceNote, Patient]):
    """The patient's clearance notes, newest first; each opens on its own (read-only) page. A note
    is recorded through the clearance note admin, by the service."""

    model = ClearanceNote
    fields = ("decision", "max_stage", "signed_by_name", "signed_on", "review_on", "recorded_by")
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[ClearanceNote]:
        return super().get_queryset(request).select_related("recorded_by")


@admin.register(Patient)
class PatientAdmin(AuditedAdmin[Patient]):
    form = PatientForm
    list_display = (
        "full_name",
        "record_number",
        "clinic",
        "affected_side",
        "primary_therapist",
        "clearance",
        "is_active",
    )
    list_filter = ("clinic", "affected_side", "requires_clearance", ActivePatientFilter)
    search_fields = ("first_name", "last_name", "record_number")
    autocomplete_fields = ("primary_therapist", "user")
    # exercises/admin.py adds the current prescriptions.
    inlines: ClassVar[tuple[type[admin.TabularInline[Any, Patient]], ...]] = (ClearanceNoteInline,)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Patient]:
        # The clinic gives each row its "today"; the notes give its clearance column.
        return (
            super()
            .get_queryset(request)
            .select_related("clinic", "primary_therapist")
            .prefetch_related("clearance_notes")
        )

    def get_fieldsets(self, request: HttpRequest, obj: Patient | None = None) -> Any:
        clearance = ["requires_clearance", "clearance_reason"]
        care_team = ["primary_therapist"]
        if obj is not None:
            clearance.append("clearance_summary")
            # `patient_create` takes no login: a login is given to an existing patient.
            care_team.append("user")
        fieldsets: list[tuple[str | None, dict[str, Any]]] = [
            (
                None,
                {
                    "fields": [
                        "clinic",
                        "record_number",
                        "first_name",
                        "last_name",
                        "date_of_birth",
                        "affected_side",
                    ]
                },
            ),
            ("Care team", {"fields": care_team}),
            ("Medical clearance", {"fields": clearance}),
        ]
        if obj is not None:
            fieldsets.append(("Status", {"fields": ["discharged_at", "created_at"]}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Patient | None = None) -> Any:
        if obj is None:
            return ()
        # Discharge is an action (it stops the prescriptions too), never a typed-in date; the clinic
        # is fixed, since moving a patient would move their whole clinical record with them.
        fields = ["clinic", "clearance_summary", "discharged_at", "created_at"]
        if obj.requires_clearance:
            # A clinical decision: only a clearance note ("no further clearance needed") ends it.
            fields += ["requires_clearance", "clearance_reason"]
        return fields

    def get_inlines(self, request: HttpRequest, obj: Patient | None = None) -> Any:
        return self.inlines if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Patient | None = None) -> bool:
        return False  # a patient's record is kept: discharge instead

    def patient_of(self, obj: models.Model) -> Patient | None:
        return obj if isinstance(obj, Patient) else None

    @admin.display(description="name", ordering="last_name")
    def full_name(self, obj: Patient) -> str:
        return obj.full_name

    @admin.display(description="active", boolean=True, ordering="discharged_at")
    def is_active(self, obj: Patient) -> bool:
        return obj.is_active

    @admin.display(description="clearance")
    def clearance(self, obj: Patient) -> str:
        status = clearance_status(
            obj, obj.clinic.local_date(timezone.now()), obj.clearance_notes.all()
        )
        return status.state.value.replace("_", " ").capitalize()

    @admin.display(description="clearance today")
    def clearance_summary(self, obj: Patient) -> str:
        summary = clearance_status(obj, obj.clinic.local_date(timezone.now())).summary
        if not obj.requires_clearance:
            return summary
        url = reverse("admin:patients_clearancenote_add") + f"?patient={obj.pk}"
        return format_html(
            '{} Only a clearance note ends the requirement: <a href="{}">record one</a> with the '
            "decision “No further clearance needed”.",
            summary,
            url,
        )

    def save_model(
        self, request: HttpRequest, obj: Patient, form: forms.Form, change: bool
    ) -> None:
        if change:
            data = form.cleaned_data
            # Read-only fields are not in the form: the stored value stands (and the service
            # refuses ending a requirement in any case).
            patient_update(
                patient=obj,
                record_number=data["record_number"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                date_of_birth=data["date_of_birth"],
                affected_side=data["affected_side"],
                primary_therapist=data["primary_therapist"],
                requires_clearance=data.get("requires_clearance", obj.requires_clearance),
                clearance_reason=data.get("clearance_reason", obj.clearance_reason),
                by=acting_user(request),
            )
            if "user" in form.changed_data:
                # Linking an existing account is an admin's repair; the service creates new ones.
                save_with_history(obj, acting_user(request), update_fields=["user"])
            return
        data = form.cleaned_data
        created = patient_create(
            clinic=data["clinic"],
            record_number=data["record_number"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            date_of_birth=data["date_of_birth"],
            affected_side=data["affected_side"],
            primary_therapist=data["primary_therapist"],
            requires_clearance=data["requires_clearance"],
            clearance_reason=data["clearance_reason"],
            by=acting_user(request),
        )
        adopt(obj, created)


# -- clearance notes -----------------------------------------------------------------------------


# What a clearance note records, as `clearance_note_record` takes it (recorded_by is the admin);
# the precautions are the note's boolean fields, passed to the service as a list.
NOTE_FIELDS = (
    "patient",
    "reason",
    "procedure_on",
    "decision",
    "weight_bearing",
    "max_stage",
    *PRECAUTION_FIELDS,
    "operated_side",
    "restrictions",
    "signed_by_name",
    "signed_by_credentials",
    "signed_on",
    "review_on",
    "document",
)


class ClearanceNoteForm(ServiceForm[ClearanceNote]):
    class Meta:
        model = ClearanceNote
        fields = NOTE_FIELDS

    def record(self, *, with_document: bool = True) -> ClearanceNote:
        data = {
            name: self.cleaned_data[name]
            for name in NOTE_FIELDS
            if name not in PRECAUTION_FIELDS and name != "document"
        }
        # A fresh copy each call: the service updates the patient it is given (ending or setting
        # the requirement), and the dry run's rollback does not undo that in memory.
        data["patient"] = Patient.objects.select_related("clinic").get(pk=data["patient"].pk)
        return clearance_note_record(
            **data,
            precautions=[name for name in PRECAUTION_FIELDS if self.cleaned_data[name]],
            document=(self.cleaned_data.get("document") or None) if with_document else None,
            recorded_by=self.by,
        )

    def validate_with_service(self) -> None:
        # Beyond the model's own checks: dates, ending a requirement, the scan's content. The dry
        # run leaves the file out (it would be written to storage and outlive the rollback); its
        # content is checked here instead.
        dry_run(self, lambda: self.record(with_document=False))
        upload = self.cleaned_data.get("document")
        if upload:
            try:
                document_type_of(upload)
            except ValidationError as error:
                self.add_error("document", error)


@admin.register(ClearanceNote)
class ClearanceNoteAdmin(PatientColumns, AuditedAdmin[ClearanceNote]):
    form = ClearanceNoteForm
    list_display = (
        "patient_name",
        "record_number",
        "clinic",
        "decision",
        "max_stage",
        "weight_bearing",
        "signed_by_name",
        "signed_on",
        "review_on",
        "recorded_by",
    )
    list_filter = ("patient__clinic", "decision", "weight_bearing")
    search_fields = (*PATIENT_SEARCH_FIELDS, "signed_by_name")
    autocomplete_fields = ("patient",)
    readonly_fields = ("recorded_by", "recorded_at", "scanned_copy", "scanned_copy_elsewhere")

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[ClearanceNote]:
        return super().get_queryset(request).select_related("patient__clinic", "recorded_by")

    def get_fields(self, request: HttpRequest, obj: ClearanceNote | None = None) -> Any:
        if obj is None:
            return NOTE_FIELDS
        # The file's place in the private storage has no URL of its own: the scan opens through
        # the patient page's view, which checks who asks and records the opening.
        # It opens only for the patient's care team: anyone else sees that there is one, and why
        # no link (rather than a link that answers "not found").
        shown = tuple(name for name in NOTE_FIELDS if name != "document")
        in_team = Membership.objects.filter(
            user=acting_user(request), clinic=obj.patient.clinic
        ).exists()
        scan = "scanned_copy" if in_team else "scanned_copy_elsewhere"
        return (*shown, scan, "recorded_by", "recorded_at")

    @admin.display(description="scanned copy")
    def scanned_copy(self, obj: ClearanceNote) -> str:
        if not obj.document:
            return "—"
        url = reverse("patient-clearance-document", args=[obj.patient_id, obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.document_name or "Open the scan")

    @admin.display(description="scanned copy")
    def scanned_copy_elsewhere(self, obj: ClearanceNote) -> str:
        if not obj.document:
            return "—"
        return (
            f"{obj.document_name or 'A scan'} is attached. It opens only for {obj.patient.clinic}'s "
            f"care team, from the patient's page."
        )

    def has_change_permission(self, request: HttpRequest, obj: ClearanceNote | None = None) -> bool:
        return False  # a recorded note is never edited: a new note supersedes it

    def has_delete_permission(self, request: HttpRequest, obj: ClearanceNote | None = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: ClearanceNote, form: ClearanceNoteForm, change: bool
    ) -> None:
        if change:  # unreachable: the change view refuses a POST without change permission
            raise PermissionDenied
        adopt(obj, form.record())


# -- the audit trail: views and exports ----------------------------------------------------------


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyRecords, admin.ModelAdmin[AccessEvent]):
    """Who viewed or exported what: read-only, even for a superuser.

    The rows are written only by `patients.access_events.record_access`; an audit trail that its readers
    could edit or prune would prove nothing. (The change history rows of simple-history are not
    registered here at all: they are read through each record's "History" page, where reverting
    is refused by `AuditedAdmin`.)
    """

    list_display = ("at", "username", "action", "patient", "clinic", "detail")
    list_filter = ("clinic", "action")
    search_fields = ("username", "patient__last_name", "patient__record_number", "detail")
    list_select_related = ("patient", "clinic")
    date_hierarchy = "at"
