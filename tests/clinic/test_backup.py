"""export_clinic / import_clinic: one clinic's records out to a file and back, exactly.

The round trip runs with real commits (`transactional_db`), so PostgreSQL checks every foreign key
as it would in production; run this file with DATABASE_URL set to cover PostgreSQL too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
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
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.color import no_style
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from clinic import backup
from clinic.backup import EXCLUDED, PARTS, REFERENCED_ONLY, Scope, header_checksum
from exercises.models import Ladder, Prescription, SetLog, Source, Stage, StageChange
from exercises.services import (
    patient_discharge,
    prescription_advance,
    prescription_regress,
    prescription_start,
    set_log,
    set_void,
)
from patients.audit import record_access
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
from patients.services import patient_update
from tests.factories import (
    PASSWORD,
    ClinicFactory,
    MembershipFactory,
    PatientFactory,
    PrescriptionFactory,
    UserFactory,
    record_clearance,
    stage,
)

User = get_user_model()
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
# Times with microseconds: the file must keep them (Django's JSON encoder would cut them).
T0 = (timezone.now() - 20 * DAY).replace(microsecond=123456)


# --- building a clinic worth backing up --------------------------------------------------------


def log(patient: Patient, prescription: Any, *, at: dt.datetime, by: Any, **kwargs: Any) -> SetLog:
    return set_log(
        patient=patient,
        prescription=prescription,
        performed_at=at,
        client_id=uuid.uuid4(),
        by=by,
        now=at + HOUR,
        **{"reps": 12, "pain": 2, "source": Source.APP, **kwargs},
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
    """Both sides, progress and regress, a voided set, clearance, a discharge, a patient edit by
    the admin (who is no member), a therapist who has left, and reads in the access log."""
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

    record_clearance(
        ines,
        by=therapist,
        signed_on=(T0 - 2 * DAY).date(),
        review_on=(T0 + 90 * DAY).date(),
        decision=Decision.RESTRICTED,
        max_stage=2,
        restrictions="Nothing above stage 2 until the review.",
    )
    prescription_start(patient=ines, side="right", stage=stage(1), by=therapist, at=T0)

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
    """Edit the header as someone who knows the format would: with a valid checksum."""
    header, body = split(path)
    header.update(changes)
    header["checksum"] = header_checksum(header)
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)


def tamper(path: Path, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Edit the rows as someone who knows the format would: counts and checksums recomputed, so
    only the import's own checks stand between the file and the database."""
    header, body = split(path)
    lines = edit([json.loads(line) for line in body.splitlines()])
    new_body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    counts = dict.fromkeys(header["counts"], 0)
    for line in lines:
        counts[line["model"]] += 1
    path.write_bytes(json.dumps(header).encode() + b"\n" + new_body)
    rewrite_header(path, counts=counts, body_sha256=hashlib.sha256(new_body).hexdigest())


def row_of(lines: list[dict[str, Any]], model: str) -> dict[str, Any]:
    return next(line for line in lines if line["model"] == model)


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
        AccessEvent: "clinic_id = %(c)s",
        Membership.history.model: "clinic_id = %(c)s",
        Patient.history.model: "clinic_id = %(c)s",
        ClearanceNote.history.model: of_any_patient,
        Prescription.history.model: of_any_patient,
        StageChange.history.model: of_any_patient,
        SetLog.history.model: of_any_patient,
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

    first = export("riverside", tmp_path / "first.jsonl")
    empty_database()
    assert not Clinic.objects.exists() and not User.objects.exists()
    output = import_(first)

    assert "Imported clinic 'riverside'" in output
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
    # moment of export (and the header checksum, which covers that moment).
    second = export("riverside", tmp_path / "second.jsonl")
    (h1, body1), (h2, body2) = split(first), split(second)
    assert body1 == body2
    ignored = {"exported_at", "checksum"}
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
            assert backup.history_model(part.model)._meta.label_lower in exported


# --- refusals: each leaves the database as it was -----------------------------------------------


@pytest.fixture
def exported(tmp_path, clinic, therapist, patient) -> Path:
    rx = prescription_start(patient=patient, side="left", stage=stage(1), by=therapist, at=T0)
    log(patient, rx, at=T0 + DAY, by=patient.user)
    record_access(user=therapist, action=AccessAction.PATIENT_PAGE, patient=patient)
    return export("riverside", tmp_path / "riverside.jsonl")


def refused(path: Path, match: str) -> None:
    before = row_counts()
    with pytest.raises(CommandError, match=match):
        import_(path)
    assert row_counts() == before


def test_import_refuses_a_clinic_that_is_already_there(exported):
    refused(exported, "already has the clinic 'riverside'")


def test_import_refuses_a_damaged_body(exported):
    data = exported.read_bytes()
    exported.write_bytes(data.replace(b'"reps": 12', b'"reps": 99'))
    empty_database()
    refused(exported, "body's SHA-256 does not match")


def test_import_refuses_a_truncated_file(exported):
    data = exported.read_bytes()
    exported.write_bytes(data[: len(data) // 2])
    empty_database()
    refused(exported, "body's SHA-256 does not match")


def test_import_refuses_an_edited_header(exported):
    header, body = split(exported)
    header["counts"]["exercises.setlog"] = 0
    exported.write_bytes(json.dumps(header).encode() + b"\n" + body)
    empty_database()
    refused(exported, "header's checksum does not match")


def test_import_refuses_an_unknown_format_version(exported):
    rewrite_header(exported, format_version=2)
    empty_database()
    refused(exported, "format version 2; this app .* reads version 1 only")


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


# --- a file whose rows reach beyond its clinic: edited, with recomputed checksums ---------------

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
        backup.clinic_export(slug="riverside", out=BytesIO())
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
