"""The bench database guard: a bench run wipes its database and writes sets into it, so it rebuilds
only a database named for benchmarks that holds nothing but what a bench rebuild made, and measures
only on such a database."""

import io
import sqlite3
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from clinic.bench import database
from clinic.bench.generate import SIZES, generate_network
from tests.factories import ClinicFactory


def _rebuild(path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.rebuild_probe", str(path)],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _query(path, sql):
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def test_it_rebuilds_only_what_a_rebuild_made(tmp_path):
    path = tmp_path / "scratch-bench.sqlite3"

    # Named for benchmarks, but tables the bench never marked: someone's data, left alone.
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('keep me')")
    outcome = _rebuild(path)
    assert outcome.startswith("refused:") and "not the marker" in outcome
    assert _query(path, "SELECT body FROM notes") == [("keep me",)]

    # A new database: rebuilt, marked and migrated.
    path.unlink()
    assert _rebuild(path) == "rebuilt"
    assert _query(path, "PRAGMA application_id") == [(database.SQLITE_APPLICATION_ID,)]
    assert _query(path, "SELECT COUNT(*) FROM patients_clinic") == [(0,)]
    # Marked, holding generated clinics only: rebuilt again.
    _add_clinic(path, "bench-01")
    assert _rebuild(path) == "rebuilt"
    assert _query(path, "SELECT COUNT(*) FROM patients_clinic") == [(0,)]

    # Marked, but holding a clinic the generator did not write: a real clinic, left alone.
    _add_clinic(path, "bench-01")
    _add_clinic(path, "riverside")
    outcome = _rebuild(path)
    assert outcome.startswith("refused:") and "riverside" in outcome
    assert _query(path, "SELECT slug FROM patients_clinic ORDER BY slug") == [
        ("bench-01",),
        ("riverside",),
    ]


def _add_clinic(path, slug):
    # Every column without a database default (the thresholds are the defaults).
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO patients_clinic (name, slug, timezone, phone, progress_at_reps, "
            "pain_ceiling, pain_alert_above, pain_lookback_days, silent_days, review_soon_days, "
            "created_at) VALUES (?, ?, 'Europe/London', '', 20, 3, 5, 7, 7, 7, "
            "'2026-01-01 00:00:00')",
            [slug.title(), slug],
        )


def test_it_refuses_to_measure_on_a_database_no_rebuild_marked(db):
    generate_network(SIZES["tiny"])
    with pytest.raises(CommandError, match="not the marker a bench rebuild writes"):
        call_command("bench", size="tiny", no_api=True, repeats=1, stdout=io.StringIO())


def test_it_refuses_to_measure_on_a_database_with_a_real_clinic(db):
    generate_network(SIZES["tiny"])
    database.mark()
    ClinicFactory(slug="riverside")
    with pytest.raises(CommandError, match="riverside"):
        call_command("bench", size="tiny", no_api=True, repeats=1, stdout=io.StringIO())


def test_a_marked_database_of_generated_clinics_is_a_bench_database(db):
    generate_network(SIZES["tiny"])
    with pytest.raises(database.NotABenchDatabase):
        database.require_bench_database()
    database.mark()
    database.require_bench_database()
