"""export_clinic / import_clinic: one clinic's records out to a file and back, exactly.

The round trip runs with real commits (`transactional_db`), so PostgreSQL checks every foreign key
as it would in production; run this file with DATABASE_URL set to cover PostgreSQL too.

Files are signed with EXPORT_SIGNING_KEY; every test here runs with `KEY` (the `signing_key`
fixture), and a test that edits a file signs it again with `header_signature`, as someone
holding the key could: only the import's own checks stand between such a file and the database.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import json
import shutil
import stat
import uuid
from collections.abc import Callable
from io import BytesIO, StringIO
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.color import no_style
from django.db import DatabaseError, connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image
from rest_framework.authtoken.models import Token

from clinic.data.backup import restore
from clinic.data.backup.documents import private_storage
from clinic.data.backup.export import clinic_export
from clinic.data.backup.file_format import _canonical, header_signature
from clinic.data.backup.parts import EXCLUDED, PARTS, REFERENCED_ONLY, Scope, history_model
from exercises.models import (
    Ladder,
    PainOutcome,
    PainReview,
    Prescription,
    SetLog,
    Source,
    Stage,
    StageChange,
)
from exercises.services import (
    SetLogRequest,
    pain_review_record,
    patient_discharge,
    prescription_advance,
    prescription_regress,
    prescription_start,
    set_log,
    set_void,
)
from patients.access_events import record_access
from patients.models import (
    AccessAction,
    AccessEvent,
    ClearanceNote,
    Clinic,
    Decision,
    Membership,
    Patient,
    Role,
)
from patients.precautions import Precaution
from patients.services import clearance_note_record, patient_update
from tests.factories import (
    PASSWORD,
    ClinicFactory,
    MembershipFactory,
    PatientFactory,
    PrescriptionFactory,
    UserFactory,
    stage,
)

User = get_user_model()
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
# Times with microseconds: the file must keep them (Django's JSON encoder would cut them).
T0 = (timezone.now() - 20 * DAY).replace(microsecond=123456)
# The key both servers of a move share, in every test of this file.
KEY = "riverside-move-export-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def signing_key(settings):
    settings.EXPORT_SIGNING_KEY = KEY


@pytest.fixture(autouse=True)
def private_files(settings) -> Path:
    """The private files folder (scanned clearance notes), empty before and after each test."""
    root = Path(settings.PRIVATE_FILES_ROOT)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)


def documents_on_disk() -> dict[str, bytes]:
    root = Path(private_storage().location)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def scan() -> SimpleUploadedFile:
    """A scanned sign-off: a small PNG (its content decides its type, not its name)."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return SimpleUploadedFile("Osei sign-off.png", out.getvalue(), content_type="image/png")


def note(patient: Patient, *, by: Any, at: dt.datetime | None = None, **kwargs: Any):
    """A clearance note through the service, recorded at `at` (now by default) and signed that
    day unless said otherwise."""
    at = at or timezone.now()
    signed_on = patient.clinic.local_date(at)
    defaults: dict[str, Any] = {
        "reason": "Pelvic fracture, conservatively managed",
        "decision": Decision.CLEARED,
        "signed_by_name": "Dr. Ada Osei",
        "signed_by_credentials": "MD, orthopaedics",
        "signed_on": signed_on,
        "review_on": signed_on + 90 * DAY,
    }
    return clearance_note_record(patient=patient, recorded_by=by, now=at, **{**defaults, **kwargs})


# --- building a clinic worth backing up --------------------------------------------------------


def log(patient: Patient, prescription: Any, *, at: dt.datetime, by: Any, **kwargs: Any) -> SetLog:
    return set_log(
        SetLogRequest(
            patient=patient,
            prescription=prescription,
            performed_at=at,
            client_id=uuid.uuid4(),
            by=by,
            **{"reps": 12, "pain": 2, "source": Source.APP, **kwargs},
        ),
        now=at + HOUR,
    ).set_log


def build_rich_clinic(
    clinic: Clinic,
    therapist: Any,
    colleague: Any,
    staff: Any,
    maya: Patient,
    omar: Patient,
    ines: Patient,
) -> dict[str, Any]:
    """Both sides, progress and regress, a voided set, a pain review, clearance with a scanned
    copy, a discharge, a patient edit by the admin (who is no member), a therapist who has left,
    and reads in the access log."""
    admin = User.objects.create_superuser("admin", "admin@example.org", PASSWORD)
    left = prescription_start(patient=maya, side="left", stage=stage(1), by=therapist, at=T0)
    right = prescription_start(
        patient=maya, side="right", stage=stage(2), by=therapist, at=T0, notes="Go slowly."
    )
    first = log(maya, left, at=T0 + DAY, by=maya.user)
    log(maya, left, at=T0 + 2 * DAY, by=maya.user, reps=20, effort=7, note="felt fine")
    left = prescription_advance(prescription=left, by=colleague, at=T0 + 3 * DAY)
    log(maya, left, at=T0 + 4 * DAY, by=therapist, pain=7, source=Source.CLINIC)
    prescription_regress(prescription=left, by=therapist, at=T0 + 5 * DAY, note="Pain 7/10.")
    set_void(set_log=first, by=therapist, reason="Logged twice", at=T0 + 6 * DAY)

    leaver = MembershipFactory(clinic=clinic, role=Role.THERAPIST, user__username="leaver")
    log(maya, right, at=T0 + 6 * DAY, by=leaver.user, source=Source.CLINIC)
    leaver.delete()  # a deleted row: its history must come along

    omar_left = prescription_start(patient=omar, side="left", stage=stage(1), by=therapist, at=T0)
    log(omar, omar_left, at=T0 + DAY, by=omar.user, source=Source.WEB)
    patient_discharge(patient=omar, by=therapist, at=T0 + 8 * DAY)

    note(
        ines,
        by=therapist,
        at=T0 - 2 * DAY,
        decision=Decision.RESTRICTED,
        max_stage=2,
        restrictions="Nothing above stage 2 until the review.",
        precautions=[Precaution.NO_INTERNAL_ROTATION],
        operated_side="right",
        document=scan(),
    )
    prescription_start(patient=ines, side="right", stage=stage(1), by=therapist, at=T0)
    # The pain-7 set at stage 2 opened the left side's pain alert; the therapist reviews it.
    pain_review_record(
        patient=maya,
        side="left",
        outcome=PainOutcome.CONTINUED,
        by=therapist,
        note="Settled at stage 1.",
        at=T0 + 6 * DAY,
    )

    patient_update(
        patient=maya,
        record_number=maya.record_number,
        first_name=maya.first_name,
        last_name="Lindqvist-Berg",
        date_of_birth=maya.date_of_birth,
        affected_side="both",
        primary_therapist=therapist,
        requires_clearance=False,
        clearance_reason="",
        by=admin,
    )
    record_access(user=therapist, action=AccessAction.PATIENT_PAGE, patient=maya)
    record_access(
        user=staff, action=AccessAction.CLINIC_REPORT_CSV, clinic=clinic, detail="adherence"
    )
    return {"admin": admin, "leaver": leaver.user}


