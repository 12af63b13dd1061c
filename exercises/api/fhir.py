"""A patient's record as a FHIR R4 Bundle, for the care team to hand to another system.

Built with the R4B models of `fhir.resources`, so every export is validated as it is built: a
missing required element, a wrong type or two values for one choice element raise instead of
leaving the server. R4B differs from R4 only in resources we do not use; the elements used here
(Patient, Practitioner, CarePlan, ServiceRequest, Observation, DocumentReference, Bundle and their
data types) are the same in both (docs/api.md, "FHIR export"). The library checks structure, not
terminology, so the codes below are constants checked against their code systems by hand.

Ids are derived, not random: every resource's id is a UUID5 of a fixed namespace, its type and our
primary key, so two exports of the same data are identical (bar the bundle's timestamp) and a
receiving system can match a resource with the one it received last time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractUser
from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.attachment import Attachment
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.careplan import CarePlan, CarePlanActivity
from fhir.resources.R4B.clinicalimpression import ClinicalImpression, ClinicalImpressionFinding
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.documentreference import (
    DocumentReference,
    DocumentReferenceContent,
    DocumentReferenceContext,
    DocumentReferenceRelatesTo,
)
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.observation import Observation, ObservationComponent
from fhir.resources.R4B.patient import Patient as FHIRPatient
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.timing import Timing, TimingRepeat

from exercises.models import PainOutcome, PainReview, Prescription, SetLog
from patients.models import ClearanceNote, OperatedSide, Patient, Side

logger = logging.getLogger(__name__)

# Never change: every id in every export ever made is derived from it.
NAMESPACE = uuid.UUID("6b0f4d2e-3c1a-5e7f-9a2b-8c4d6e0f1a3b")

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
# SNOMED CT 229065009 |Exercise therapy (regime/therapy)|.
EXERCISE_THERAPY = Coding(system=SNOMED, code="229065009", display="Exercise therapy")
# SNOMED CT body structures: the clamshell works the hip region (gluteus medius) of one side.
HIP: dict[str, Coding] = {
    Side.LEFT: Coding(system=SNOMED, code="287679003", display="Left hip region structure"),
    Side.RIGHT: Coding(system=SNOMED, code="287579007", display="Right hip region structure"),
}
# LOINC 72514-3: the 0-10 numeric rating scale the patient answers with every set.
PAIN_SCORE = Coding(
    system=LOINC,
    code="72514-3",
    display="Pain severity - 0-10 verbal numeric rating [Score] - Reported",
)
# FHIR's own observation category for "any bodily activity that enhances or maintains fitness".
ACTIVITY = Coding(
    system="http://terminology.hl7.org/CodeSystem/observation-category",
    code="activity",
    display="Activity",
)
# HL7 v2 table 0203 "MR": the clinic's medical record number.
MEDICAL_RECORD_NUMBER = Coding(
    system="http://terminology.hl7.org/CodeSystem/v2-0203",
    code="MR",
    display="Medical record number",
)
SET_TEXT = "Hip clamshell set"
CLEARANCE_TEXT = "Medical clearance for exercise"
PAIN_REVIEW_TEXT = "Review of a pain alert"


def resource_id(resource_type: str, pk: int) -> str:
    """The resource's id: the same for the same row in every export."""
    return str(uuid.uuid5(NAMESPACE, f"{resource_type}/{pk}"))


def full_url(resource_type: str, pk: int) -> str:
    return f"urn:uuid:{resource_id(resource_type, pk)}"


def reference(resource_type: str, pk: int, display: str | None = None) -> Reference:
    # References use the entry's fullUrl: they resolve inside the bundle, wherever it is stored.
    return Reference(reference=full_url(resource_type, pk), display=display)


def record_number_system(patient: Patient) -> str:
    """Record numbers are unique per clinic only: the clinic is part of the identifier's system."""
    return f"urn:clamshell:clinic:{patient.clinic.slug}:mrn"


def person_name(user: AbstractUser) -> str:
    return user.get_full_name() or user.get_username()


def _text(text: str) -> CodeableConcept:
    return CodeableConcept(text=text)


