"""The patient page for the care team, the patient's history, and a clearance note's scanned copy.

Roles at the door: `staff_patient_for_user` gives everyone outside the patient's clinic (another
clinic's therapist, the patient themselves, a user without a role) the same 404 as a patient that
does not exist. Staff read the page and the history; their POSTs get 403 (`actions.py`).

What the page shows is its read model, `clinic/patient_page/page.py`. Dates and times are shown in
the clinic's time zone (`timezone.override` around each view).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinic.audit.history import SHOW, history_context
from clinic.http import AuthenticatedRequest
from clinic.patient_page.forms import VoidSetForm
from clinic.patient_page.page import Bound, logs_context, page_context
from patients.access import can_change_clinical, staff_patient_for_user
from patients.access_events import record_access, recorded
from patients.models import AccessAction, ClearanceNote, Patient

HISTORY_PER_PAGE = 50


def page_response(
    request: AuthenticatedRequest,
    patient: Patient,
    *,
    bound: Bound | None = None,
    void: tuple[int, VoidSetForm] | None = None,
) -> HttpResponse:
    """The whole page; `bound` holds a refused form (by its prefix) to show with its errors."""
    context = page_context(request, patient, bound=bound, void=void)
    return render(request, "clinic/patient_page/patient_detail.html", context)


@require_GET
@login_required
def patient_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    patient = staff_patient_for_user(request.user, pk)
    with timezone.override(patient.clinic.tzinfo):
        if request.htmx and request.htmx.target == "logs":
            # Paging through the logs swaps only that section. It shows sets (reps, pain, notes)
            # of any page asked for, and the headers can be sent without loading the page first,
            # so it is a view of the record like the full page (docs/audit.md).
            logs = logs_context(request, patient, can_change_clinical(request.user, patient))
            return recorded(
                render(request, "clinic/patient_page/patient_detail.html#logs", logs),
                user=request.user,
                action=AccessAction.PATIENT_PAGE,
                patient=patient,
                # The page shown (the paginator turns a bad `?page=` into a real one), never
                # what was typed; its count was already run by the paginator.
                detail=f"sets, page {logs['logs'].number} of {logs['logs'].paginator.num_pages}",
            )
        # A full page load is a view of the record (docs/audit.md).
        return recorded(
            page_response(request, patient),
            user=request.user,
            action=AccessAction.PATIENT_PAGE,
            patient=patient,
        )


@require_GET
@login_required
def patient_history(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    patient = staff_patient_for_user(request.user, pk)
    tz = patient.clinic.tzinfo
    with timezone.override(tz):
        context = history_context(
            patient,
            tz,
            show=request.GET.get("show", ""),
            page=request.GET.get("page"),
            per_page=HISTORY_PER_PAGE,
        )
        # Recorded after rendering, so the page never lists the very view that shows it.
        return recorded(
            render(request, "clinic/patient_page/patient_history.html", context),
            user=request.user,
            action=AccessAction.PATIENT_HISTORY,
            patient=patient,
            detail=SHOW[context["show"]] if context["show"] else "",
        )


@require_GET
@login_required
def clearance_document(request: AuthenticatedRequest, pk: int, note_pk: int) -> FileResponse:
    """The scanned copy of a clearance note, for the patient's care team only (everyone else gets
    the same 404 as for a note that does not exist). Each opening is an access event."""
    patient = staff_patient_for_user(request.user, pk)
    note = ClearanceNote.objects.filter(patient=patient, pk=note_pk).exclude(document="").first()
    if note is None:
        raise Http404("No scanned copy for this note.")
    try:
        handle = note.document.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The scanned copy is missing from storage.") from exc
    record_access(
        user=request.user,
        action=AccessAction.CLEARANCE_DOCUMENT,
        patient=patient,
        detail=f"clearance note #{note.pk}",
    )
    response = FileResponse(
        handle,
        content_type=note.document_type,
        as_attachment=False,
        filename=note.document_name or f"clearance-{note.pk}",
    )
    # A health record: never kept by a browser or a proxy.
    response["Cache-Control"] = "no-store"
    return response