def build_other_clinic(other_clinic: Clinic, outsider: Any) -> Patient:
    zoe = PatientFactory(
        clinic=other_clinic, primary_therapist=outsider, user=UserFactory(username="zoe")
    )
    rx = prescription_start(patient=zoe, side="right", stage=stage(3), by=outsider, at=T0)
    log(zoe, rx, at=T0 + DAY, by=zoe.user)
    record_access(user=outsider, action=AccessAction.PATIENT_PAGE, patient=zoe)
    return zoe


# --- helpers ------------------------------------------------------------------------------------


def export(slug: str, path: Path) -> Path:
    call_command("export_clinic", slug, "-o", str(path), verbosity=0)
    return path


def import_(path: Path) -> str:
    out, err = StringIO(), StringIO()
    call_command("import_clinic", str(path), stdout=out, stderr=err, verbosity=1)
    return out.getvalue() + err.getvalue()


def split(path: Path) -> tuple[dict[str, Any], bytes]:
    first, body = path.read_bytes().split(b"\n", 1)
    return json.loads(first), body


def rewrite_header(path: Path, **changes: Any) -> None:
    """Edit the header as someone holding the export key could: signed again."""
    header, body = split(path)
    header.update(changes)
    header["signature"] = header_signature(header)
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)


def tamper(path: Path, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Edit the rows as someone holding the export key could: counts, digest and signature
    recomputed, so only the import's own checks stand between the file and the database. The
    document lines after the rows are kept as they are."""
    header, body = split(path)
    all_lines = body.splitlines(keepends=True)
    row_count = sum(header["counts"].values())
    lines = edit([json.loads(line) for line in all_lines[:row_count]])
    new_body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    new_body += b"".join(all_lines[row_count:])
    counts = dict.fromkeys(header["counts"], 0)
    for line in lines:
        counts[line["model"]] += 1
    path.write_bytes(json.dumps(header).encode() + b"\n" + new_body)
    rewrite_header(path, counts=counts, body_sha256=hashlib.sha256(new_body).hexdigest())


def row_of(lines: list[dict[str, Any]], model: str, pk: Any = None) -> dict[str, Any]:
    return next(
        line for line in lines if line["model"] == model and (pk is None or line["pk"] == pk)
    )


def rows_of(lines: list[dict[str, Any]], model: str, **fields: Any) -> list[dict[str, Any]]:
    return [
        line
        for line in lines
        if line["model"] == model and all(line["fields"].get(k) == v for k, v in fields.items())
    ]


def rows(clinic_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every row of the clinic, model by model, as the database returns it (not as the file
    writes it): the comparison does not trust the exporter's encoding."""
    return {
        part.label: list(part.select(Scope(clinic_id)).order_by("pk").values())
        for part in PARTS
        if not part.reference
    }


def as_restored(snapshot: dict[str, list[dict[str, Any]]], members: set[str]) -> dict[str, Any]:
    """Users who don't belong to the clinic come back without credentials or privileges."""
    users = [
        u if u["username"] in members else {**u, **REFERENCED_ONLY}
        for u in snapshot[User._meta.label_lower]
    ]
    return {**snapshot, User._meta.label_lower: users}


# Tables the migrations fill (the ladder, content types, permissions): a fresh database has them.
SEEDED = (Ladder, Stage, ContentType, Permission)


def empty_database() -> None:
    """What a new server has after `migrate`: everything else goes, sequences restart at 1."""
    keep = {m._meta.db_table for m in SEEDED}
    tables = [
        t for t in connection.introspection.django_table_names(only_existing=True) if t not in keep
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # TRUNCATE refuses tables with foreign-key checks still pending in this transaction.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    connection.ops.execute_sql_flush(
        connection.ops.sql_flush(no_style(), tables, reset_sequences=True)
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def row_counts() -> dict[str, int]:
    return {m._meta.label_lower: m._default_manager.count() for m in apps.get_models()}


def clinic_row_counts(clinic_id: int) -> dict[str, int]:
    """The clinic's rows per table, counted in plain SQL that knows nothing of the exporter's
    selections: a selection that missed rows would drop them from the file and from a comparison
    made with it alike, but not from these counts."""
    patients = "SELECT id FROM patients_historicalpatient WHERE clinic_id = %(c)s"
    of_patient = "patient_id IN (SELECT id FROM patients_patient WHERE clinic_id = %(c)s)"
    of_any_patient = f"patient_id IN ({patients})"  # deleted patients' history too
    where = {
        Clinic: "id = %(c)s",
        Membership: "clinic_id = %(c)s",
        Patient: "clinic_id = %(c)s",
        ClearanceNote: of_patient,
        Prescription: of_patient,
        StageChange: of_patient,
        SetLog: of_patient,
        PainReview: of_patient,
        AccessEvent: "clinic_id = %(c)s",
        Membership.history.model: "clinic_id = %(c)s",
        Patient.history.model: "clinic_id = %(c)s",
        ClearanceNote.history.model: of_any_patient,
        Prescription.history.model: of_any_patient,
        StageChange.history.model: of_any_patient,
        SetLog.history.model: of_any_patient,
        PainReview.history.model: of_any_patient,
    }
    counts = {}
    with connection.cursor() as cursor:
        for model, condition in where.items():
            table = model._meta.db_table
            cursor.execute(f"SELECT count(*) FROM {table} WHERE {condition}", {"c": clinic_id})
            counts[model._meta.label_lower] = cursor.fetchone()[0]
    return counts


# --- the round trip -----------------------------------------------------------------------------


# `reseed_after_flush` before `transactional_db`: it puts the ladder back after the final flush.
def test_a_clinic_survives_export_and_import_into_an_empty_database_exactly(
    reseed_after_flush,
    transactional_db,
    tmp_path,
    clinic,
    other_clinic,
    therapist,
    colleague,
    staff,
    outsider,
    patient,
    other_patient,
    patient_requiring_clearance,
):
    build_rich_clinic(
        clinic, therapist, colleague, staff, patient, other_patient, patient_requiring_clearance
    )
    build_other_clinic(other_clinic, outsider)
    before = rows(clinic.pk)
    counted_before = clinic_row_counts(clinic.pk)
    assert all(counted_before.values()), "every table has rows of the clinic"
    members = {"thera", "colleague", "staffer", "maya", "omar"}
    assert {u["username"] for u in before["auth.user"]} == members | {"admin", "leaver"}
    assert all(before[part.label] for part in PARTS if not part.reference), "every part has rows"

    scans = documents_on_disk()
    assert len(scans) == 1
    first = export("riverside", tmp_path / "first.jsonl")
    header, _ = split(first)
    assert header["documents"] == {name: len(data) for name, data in scans.items()}
    # A new server: an empty database, and an empty private files folder.
    empty_database()
    for name in scans:
        private_storage().delete(name)
    assert not Clinic.objects.exists() and not User.objects.exists()
    output = import_(first)

    assert "Imported clinic 'riverside'" in output and "1 scanned documents" in output
    # The scanned copy is back, byte for byte, where its note says.
    assert documents_on_disk() == scans
    restored_note = ClearanceNote.objects.get()
    assert restored_note.document.read() == next(iter(scans.values()))
    assert PainReview.objects.get().outcome == PainOutcome.CONTINUED
    # Table by table, counted without the exporter's selections: every row of the clinic came
    # back, and nothing else is in the database (but the tables a migrated database starts with).
    after = {
        k: v
        for k, v in row_counts().items()
        if v and k not in {m._meta.label_lower for m in SEEDED}
    }
    assert after == {**counted_before, "auth.user": len(members | {"admin", "leaver"})}
    # Model by model, history included: the same rows, the same ids, the same times.
    assert rows(clinic.pk) == as_restored(before, members)
    assert Clinic.objects.get().slug == "riverside"  # and nothing of the other clinic
    restored = SetLog.objects.get(patient=patient, performed_at=T0 + DAY)
    assert restored.performed_at.microsecond == 123456
    assert restored.voided_by.username == "thera"
    assert Patient.history.filter(history_user__username="admin").count() == 1

    # The file written from the restored database is the same file, byte for byte, but for the
    # moment of export (and the header's signature, which covers that moment).
    second = export("riverside", tmp_path / "second.jsonl")
    (h1, body1), (h2, body2) = split(first), split(second)
    assert body1 == body2
    ignored = {"exported_at", "signature"}
    assert {k: v for k, v in h1.items() if k not in ignored} == {
        k: v for k, v in h2.items() if k not in ignored
    }

    # People sign in with their own passwords again; the outsider to the clinic cannot.
    assert authenticate(username="maya", password=PASSWORD) is not None
    assert authenticate(username="thera", password=PASSWORD) is not None
    admin = User.objects.get(username="admin")
    assert (admin.is_active, admin.is_superuser, admin.has_usable_password()) == (
        False,
        False,
        False,
    )
    assert authenticate(username="admin", password=PASSWORD) is None

    # New rows get new ids (the sequences moved past the imported ones) and history as usual.
    maya = Patient.objects.get(pk=patient.pk)
    active = maya.prescriptions.get(side="right", ended_at__isnull=True)
    new = log(maya, active, at=timezone.now() - HOUR, by=maya.user)
    assert new.pk > max(r["id"] for r in before["exercises.setlog"])
    assert new.history.get().history_id > max(
        r["history_id"] for r in before["exercises.historicalsetlog"]
    )
    # Nor the id of an object deleted before the export (the therapist who left), whose history
    # came along: a new membership with it would inherit that history.
    deleted_ids = {r["id"] for r in before["patients.historicalmembership"]} - {
        r["id"] for r in before["patients.membership"]
    }
    assert deleted_ids
    for _ in range(3):
        newcomer = MembershipFactory(clinic=Clinic.objects.get())
        assert newcomer.pk > max(deleted_ids)
        assert newcomer.history.count() == 1


def test_importing_writes_no_history_rows_of_its_own(tmp_path, patient, therapist):
    rx = prescription_start(patient=patient, side="left", stage=stage(1), by=therapist, at=T0)
    log(patient, rx, at=T0 + DAY, by=patient.user)
    path = export("riverside", tmp_path / "x.jsonl")
    history = sum(
        row_counts()[p.label] for p in PARTS if p.label.split(".")[1].startswith("historical")
    )
    empty_database()

    import_(path)

    # Raw saves: django-simple-history leaves them alone, so only the exported history exists.
    assert (
        sum(row_counts()[p.label] for p in PARTS if p.label.split(".")[1].startswith("historical"))
        == history
    )


# --- what is in the file ------------------------------------------------------------------------


def test_the_other_clinics_records_are_not_in_the_file(
    tmp_path, clinic, other_clinic, therapist, outsider, patient
):
    rx = prescription_start(patient=patient, side="left", stage=stage(1), by=therapist, at=T0)
    log(patient, rx, at=T0 + DAY, by=patient.user)
    zoe = build_other_clinic(other_clinic, outsider)

    header, body = split(export("riverside", tmp_path / "x.jsonl"))

    text = body.decode()
    for absent in ("hillcrest", "Hillcrest", '"outsider"', '"zoe"', zoe.record_number):
        assert absent not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert {r["fields"]["patient"] for r in lines if r["model"] == "exercises.setlog"} == {
        patient.pk
    }
    assert header["counts"]["patients.patient"] == 1
    assert header["counts"]["patients.accessevent"] == 0
    assert header["clinic"] == {"id": clinic.pk, "slug": "riverside", "name": clinic.name}


def test_the_file_carries_password_hashes_but_no_tokens_and_is_private(tmp_path, patient):
    Token.objects.create(user=patient.user)
    path = export("riverside", tmp_path / "x.jsonl")

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    _, body = split(path)
    [maya] = [json.loads(x) for x in body.splitlines() if b'"username": "maya"' in x]
    assert maya["fields"]["password"] == User.objects.get(username="maya").password
    assert "groups" not in maya["fields"]
    assert "authtoken" not in body.decode()


def test_export_refuses_an_unknown_clinic(tmp_path, clinic, other_clinic):
    with pytest.raises(
        CommandError,
        match=r"No clinic with the slug 'nowhere'\. Clinics here: hillcrest, riverside\.",
    ):
        export("nowhere", tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists()
    assert not (tmp_path / "x.jsonl.partial").exists()


def test_export_does_not_overwrite_a_file(tmp_path, clinic):
    (tmp_path / "x.jsonl").write_text("an older backup")
    with pytest.raises(CommandError, match="already exists"):
        export("riverside", tmp_path / "x.jsonl")
    assert (tmp_path / "x.jsonl").read_text() == "an older backup"


def test_export_refuses_to_print_to_a_terminal(monkeypatch, clinic):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    with pytest.raises(CommandError, match="Refusing to print a clinic's health records"):
        call_command("export_clinic", "riverside", "-o", "-", verbosity=0)


def test_every_model_with_clinic_data_is_exported_or_excluded_with_a_reason():
    """A new model in patients or exercises, or anywhere pointing at a clinic, a patient or a
    user, fails here until it is added to PARTS (with its selection) or EXCLUDED (with a reason)."""
    owners = {Clinic, Patient, User}
    concerned = {
        m._meta.label_lower
        # Concrete models, historical ones included; a proxy's rows are its concrete model's.
        for m in apps.get_models()
        if not m._meta.proxy
        and (
            m._meta.app_label in {"patients", "exercises"}
            or any(f.is_relation and f.related_model in owners for f in m._meta.concrete_fields)
        )
    }
    exported = {part.label for part in PARTS}
    assert not exported & set(EXCLUDED), "a model is both exported and excluded"
    assert concerned - exported - set(EXCLUDED) == set(), "not in backups: add to PARTS or EXCLUDED"
    assert all(len(reason) > 40 for reason in EXCLUDED.values())
    # Every historical model of an exported model is exported too.
    for part in PARTS:
        if hasattr(part.model, "history") and not part.reference:
            assert history_model(part.model)._meta.label_lower in exported


# --- refusals: each leaves the database as it was -----------------------------------------------


@pytest.fixture
def exported(tmp_path, clinic, therapist, patient) -> Path:
    rx = prescription_start(patient=patient, side="left", stage=stage(1), by=therapist, at=T0)
    log(patient, rx, at=T0 + DAY, by=patient.user)
    record_access(user=therapist, action=AccessAction.PATIENT_PAGE, patient=patient)
    return export("riverside", tmp_path / "riverside.jsonl")


def refused(path: Path, match: str) -> None:
    """The import refuses `path` with a message matching `match`, and writes nothing: no row,
    no file in the private files folder."""
    before, files = row_counts(), documents_on_disk()
    with pytest.raises(CommandError, match=match):
        import_(path)
    assert row_counts() == before
    assert documents_on_disk() == files


CHANGED = r"changed after export.*Nothing was imported"
OTHER_KEY = (
    r"signature does not match its header: the file was changed after export, or it was signed "
    r"with another key\. Nothing was imported\. Both servers of a move must share the same "
    r"EXPORT_SIGNING_KEY"
)


def test_import_refuses_a_clinic_that_is_already_there(exported):
    refused(exported, "already has the clinic 'riverside'")


def test_import_refuses_a_damaged_body(exported):
    data = exported.read_bytes()
    exported.write_bytes(data.replace(b'"reps": 12', b'"reps": 99'))
    empty_database()
    refused(exported, CHANGED)


def test_import_refuses_a_truncated_file(exported):
    data = exported.read_bytes()
    exported.write_bytes(data[: len(data) // 2])
    empty_database()
    refused(exported, CHANGED)


def test_import_refuses_an_edited_header(exported):
    header, body = split(exported)
    header["counts"]["exercises.setlog"] = 0
    exported.write_bytes(json.dumps(header).encode() + b"\n" + body)
    empty_database()
    refused(exported, OTHER_KEY)


def test_import_refuses_edited_rows_with_a_recomputed_digest_that_were_not_signed_again(exported):
    """What the unkeyed checksums of format 1 let through: rows edited, counts and SHA-256
    recomputed, but no key to sign the header again."""
    header, body = split(exported)
    new_body = body.replace(b'"reps": 12', b'"reps": 99')
    header["body_sha256"] = hashlib.sha256(new_body).hexdigest()
    exported.write_bytes(json.dumps(header).encode() + b"\n" + new_body)
    empty_database()
    refused(exported, OTHER_KEY)


def test_import_refuses_an_edited_file_signed_again_with_another_key(exported):
    with override_settings(EXPORT_SIGNING_KEY="a-key-that-is-not-this-servers-0123456789"):

        def more_reps(lines):
            row_of(lines, "exercises.setlog")["fields"]["reps"] = 20
            return lines

        tamper(exported, more_reps)
    empty_database()
    refused(exported, OTHER_KEY)


def test_import_refuses_a_genuine_export_from_a_server_with_another_key(exported):
    empty_database()
    with override_settings(EXPORT_SIGNING_KEY="the-new-servers-own-key-0123456789abcdef"):
        refused(exported, OTHER_KEY)


def test_import_refuses_an_unsigned_file(exported):
    header, body = split(exported)
    del header["signature"]
    exported.write_bytes(json.dumps(header).encode() + b"\n" + body)
    empty_database()
    refused(exported, r"The file is not signed: .*Nothing was imported\.")


def test_import_refuses_a_version_1_file_and_says_to_export_again(exported):
    """Format 1 had an unkeyed checksum where the signature now is."""
    header, body = split(exported)
    del header["signature"], header["documents"], header["documents_missing"]
    header["format_version"] = 1
    header["checksum"] = "sha256:" + hashlib.sha256(_canonical(header)).hexdigest()
    exported.write_bytes(json.dumps(header).encode() + b"\n" + body)
    empty_database()
    refused(
        exported,
        r"format version 1: an unsigned export.*Export the clinic again with this version of "
        r"the app",
    )


def test_import_refuses_an_unknown_format_version(exported):
    rewrite_header(exported, format_version=3)
    empty_database()
    refused(exported, "format version 3; this app .* reads version 2 only")


def test_import_refuses_a_file_that_is_not_an_export(tmp_path, db):
    path = tmp_path / "patients.csv"
    path.write_text("record_number,first_name\nMRN1,Maya\n")
    refused(path, "This is not a clinic export")


def test_import_refuses_a_file_from_another_schema_version(exported):
    header, _ = split(exported)
    rewrite_header(
        exported, schema={**header["schema"], "patients": ["0001_initial", "0099_future"]}
    )
    empty_database()
    refused(exported, "another schema version .*patients")


def test_import_refuses_when_a_username_of_the_clinic_is_taken(exported):
    empty_database()
    UserFactory(username="maya", id=999)
    refused(exported, r"The user 'maya' \(id \d+\) would collide with the user 'maya' \(id 999\)")


def test_import_refuses_when_a_user_id_of_the_clinic_is_taken(exported, therapist):
    empty_database()
    UserFactory(username="someone-else", id=therapist.pk)
    refused(
        exported,
        rf"The user 'thera' \(id {therapist.pk}\) would collide with the user 'someone-else'",
    )


def test_import_refuses_when_any_row_id_is_taken_and_writes_nothing(exported):
    """A collision at the very end of the file undoes everything written before it."""
    _, body = split(exported)
    last = json.loads(body.splitlines()[-1])
    assert last["model"] == "exercises.historicalsetlog"
    empty_database()
    SetLog.history.model.objects.create(
        history_id=last["pk"],
        **{
            k: v
            for k, v in last["fields"].items()
            if k
            not in {"patient", "prescription", "stage", "logged_by", "voided_by", "history_user"}
        },
    )
    refused(exported, rf"The database refused exercises\.historicalsetlog ids \d+-{last['pk']}:")


def test_import_refuses_a_different_ladder(exported):
    empty_database()
    Ladder.objects.update(slug="another-ladder")
    refused(exported, "ladder differs from the file's")


def test_import_keeps_this_databases_ladder_wording_and_says_so(exported):
    empty_database()
    Stage.objects.filter(number=1).update(name="Clamshell (edited)")

    output = import_(exported)

    assert "stage 1 (id" in output and "reads differently here (name)" in output
    assert Stage.objects.get(number=1).name == "Clamshell (edited)"
    assert Clinic.objects.get().slug == "riverside"
    assert AccessEvent.objects.count() == 1
    assert Membership.objects.count() == 1


# --- a file whose rows reach beyond its clinic: edited, and signed again with the key -----------

# Far above the ids the tests create, so the target's other clinic never collides with the file.
ELSEWHERE = 90_000


@pytest.fixture
def target_with_another_clinic(exported) -> dict[str, Any]:
    """The target server already runs another clinic, with a therapist, a patient and a
    prescription: what an edited file must not reach."""
    empty_database()
    hillcrest = ClinicFactory(id=ELSEWHERE, slug="hillcrest", name="Hillcrest Rehab")
    outsider = MembershipFactory(
        id=ELSEWHERE, clinic=hillcrest, user=UserFactory(id=ELSEWHERE, username="outsider")
    ).user
    zoe = PatientFactory(id=ELSEWHERE, clinic=hillcrest, primary_therapist=outsider)
    rx = PrescriptionFactory(id=ELSEWHERE, patient=zoe, prescribed_by=outsider)
    # Their history rows would take the ids the file's history rows have: collisions the import
    # already refuses, which would hide the check under test.
    for model in (Membership, Patient, Prescription):
        model.history.all().delete()
    return {"clinic": hillcrest, "user": outsider, "patient": zoe, "prescription": rx}


def test_import_refuses_a_membership_in_another_clinic(exported, target_with_another_clinic):
    """The file's therapist would become a member of the clinic already on this server."""

    def add_membership(lines):
        membership = row_of(lines, "patients.membership")
        extra = {**membership, "pk": 777, "fields": {**membership["fields"], "clinic": ELSEWHERE}}
        return [*lines, extra]

    tamper(exported, add_membership)
    refused(
        exported,
        r"The file's patients\.membership 777 belongs to clinic id 90000, not to the file's "
        r"clinic 'riverside' \(id \d+\)\. .*Nothing was imported\.",
    )
    assert not Membership.objects.filter(clinic_id=ELSEWHERE).exclude(pk=ELSEWHERE).exists()


def test_import_refuses_a_patient_of_another_clinic(exported, target_with_another_clinic):
    def move_patient(lines):
        row_of(lines, "patients.patient")["fields"]["clinic"] = ELSEWHERE
        return lines

    tamper(exported, move_patient)
    refused(exported, r"The file's patients\.patient \d+ belongs to clinic id 90000")


def test_import_refuses_history_in_another_clinic(exported, target_with_another_clinic):
    def move_history(lines):
        row_of(lines, "patients.historicalmembership")["fields"]["clinic"] = ELSEWHERE
        return lines

    tamper(exported, move_history)
    refused(exported, r"The file's patients\.historicalmembership \d+ belongs to clinic id 90000")


def test_import_refuses_a_set_logged_for_another_clinics_patient(
    exported, target_with_another_clinic
):
    def log_for_zoe(lines):
        row_of(lines, "exercises.setlog")["fields"]["patient"] = ELSEWHERE
        return lines

    tamper(exported, log_for_zoe)
    refused(
        exported,
        r"The file's exercises\.setlog \d+ points at patients\.patient 90000 \(field "
        r"'patient'\), which is not among the file's rows",
    )
    assert SetLog.objects.count() == 0


def test_import_refuses_a_set_on_another_clinics_prescription(exported, target_with_another_clinic):
    rx = target_with_another_clinic["prescription"]

    def log_on_zoes_prescription(lines):
        row_of(lines, "exercises.setlog")["fields"]["prescription"] = rx.pk
        return lines

    tamper(exported, log_on_zoes_prescription)
    refused(exported, rf"exercises\.setlog \d+ points at exercises\.prescription {rx.pk}")


def test_import_refuses_history_naming_another_clinics_patient(
    exported, target_with_another_clinic
):
    def history_for_zoe(lines):
        row_of(lines, "exercises.historicalsetlog")["fields"]["patient"] = ELSEWHERE
        return lines

    tamper(exported, history_for_zoe)
    refused(exported, r"exercises\.historicalsetlog \d+ points at patients\.patient 90000")


def test_import_refuses_history_added_to_another_clinics_patient(
    exported, target_with_another_clinic
):
    """A history row of the file's clinic, but for an object id that is the other clinic's
    patient here: that patient's history page would show it."""

    def graft_history(lines):
        history = row_of(lines, "patients.historicalpatient")
        extra = {**history, "pk": 777, "fields": {**history["fields"], "id": ELSEWHERE}}
        return [*lines, extra]

    tamper(exported, graft_history)
    refused(
        exported,
        r"The file's patients\.historicalpatient 777 is history of patients\.patient 90000, "
        r"which is in this database and not in the file",
    )


def test_import_refuses_a_login_that_is_a_user_already_here(exported, target_with_another_clinic):
    """The file's patient would sign in as the other clinic's therapist, or the reverse."""

    def take_over_login(lines):
        row_of(lines, "patients.patient")["fields"]["user"] = ELSEWHERE
        return lines

    tamper(exported, take_over_login)
    refused(exported, r"patients\.patient \d+ points at auth\.user 90000 \(field 'user'\)")


def test_import_strips_staff_and_superuser_status_from_an_edited_file(exported):
    def promote(lines):
        for line in lines:
            if line["model"] == "auth.user":
                line["fields"].update(is_superuser=True, is_staff=True)
        return lines

    tamper(exported, promote)
    empty_database()

    output = import_(exported)

    assert "Imported clinic 'riverside'" in output
    assert "staff and superuser status removed from thera, maya" in output
    assert not User.objects.filter(is_superuser=True).exists()
    assert not User.objects.filter(is_staff=True).exists()


def test_a_member_who_was_an_admin_there_comes_back_without_admin_rights(
    tmp_path, clinic, therapist, staff
):
    User.objects.filter(pk=therapist.pk).update(is_superuser=True, is_staff=True)
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    path = export("riverside", tmp_path / "x.jsonl")
    empty_database()

    output = import_(path)

    assert "staff and superuser status removed from thera, staffer." in output
    thera = User.objects.get(username="thera")
    assert (thera.is_superuser, thera.is_staff, thera.is_active) == (False, False, True)
    assert not User.objects.get(username="staffer").is_staff
    assert authenticate(username="thera", password=PASSWORD) == thera
    assert thera.memberships.get().clinic.slug == "riverside"  # the clinic role stays


def test_an_import_without_admins_says_nothing_about_admin_rights(exported):
    empty_database()
    assert "admin rights" not in import_(exported)


# --- the export's snapshot ----------------------------------------------------------------------


# `reseed_after_flush` before `transactional_db`: it puts the ladder back after the final flush.
def test_the_export_reads_one_snapshot_without_holding_the_write_lock(
    reseed_after_flush, transactional_db, clinic, patient
):
    """On SQLite every other transaction takes the write lock at BEGIN (IMMEDIATE); the export
    only reads, so it must not, or every set logged during an export would wait for it."""
    with CaptureQueriesContext(connection) as queries:
        clinic_export(slug="riverside", out=BytesIO())
    first = queries.captured_queries[0]["sql"]
    if connection.vendor == "sqlite":
        assert first == "BEGIN DEFERRED"
        # Only the export's own transaction: the next one is IMMEDIATE again.
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            Clinic.objects.count()
        assert queries.captured_queries[0]["sql"] == "BEGIN IMMEDIATE"
    else:
        # The isolation level must come first in the transaction (psycopg's BEGIN aside).
        assert next(q["sql"] for q in queries.captured_queries[:2] if q["sql"] != "BEGIN") == (
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        )


# --- the scanned copies of clearance notes ------------------------------------------------------


def test_export_refuses_a_scanned_copy_missing_from_disk_and_names_its_note(
    tmp_path, therapist, patient_requiring_clearance
):
    ines = patient_requiring_clearance
    recorded = note(ines, by=therapist, document=scan())
    private_storage().delete(recorded.document.name)

    with pytest.raises(
        CommandError,
        match=rf"1 scanned copy of clearance notes is missing from the private files folder "
        rf"\(PRIVATE_FILES_ROOT\): clearance note {recorded.pk} \(patient "
        rf"{ines.record_number}\): {recorded.document.name}\. .*--allow-missing-documents",
    ):
        export("riverside", tmp_path / "x.jsonl")
    assert not list(tmp_path.iterdir())


def test_export_allowed_without_a_missing_scanned_copy_lists_it_and_the_import_says_so(
    tmp_path, therapist, patient_requiring_clearance
):
    recorded = note(patient_requiring_clearance, by=therapist, document=scan())
    name = recorded.document.name
    private_storage().delete(name)
    err = StringIO()
    call_command(
        "export_clinic",
        "riverside",
        "-o",
        str(tmp_path / "x.jsonl"),
        "--allow-missing-documents",
        stderr=err,
        verbosity=0,
    )
    assert "Exported without these scanned copies" in err.getvalue() and name in err.getvalue()
    header, _ = split(tmp_path / "x.jsonl")
    assert (header["documents"], header["documents_missing"]) == ({}, [name])
    empty_database()

    output = import_(tmp_path / "x.jsonl")

    assert f"restored without it: {name}" in output
    assert ClearanceNote.objects.get().document.name == name  # as it was: named, not on disk
    assert documents_on_disk() == {}


def test_import_removes_the_documents_it_wrote_when_the_import_fails_after_them(
    tmp_path, therapist, patient_requiring_clearance, monkeypatch
):
    note(patient_requiring_clearance, by=therapist, document=scan())
    path = export("riverside", tmp_path / "x.jsonl")
    empty_database()
    shutil.rmtree(private_storage().location)

    def fail(*args: Any) -> None:
        assert documents_on_disk(), "the documents were written before this step"
        raise DatabaseError("the disk is full")

    monkeypatch.setattr(restore, "_sequences_reset", fail)
    refused(path, "The database refused .*the disk is full")
    assert documents_on_disk() == {}


def test_import_refuses_a_different_file_under_a_scanned_copys_name(
    tmp_path, therapist, patient_requiring_clearance
):
    recorded = note(patient_requiring_clearance, by=therapist, document=scan())
    path = export("riverside", tmp_path / "x.jsonl")
    empty_database()
    (Path(private_storage().location) / recorded.document.name).write_bytes(b"other")

    refused(path, rf"already holds {recorded.document.name}, with other content")
    assert documents_on_disk() == {recorded.document.name: b"other"}


# --- the replay check: the clinical rows must pass the services' own rules ----------------------


@pytest.fixture
def clinical(tmp_path, clinic, therapist, patient, patient_requiring_clearance) -> dict[str, Any]:
    """A clinic written through the services, exported, on its way to a new server (an empty
    database and private files folder):

    - Maya (no clearance needed): left side stage 1 from T0 with a set, advanced to stage 2 at
      T0 + 3 days with a set; right side stage 1 from T0, no sets.
    - Ines (pelvic fracture): cleared with restrictions two days before T0, no internal rotation
      of the right hip, with a scanned copy; right side stage 1 from T0 with a set.
    """
    maya, ines = patient, patient_requiring_clearance
    left1 = prescription_start(patient=maya, side="left", stage=stage(1), by=therapist, at=T0)
    early = log(maya, left1, at=T0 + DAY, by=maya.user)
    left2 = prescription_advance(prescription=left1, by=therapist, at=T0 + 3 * DAY)
    late = log(maya, left2, at=T0 + 4 * DAY, by=maya.user)
    right = prescription_start(patient=maya, side="right", stage=stage(1), by=therapist, at=T0)
    restricted = note(
        ines,
        by=therapist,
        at=T0 - 2 * DAY,
        decision=Decision.RESTRICTED,
        precautions=[Precaution.NO_INTERNAL_ROTATION],
        operated_side="right",
        document=scan(),
    )
    ines_right = prescription_start(patient=ines, side="right", stage=stage(1), by=therapist, at=T0)
    ines_set = log(ines, ines_right, at=T0 + DAY, by=therapist, source=Source.CLINIC)
    path = export("riverside", tmp_path / "riverside.jsonl")
    empty_database()
    shutil.rmtree(private_storage().location)
    return {
        "path": path,
        "maya": maya,
        "ines": ines,
        "left1": left1,
        "left2": left2,
        "right": right,
        "early": early,
        "late": late,
        "note": restricted,
        "ines_right": ines_right,
        "ines_set": ines_set,
    }


def test_the_clinical_fixture_imports_as_it_is(clinical):
    """The refusals below come from the edits, not from the data."""
    assert "Imported clinic 'riverside'" in import_(clinical["path"])
    assert list(documents_on_disk()) == [clinical["note"].document.name]


def _change_start(lines: list[dict[str, Any]], rx: Prescription, stage_number: int) -> None:
    """Move a prescription to another stage the way a careful editor would: the prescription,
    the stage change that starts it and its sets, so that only the gate can object."""
    row_of(lines, "exercises.prescription", rx.pk)["fields"]["stage"] = stage(stage_number).pk
    for change in rows_of(lines, "exercises.stagechange", prescription=rx.pk):
        change["fields"]["to_stage"] = stage(stage_number).pk
    for set_row in rows_of(lines, "exercises.setlog", prescription=rx.pk):
        set_row["fields"]["stage"] = stage(stage_number).pk


def test_import_refuses_a_stage_4_prescription_of_a_patient_without_clearance(clinical):
    maya, right = clinical["maya"], clinical["right"]

    def stage_4_without_clearance(lines):
        for row in rows_of(lines, "patients.patient") + rows_of(
            lines, "patients.historicalpatient"
        ):
            if row["fields"].get("id", row["pk"]) == maya.pk:
                row["fields"].update(requires_clearance=True, clearance_reason="hip fracture")
        _change_start(lines, right, 4)
        return lines

    tamper(clinical["path"], stage_4_without_clearance)
    refused(
        clinical["path"],
        rf"- exercises\.prescription {right.pk} \(patient {maya.record_number}, right side, "
        rf"stage 4, started [^)]+\) \(started by start change exercises\.stagechange \d+\) does "
        r"not pass the clearance gate on [-\d]+, as it stood when the prescription started: "
        r"Maya Lindqvist needs medical clearance \(hip fracture\) before stage 4, and no "
        r"clearance note signed on or before .* clears them",
    )
    assert not Clinic.objects.exists() and not Prescription.objects.exists()


def test_import_refuses_a_prescription_the_notes_precautions_rule_out(clinical):
    """Stage 2 turns the top hip inwards: the note rules it out on the operated (right) side."""
    ines, rx = clinical["ines"], clinical["ines_right"]
    tamper(clinical["path"], lambda lines: _change_start(lines, rx, 2) or lines)
    refused(
        clinical["path"],
        rf"exercises\.prescription {rx.pk} \(patient {ines.record_number}, right side, stage 2, "
        r"started .*does not pass the clearance gate .*Stage 2 turns the right hip inwards, which "
        r"the clearance of .* rules out \(no hip internal rotation past neutral\)",
    )


def test_import_refuses_a_set_performed_after_its_prescription_ended(clinical):
    early, left1 = clinical["early"], clinical["left1"]

    def after_the_advance(lines):
        fields = row_of(lines, "exercises.setlog", early.pk)["fields"]
        fields["performed_at"] = (T0 + 3 * DAY + HOUR).isoformat()
        fields["logged_at"] = (T0 + 3 * DAY + 2 * HOUR).isoformat()
        return lines

    tamper(clinical["path"], after_the_advance)
    refused(
        clinical["path"],
        rf"exercises\.setlog {early.pk} \(patient {clinical['maya'].record_number}, left side, "
        rf"stage 1, performed .*\) was performed after its prescription ended \(.*\): "
        rf"exercises\.prescription {left1.pk} ",
    )


def test_import_refuses_a_set_whose_stage_is_not_its_prescriptions(clinical):
    late, left2 = clinical["late"], clinical["left2"]

    def other_stage(lines):
        row_of(lines, "exercises.setlog", late.pk)["fields"]["stage"] = stage(3).pk
        return lines

    tamper(clinical["path"], other_stage)
    refused(
        clinical["path"],
        rf"exercises\.setlog {late.pk} \(patient \w+, left side, stage 3, .*\) is not at the "
        rf"stage and side of its prescription: exercises\.prescription {left2.pk} \(patient "
        r"\w+, left side, stage 2",
    )


def test_import_refuses_a_set_performed_long_before_it_was_logged(clinical):
    late = clinical["late"]

    def back_dated(lines):
        fields = row_of(lines, "exercises.setlog", late.pk)["fields"]
        fields["logged_at"] = (T0 + 40 * DAY).isoformat()
        return lines

    tamper(clinical["path"], back_dated)
    refused(
        clinical["path"],
        rf"exercises\.setlog {late.pk} .* was performed more than 30 days before it was logged",
    )


def test_import_refuses_a_stage_change_whose_shape_does_not_match_its_prescription(clinical):
    left2 = clinical["left2"]
    progressed = StageChange.objects.none()  # the database is empty now: find it in the file

    def skip_a_stage(lines):
        nonlocal progressed
        [progressed] = rows_of(
            lines, "exercises.stagechange", prescription=left2.pk, reason="progressed"
        )
        progressed["fields"]["from_stage"] = stage(3).pk
        return lines

    tamper(clinical["path"], skip_a_stage)
    refused(
        clinical["path"],
        rf"exercises\.stagechange {progressed['pk']} \(patient \w+, left side, progressed: "
        r"stage 3 → stage 2, at .*\) does not match what the app records: it comes from stage 3, "
        rf"where a progressed change of exercises\.prescription {left2.pk} .* comes from stage 1",
    )


def test_import_refuses_a_step_down_that_ends_no_prescription(clinical):
    """Dressed up as a step down (which the gate lets through), a start would slip past the
    gate; but a step ends the prescription it steps from, and none ends here."""
    right = clinical["right"]
    start = None

    def fake_regress(lines):
        nonlocal start
        [start] = rows_of(lines, "exercises.stagechange", prescription=right.pk)
        start["fields"].update(reason="regressed", from_stage=stage(2).pk)
        return lines

    tamper(clinical["path"], fake_regress)
    refused(
        clinical["path"],
        rf"exercises\.stagechange {start['pk']} \(patient \w+, right side, regressed: stage 2 → "
        r"stage 1, at .*\) does not match what the app records: no prescription of the right "
        r"side at stage 2 ends at that moment",
    )


def test_import_refuses_a_clearance_note_that_fails_its_own_validation(clinical):
    recorded = clinical["note"]

    def operated_after_signing(lines):
        fields = row_of(lines, "patients.clearancenote", recorded.pk)["fields"]
        fields["procedure_on"] = (recorded.signed_on + DAY).isoformat()
        return lines

    tamper(clinical["path"], operated_after_signing)
    refused(
        clinical["path"],
        rf"patients\.clearancenote {recorded.pk} \(patient {clinical['ines'].record_number}, "
        r"signed .*\) fails the note's own validation: procedure_on: The procedure or injury "
        r"cannot be after the sign-off",
    )


def test_import_refuses_a_set_logged_after_the_patients_discharge(clinical):
    late = clinical["late"]

    def discharged_before(lines):
        for row in rows_of(lines, "patients.patient") + rows_of(
            lines, "patients.historicalpatient"
        ):
            if row["fields"].get("id", row["pk"]) == clinical["maya"].pk:
                row["fields"]["discharged_at"] = (T0 + 3 * DAY + HOUR).isoformat()
        return lines

    tamper(clinical["path"], discharged_before)
    refused(
        clinical["path"],
        rf"exercises\.setlog {late.pk} .* was logged after the patient's discharge",
    )


def test_import_refuses_a_requirement_turned_off_without_a_note_that_ends_it(clinical):
    """The reported hole, at this door: a history where Ines's requirement was simply unticked.
    Only a "no further clearance needed" note ends it, and the file has none."""
    ines = clinical["ines"]

    def unticked(lines):
        history = [
            row
            for row in rows_of(lines, "patients.historicalpatient")
            if row["fields"]["id"] == ines.pk
        ]
        later = copy.deepcopy(history[-1])
        later["pk"] = max(r["pk"] for r in rows_of(lines, "patients.historicalpatient")) + 1
        later["fields"].update(
            requires_clearance=False,
            history_type="~",
            history_date=(
                dt.datetime.fromisoformat(history[-1]["fields"]["history_date"]) + HOUR
            ).isoformat(),
        )
        lines.insert(lines.index(history[-1]) + 1, later)
        row_of(lines, "patients.patient", ines.pk)["fields"]["requires_clearance"] = False
        return lines

    tamper(clinical["path"], unticked)
    refused(
        clinical["path"],
        rf"patients\.patient {ines.pk} \(patient {ines.record_number}, history of .*\) turns "
        r"the clearance requirement off without a clearance note that ends it",
    )


def test_a_genuine_export_including_an_ended_requirement_imports_cleanly(
    tmp_path, therapist, patient, patient_requiring_clearance
):
    """Written through the services as they run, with the wall clock: Ines is cleared, starts at
    stage 2, then the medical team ends her requirement ("no further clearance needed") and she
    moves up with no clearance in force; Maya never needed any."""
    ines = patient_requiring_clearance

    def log_now(who: Patient, rx: Prescription, by: Any) -> None:
        set_log(
            SetLogRequest(
                patient=who,
                prescription=rx,
                reps=15,
                pain=1,
                performed_at=timezone.now(),
                client_id=uuid.uuid4(),
                by=by,
                source=Source.CLINIC,
            )
        )

    note(ines, by=therapist, document=scan())
    rx = prescription_start(patient=ines, side="left", stage=stage(2), by=therapist)
    log_now(ines, rx, therapist)
    note(ines, by=therapist, decision=Decision.NOT_REQUIRED, review_on=None)
    ines.refresh_from_db()
    assert not ines.requires_clearance
    rx = prescription_advance(prescription=rx, by=therapist)
    log_now(ines, rx, therapist)
    maya_rx = prescription_start(patient=patient, side="right", stage=stage(1), by=therapist)
    log_now(patient, maya_rx, patient.user)
    before = rows(ines.clinic_id)
    path = export("riverside", tmp_path / "x.jsonl")
    empty_database()
    shutil.rmtree(private_storage().location)

    assert "Imported clinic 'riverside'" in import_(path)
    assert rows(ines.clinic_id) == as_restored(before, {"thera", "maya"})
    assert len(documents_on_disk()) == 1


def test_import_refuses_a_live_row_that_drops_a_requirement_its_history_still_holds(clinical):
    """Only the live row edited: the history says Ines still needs clearance, the row does not."""
    ines = clinical["ines"]

    def untick_live_row(lines):
        row_of(lines, "patients.patient", ines.pk)["fields"]["requires_clearance"] = False
        return lines

    tamper(clinical["path"], untick_live_row)
    refused(
        clinical["path"],
        rf"patients\.patient {ines.pk} \(patient {ines.record_number}\) does not require "
        r"clearance, but its history's last row still does",
    )


@pytest.fixture
def ended(tmp_path, therapist, patient_requiring_clearance) -> dict[str, Any]:
    """Ines cleared today, then her requirement ended today ("no further clearance needed"),
    exported and on its way to a new server."""
    ines = patient_requiring_clearance
    cleared = note(ines, by=therapist)
    ending = note(ines, by=therapist, decision=Decision.NOT_REQUIRED, review_on=None)
    path = export("riverside", tmp_path / "ended.jsonl")
    empty_database()
    shutil.rmtree(private_storage().location)
    return {"path": path, "ines": ines, "cleared": cleared, "ending": ending}


def test_the_ended_fixture_imports_as_it_is(ended):
    assert "Imported clinic 'riverside'" in import_(ended["path"])


def test_import_refuses_an_ending_signed_before_a_note_recorded_earlier(ended):
    """The service refuses to end a requirement on a sign-off older than a note already
    recorded; an edited file must not do it either."""
    ines, ending, cleared = ended["ines"], ended["ending"], ended["cleared"]
    backdated = cleared.signed_on - 5 * DAY

    def backdate(lines):
        row_of(lines, "patients.clearancenote", ending.pk)["fields"]["signed_on"] = (
            backdated.isoformat()
        )
        return lines

    tamper(ended["path"], backdate)
    refused(
        ended["path"],
        rf"patients\.clearancenote {ending.pk} \(patient {ines.record_number}, signed "
        rf"{backdated}, recorded [^)]+\) ends the clearance requirement on a sign-off the app "
        r"refuses: A note signed later \(",
    )