def _instant(moment: dt.datetime) -> dt.datetime:
    # Stored times are aware; export them in UTC so the same data always serializes the same way.
    return moment.astimezone(dt.UTC)


@dataclass(frozen=True)
class PatientRecord:
    """Everything one export reads, loaded in a fixed number of queries (docs/api.md)."""

    patient: Patient
    prescriptions: list[Prescription]
    sets: list[SetLog]
    notes: list[ClearanceNote]
    reviews: list[PainReview]


def load_record(patient: Patient) -> PatientRecord:
    """Four queries whatever the history: prescriptions (with stage, ladder and prescriber), sets
    (with whoever voided them), clearance notes (with who recorded them), pain reviews (with the
    reviewer). The patient and clinic come loaded by the access helper. A clearance note's scan
    is read from the private storage, not the database."""
    prescriptions = list(
        Prescription.objects.filter(patient=patient)
        .select_related("stage__ladder", "prescribed_by")
        .order_by("side", "started_at", "id")
    )
    for rx in prescriptions:
        rx.patient = patient  # with its clinic: the thresholds in force read no row
    sets = list(
        SetLog.objects.filter(patient=patient)
        .select_related("voided_by")
        .order_by("performed_at", "id")
    )
    # Oldest first: each note replaces the one before it; the last one is in effect.
    notes = list(
        ClearanceNote.objects.filter(patient=patient)
        .select_related("recorded_by")
        .order_by("signed_on", "recorded_at", "id")
    )
    reviews = list(
        PainReview.objects.filter(patient=patient).select_related("by").order_by("at", "id")
    )
    return PatientRecord(
        patient=patient, prescriptions=prescriptions, sets=sets, notes=notes, reviews=reviews
    )


def patient_bundle(patient: Patient, *, now: dt.datetime) -> Bundle:
    """The patient's record as a FHIR `collection` Bundle, timestamped `now`.

    A collection, not a document: a document Bundle needs a Composition that someone attests, and
    this is a data export, not a signed clinical document. Entries: the Patient; a Practitioner per
    prescriber; per prescription a CarePlan and the ServiceRequest it carries out; an Observation
    per logged set (voided ones too, marked entered-in-error); a DocumentReference per clearance
    note (with its scanned copy, when there is one); a ClinicalImpression per pain review.
    """
    record = load_record(patient)
    resources: list[tuple[str, Resource]] = [(full_url("Patient", patient.pk), _patient(patient))]
    practitioners = {
        rx.prescribed_by.pk: rx.prescribed_by for rx in record.prescriptions if rx.prescribed_by
    }
    practitioners.update({r.by.pk: r.by for r in record.reviews if r.by is not None})
    for pk in sorted(practitioners):
        resources.append((full_url("Practitioner", pk), _practitioner(practitioners[pk])))
    previous = _predecessors(record.prescriptions)
    for rx in record.prescriptions:
        resources.append(
            (full_url("CarePlan", rx.pk), _care_plan(patient, rx, previous.get(rx.pk)))
        )
        resources.append(
            (full_url("ServiceRequest", rx.pk), _service_request(patient, rx, previous.get(rx.pk)))
        )
    for set_log in record.sets:
        resources.append((full_url("Observation", set_log.pk), _observation(patient, set_log)))
    for index, note in enumerate(record.notes):
        newer = record.notes[index + 1] if index + 1 < len(record.notes) else None
        replaced = record.notes[index - 1] if index else None
        resources.append(
            (full_url("DocumentReference", note.pk), _document(patient, note, newer, replaced))
        )
    for review in record.reviews:
        resources.append((full_url("ClinicalImpression", review.pk), _pain_review(patient, review)))
    return Bundle(
        type="collection",
        timestamp=_instant(now),
        entry=[BundleEntry(fullUrl=url, resource=resource) for url, resource in resources],
    )


# -- the resources ---------------------------------------------------------------------------


