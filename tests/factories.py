"""factory_boy factories: the smallest valid objects, for tests to override what they check."""

import datetime as dt
import importlib
import io
import uuid

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from PIL import Image
from pypdf import PdfWriter

from exercises.models import Prescription, SetLog, Source, Stage
from patients.models import ClearanceNote, Clinic, Decision, Membership, Patient, Role
from patients.services import clearance_note_record

PASSWORD = "correct-horse-battery"


def reseed_ladder() -> None:
    """Put the seeded ladder back as the migrations leave it (a transactional test's flush
    empties every table): the stages, then what each asks of the hip."""
    from django.apps import apps

    for name, function in (
        ("0002_clamshell_ladder", "seed"),
        ("0006_stage_movements_data_pain_baseline", "movements"),
    ):
        getattr(importlib.import_module(f"exercises.migrations.{name}"), function)(apps, None)


def stage(number: int) -> Stage:
    """A rung of the seeded clamshell ladder (the data migration provides them)."""
    return Stage.objects.get(ladder__slug="hip-clamshell", number=number)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Clinic {n}")
    slug = factory.Sequence(lambda n: f"clinic-{n}")
    timezone = "Europe/London"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    clinic = factory.SubFactory(ClinicFactory)
    role = Role.THERAPIST


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    record_number = factory.Sequence(lambda n: f"MRN{n:05d}")
    first_name = factory.Sequence(lambda n: f"Pat{n}")
    last_name = "Example"
    date_of_birth = dt.date(1970, 5, 17)
    affected_side = "left"


class ClearanceNoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClearanceNote

    patient = factory.SubFactory(
        PatientFactory, requires_clearance=True, clearance_reason="pelvic fracture"
    )
    reason = "Pelvic fracture, conservatively managed"
    decision = Decision.CLEARED
    signed_by_name = "Dr. Ada Osei"
    signed_by_credentials = "MD, orthopaedics"
    signed_on = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=10))
    review_on = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=60))
    recorded_by = factory.SubFactory(UserFactory)


class PrescriptionFactory(factory.django.DjangoModelFactory):
    """Bypasses the services on purpose: for read-side tests that need a given state."""

    class Meta:
        model = Prescription

    patient = factory.SubFactory(PatientFactory)
    side = "left"
    stage = factory.LazyFunction(lambda: stage(1))
    started_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=14))
    prescribed_by = factory.SubFactory(UserFactory)


class SetLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SetLog

    prescription = factory.SubFactory(PrescriptionFactory)
    patient = factory.SelfAttribute("prescription.patient")
    stage = factory.SelfAttribute("prescription.stage")
    side = factory.SelfAttribute("prescription.side")
    reps = 10
    pain = 1
    performed_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=1))
    logged_at = factory.LazyFunction(timezone.now)
    source = Source.APP
    client_id = factory.LazyFunction(uuid.uuid4)
    logged_by = factory.SubFactory(UserFactory)


def record_clearance(
    patient: Patient,
    *,
    by,
    signed_on: dt.date,
    review_on: dt.date | None,
    decision: str = Decision.CLEARED,
    max_stage: int | None = None,
    restrictions: str = "",
    precautions: tuple[str, ...] = (),
    operated_side: str = "",
    today: dt.date | None = None,
    **extra,
) -> ClearanceNote:
    """Record a clearance note through the service, as a therapist would (`today`, the day it is
    recorded, defaults to the day it was signed, so tests never depend on the real date)."""
    day = today or signed_on
    return clearance_note_record(
        patient=patient,
        reason="Pelvic fracture, conservatively managed",
        decision=decision,
        signed_by_name="Dr. Ada Osei",
        signed_by_credentials="MD, orthopaedics",
        signed_on=signed_on,
        review_on=review_on,
        recorded_by=by,
        max_stage=max_stage,
        restrictions=restrictions,
        precautions=precautions,
        operated_side=operated_side or (patient.affected_side if precautions else ""),
        now=dt.datetime.combine(day, dt.time(12), tzinfo=patient.clinic.tzinfo),
        **extra,
    )


def pdf_scan() -> bytes:
    """A one-page PDF, as a scanned sign-off would be (its content decides its type)."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image_scan(kind: str = "PNG") -> bytes:
    """A small image in the format Pillow names `kind` (PNG, JPEG, GIF...)."""
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(out, kind)
    return out.getvalue()