def _patient(patient: Patient) -> FHIRPatient:
    # No gender: the clinic does not record it, and FHIR allows leaving it out.
    return FHIRPatient(
        id=resource_id("Patient", patient.pk),
        identifier=[
            Identifier(
                use="usual",
                type=CodeableConcept(coding=[MEDICAL_RECORD_NUMBER]),
                system=record_number_system(patient),
                value=patient.record_number,
                assigner=Reference(display=patient.clinic.name),
            )
        ],
        active=patient.is_active,
        name=[
            HumanName(
                use="official",
                text=patient.full_name,
                family=patient.last_name,
                given=[patient.first_name],
            )
        ],
        birthDate=patient.date_of_birth,
    )


def _practitioner(user: AbstractUser) -> Practitioner:
    """A therapist who prescribed or reviewed a pain alert: a resource of its own, so every
    request and review names one author."""
    name = HumanName(
        text=person_name(user),
        family=user.last_name or None,
        given=[user.first_name] if user.first_name else None,
    )
    return Practitioner(id=resource_id("Practitioner", user.pk), name=[name])


def _predecessors(prescriptions: Iterable[Prescription]) -> dict[int, Prescription]:
    """Each prescription that took over from another on the same side at the same moment (an
    advance or a regression: the services end one and start the next with one timestamp)."""
    result: dict[int, Prescription] = {}
    last: dict[str, Prescription] = {}
    for rx in prescriptions:  # ordered by side, then start
        before = last.get(rx.side)
        if before is not None and before.ended_at == rx.started_at:
            result[rx.pk] = before
        last[rx.side] = rx
    return result


def _status(rx: Prescription) -> str:
    return "active" if rx.is_active else "completed"


def _period(rx: Prescription) -> Period:
    return Period(start=_instant(rx.started_at), end=_instant(rx.ended_at) if rx.ended_at else None)


def _side(side: str) -> str:
    return Side(side).label.lower()


def _body_site(side: str) -> CodeableConcept:
    return CodeableConcept(coding=[HIP[side]], text=f"{Side(side).label} hip")


def _requester(rx: Prescription) -> Reference | None:
    if rx.prescribed_by is None:
        return None  # advanced automatically: no person ordered it
    return reference("Practitioner", rx.prescribed_by.pk, person_name(rx.prescribed_by))


def _care_plan(patient: Patient, rx: Prescription, before: Prescription | None) -> CarePlan:
    stage = rx.stage
    return CarePlan(
        id=resource_id("CarePlan", rx.pk),
        status=_status(rx),
        intent="plan",
        title=f"{stage.ladder.name}, {_side(rx.side)} side, stage {stage.number}",
        description=f"Stage {stage.number}: {stage.name}. {stage.summary}",
        subject=reference("Patient", patient.pk, patient.full_name),
        period=_period(rx),
        created=_instant(rx.started_at),
        author=_requester(rx),
        replaces=[reference("CarePlan", before.pk)] if before else None,
        activity=[CarePlanActivity(reference=reference("ServiceRequest", rx.pk))],
    )


def _dose(patient: Patient, rx: Prescription) -> list[str]:
    # The thresholds in force (the prescription's own, else the clinic's): `load_record` gave
    # each prescription the loaded patient, so this reads no row.
    thresholds = rx.thresholds
    return [
        f"{rx.target_sets} sets × {rx.target_reps} reps",
        f"Hold {rx.hold_at_top_seconds} s at the top of each rep",
        f"{rx.sessions_per_week} sessions per week",
        f"Ready for the next stage at {thresholds.ready_reps} reps in one set with pain at most "
        f"{thresholds.pain_ceiling}/10",
        f"A set with pain above {thresholds.pain_alert_above}/10 stops the exercise for the day, "
        "alerts the therapist and withdraws readiness until the next qualifying set",
    ]


def _service_request(
    patient: Patient, rx: Prescription, before: Prescription | None
) -> ServiceRequest:
    stage = rx.stage
    mvic = (
        f"gluteus medius {stage.gmed_mvic_percent} %MVIC (as the source article reports it from "
        f"Boren et al. 2011, in healthy adults)"
    )
    notes = []
    if rx.notes:
        notes.append(Annotation(text=rx.notes))
    if rx.prescribed_by is None:
        notes.append(Annotation(text="Started by the system (automatic advance), not by a person."))
    return ServiceRequest(
        id=resource_id("ServiceRequest", rx.pk),
        status=_status(rx),
        intent="order",
        basedOn=[reference("CarePlan", rx.pk)],
        replaces=[reference("ServiceRequest", before.pk)] if before else None,
        code=CodeableConcept(
            coding=[EXERCISE_THERAPY],
            text=f"Hip clamshell, stage {stage.number}: {stage.name}",
        ),
        orderDetail=[
            _text(f"Stage {stage.number}: {stage.name}, {mvic}"),
            *(_text(line) for line in _dose(patient, rx)),
        ],
        subject=reference("Patient", patient.pk, patient.full_name),
        # The dose as data too: so many sessions a week while the prescription runs.
        occurrenceTiming=Timing(
            repeat=TimingRepeat(
                boundsPeriod=_period(rx),
                frequency=rx.sessions_per_week,
                period=1,
                periodUnit="wk",
            )
        ),
        authoredOn=_instant(rx.started_at),
        requester=_requester(rx),
        bodySite=[_body_site(rx.side)],
        note=notes or None,
        patientInstruction=" ".join(
            [
                stage.position,
                stage.movement,
                stage.cues,
                f"Do {rx.target_sets} sets of {rx.target_reps} reps, holding "
                f"{rx.hold_at_top_seconds} s at the top, {rx.sessions_per_week} sessions a week.",
            ]
        ),
    )


def _observation(patient: Patient, set_log: SetLog) -> Observation:
    components = [
        ObservationComponent(code=_text("Repetitions"), valueInteger=set_log.reps),
        ObservationComponent(
            code=CodeableConcept(coding=[PAIN_SCORE], text="Pain (0-10)"),
            valueInteger=set_log.pain,
        ),
    ]
    if set_log.effort is not None:
        components.append(
            ObservationComponent(code=_text("Effort (0-10)"), valueInteger=set_log.effort)
        )
    notes = [Annotation(text=set_log.note)] if set_log.note else []
    if set_log.is_voided:
        assert set_log.voided_at is not None  # is_voided says so; for the type checker
        notes.append(
            Annotation(
                text=f"Voided: {set_log.void_reason}",
                time=_instant(set_log.voided_at),
                authorString=person_name(set_log.voided_by) if set_log.voided_by else None,
            )
        )
    return Observation(
        id=resource_id("Observation", set_log.pk),
        # The phone's client_id: the set's identity everywhere it was ever sent.
        identifier=[Identifier(system="urn:ietf:rfc:3986", value=f"urn:uuid:{set_log.client_id}")],
        basedOn=[reference("ServiceRequest", set_log.prescription_id)],
        # A voided set stays in the record, as FHIR keeps a retracted result: marked, not removed.
        status="entered-in-error" if set_log.is_voided else "final",
        category=[CodeableConcept(coding=[ACTIVITY])],
        code=_text(SET_TEXT),
        subject=reference("Patient", patient.pk, patient.full_name),
        effectiveDateTime=_instant(set_log.performed_at),
        issued=_instant(set_log.logged_at),
        bodySite=_body_site(set_log.side),
        note=notes or None,
        component=components,
    )


# -- clearance notes ---------------------------------------------------------------------------


def _precautions(note: ClearanceNote) -> str | None:
    """E.g. "for the left hip: no hip internal rotation past neutral, no lying on the operated
    side" (precautions protect the operated hip, `patients.precautions`)."""
    if not note.precautions:
        return None
    listed = ", ".join(f"{p.label[0].lower()}{p.label[1:]}" for p in note.precautions)
    side = note.operated_side
    hips = (
        "both hips" if side == OperatedSide.BOTH else f"the {OperatedSide(side).label.lower()} hip"
    )
    return f"for {hips}: {listed}"


def _restriction_summary(note: ClearanceNote) -> list[str]:
    parts = []
    if note.max_stage:
        parts.append(f"up to stage {note.max_stage}")
    if note.weight_bearing != "not_stated":
        parts.append(note.get_weight_bearing_display().lower())
    if precautions := _precautions(note):
        parts.append(f"precautions {precautions}")
    if note.restrictions:
        parts.append(note.restrictions.rstrip("."))
    return parts


def _review(note: ClearanceNote) -> str:
    if note.review_on is None:  # "no further clearance needed": the requirement ended
        return "no review date (the clearance requirement ends)"
    return f"review by {note.review_on.isoformat()}"


def _procedure(note: ClearanceNote) -> str:
    # The date first: the reason is free text, often with more after the procedure's name.
    when = f" on {note.procedure_on.isoformat()}" if note.procedure_on else ""
    return f"Procedure or injury{when}: {note.reason.rstrip('.')}"


def clearance_description(note: ClearanceNote) -> str:
    decision = note.get_decision_display()
    limits = _restriction_summary(note)
    head = f"{decision} ({'; '.join(limits)})" if limits else decision
    return (
        f"{head}: signed {note.signed_on.isoformat()} by {note.signed_by_name}, {_review(note)}. "
        f"{_procedure(note)}."
    )


def clearance_text(patient: Patient, note: ClearanceNote, *, scan_read: bool = True) -> str:
    """The note as plain text: what a receiving system without our model can show a clinician."""
    recorded_at = note.recorded_at.astimezone(patient.clinic.tzinfo)
    procedure_on = note.procedure_on.isoformat() if note.procedure_on else "not recorded"
    if note.review_on is not None:
        review_on = note.review_on.isoformat()
    else:
        review_on = "none (no further clearance needed: the requirement ends)"
    if not note.document:
        scan = "none"
    elif scan_read:
        scan = f"{note.document_name or 'unnamed'} ({note.document_type}), attached"
    else:
        scan = f"{note.document_name or 'unnamed'}: missing from the clinic's storage"
    lines = [
        CLEARANCE_TEXT,
        f"Patient: {patient.full_name} ({patient.record_number}, {patient.clinic.name})",
        f"Procedure or injury: {note.reason}",
        f"Date of the procedure or injury: {procedure_on}",
        f"Decision: {note.get_decision_display()}",
        f"Weight-bearing: {note.get_weight_bearing_display()}",
        f"Highest stage allowed: {note.max_stage or 'no stage limit'}",
        f"Operated or injured side: "
        f"{note.get_operated_side_display() if note.operated_side else 'not stated'}",
        f"Movement precautions: {'; '.join(str(p.label) for p in note.precautions) or 'none'}",
        f"Other restrictions: {note.restrictions or 'none stated'}",
        f"Signed by: {note.signed_by_name}, {note.signed_by_credentials}",
        f"Signed on: {note.signed_on.isoformat()}",
        f"Review on: {review_on}",
        f"Scanned copy: {scan}",
        f"Recorded by: {person_name(note.recorded_by)}, {recorded_at:%Y-%m-%d %H:%M %Z}",
    ]
    return "\n".join(lines) + "\n"


def read_scan(note: ClearanceNote) -> bytes | None:
    """The bytes of a note's scanned copy, read through the storage API (the private storage,
    wherever it is configured); None without a scan, or when the storage has lost the file (then
    logged, and the note's text says so: the export does not fail for want of one file)."""
    if not note.document.name:
        return None
    try:
        with note.document.storage.open(note.document.name, "rb") as handle:
            scan: bytes = handle.read()
            return scan
    except OSError:
        # No names in logs (clinic/serving/log_filters.py): the note's id is enough to find it.
        logger.error("The scanned copy of clearance note %s cannot be read", note.pk)
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scan_attachment(note: ClearanceNote, scan: bytes) -> Attachment:
    return Attachment(
        contentType=note.document_type,  # judged from the file's content when it was uploaded
        data=_b64(scan),
        title=note.document_name or None,
        size=len(scan),
        # FHIR R4's Attachment.hash: the SHA-1 of the data, base64-encoded.
        hash=_b64(hashlib.sha1(scan, usedforsecurity=False).digest()),
    )


def _document(
    patient: Patient,
    note: ClearanceNote,
    newer: ClearanceNote | None,
    replaced: ClearanceNote | None,
) -> DocumentReference:
    """A clearance note. Notes are never edited: a newer one supersedes, so only the newest is
    `current` and each names the note it replaces.

    Its content: the note as plain text (every field, for a receiver without our model), then
    the scanned copy of the signed sign-off when one was recorded. A note recording "no further
    clearance needed" has no review date, so its period has a start and no end.
    """
    scan = read_scan(note)
    text = clearance_text(patient, note, scan_read=scan is not None)
    content = [
        DocumentReferenceContent(
            attachment=Attachment(
                contentType="text/plain; charset=utf-8",
                language="en",
                data=_b64(text.encode()),
                title=f"{CLEARANCE_TEXT}: {note.get_decision_display().lower()}",
                creation=note.signed_on,
            )
        )
    ]
    if scan is not None:
        content.append(DocumentReferenceContent(attachment=_scan_attachment(note, scan)))
    return DocumentReference(
        id=resource_id("DocumentReference", note.pk),
        status="superseded" if newer else "current",
        docStatus="final",
        type=_text(CLEARANCE_TEXT),
        subject=reference("Patient", patient.pk, patient.full_name),
        date=_instant(note.recorded_at),
        # The signer is usually a physician outside the clinic: a name, not a resource of ours.
        author=[Reference(display=f"{note.signed_by_name}, {note.signed_by_credentials}")],
        description=clearance_description(note),
        relatesTo=[
            DocumentReferenceRelatesTo(
                code="replaces", target=reference("DocumentReference", replaced.pk)
            )
        ]
        if replaced
        else None,
        content=content,
        # The period the clearance covers: from signing to its review date (open-ended for "no
        # further clearance needed", which has none).
        context=DocumentReferenceContext(period=Period(start=note.signed_on, end=note.review_on)),
    )


# -- pain reviews ------------------------------------------------------------------------------
#
# A therapist's review of a side's pain alert is exported as a ClinicalImpression: FHIR R4 defines
# it as "a record of a clinical assessment performed ... before planning the treatments or
# management strategies", and names the case of an assessment recorded as a single note
# ("Progress satisfactory, continue with treatment"): here the worst pain reviewed and how many
# sets (the finding), the decision (regressed / continued / referred: the summary), who decided
# (the assessor, a Practitioner of the bundle), when, and the therapist's note. Not an
# Observation: the outcome is a decision, not a measurement (the painful sets themselves are the
# Observations), and R4's Observation page sends what a clinician concludes about a patient to
# Condition or ClinicalImpression. Not a
# Communication: a review is not a message sent to anyone. ClinicalImpression is at maturity 0
# (trial use) in R4; its elements used here are the same in R4 and R4B (docs/api.md).


def _pain_review(patient: Patient, review: PainReview) -> ClinicalImpression:
    side = Side(review.side).label
    sets = f"{review.painful_sets} set{'s' if review.painful_sets != 1 else ''}"
    notes = [Annotation(text=review.note)] if review.note else []
    if review.outcome == PainOutcome.CLOSED_EARLIER:
        notes.append(
            Annotation(
                text="Closed by the system when pain reviews began to be recorded: no "
                "therapist's decision was recorded for this alert."
            )
        )
    return ClinicalImpression(
        id=resource_id("ClinicalImpression", review.pk),
        status="completed",
        code=_text(PAIN_REVIEW_TEXT),
        description=f"{side} side: pain above the alert threshold in {sets}, the highest "
        f"{review.highest_pain}/10.",
        subject=reference("Patient", patient.pk, patient.full_name),
        effectiveDateTime=_instant(review.at),
        date=_instant(review.at),
        assessor=reference("Practitioner", review.by.pk, person_name(review.by))
        if review.by
        else None,
        finding=[
            ClinicalImpressionFinding(
                itemCodeableConcept=_text(
                    f"Pain above the alert threshold, {side.lower()} hip: highest "
                    f"{review.highest_pain}/10 in {sets}"
                )
            )
        ],
        summary=review.get_outcome_display(),
        note=notes or None,
    )


def bundle_json(bundle: Bundle) -> str:
    """The bundle as FHIR JSON (the library's serializer: resourceType, no empty elements)."""
    return bundle.model_dump_json()
