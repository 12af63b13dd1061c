"""`manage.py bench` at the tiny size: its JSON, equal query counts at a small and a large clinic,
the SQL floor agreeing with the report's figures, and the guard that keeps it off real data."""

import datetime as dt
import io
import json
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic import clinic_report as figures
from clinic.bench import database
from clinic.bench.floor import report_floor
from clinic.bench.generate import GENERATED_SLUG, SIZES, generate_network
from clinic.bench.pages import measure_floor
from clinic.management.commands.bench import render_table
from exercises.models import SetLog
from patients.models import Clinic

PAGES = {"dashboard", "patient page", "clinic report"}


@pytest.fixture
def network(db):
    counts = generate_network(SIZES["tiny"])
    # As a bench rebuild leaves it: the bench measures only on a marked database.
    database.mark()
    return counts


def test_it_writes_the_results_as_json_and_prints_a_table(network, tmp_path):
    out = io.StringIO()
    path = tmp_path / "results.json"
    call_command("bench", size="tiny", no_api=True, repeats=1, json=str(path), stdout=out)

    results = json.loads(path.read_text())
    assert results["size"] == "tiny" and results["api"] is None
    assert set(results["pages"]["pages"]) == PAGES
    for page in results["pages"]["pages"].values():
        assert set(page) >= {"small_ms", "large_ms", "ratio", "target", "met", "queries_equal"}
        assert page["small_ms"] > 0 and page["large_ms"] > 0
    small, large = results["pages"]["small"], results["pages"]["large"]
    assert small["patients"] < large["patients"]
    floor = results["floor"]
    assert set(floor) >= {"page_ms", "floor_ms", "figures_ms", "ratio", "target", "met"}
    text = out.getvalue()
    assert "a. clinic report" in text and "b. SQL floor → clinic report" in text
    # Every page costs the same queries at the smallest and at the largest clinic.
    for name, page in results["pages"]["pages"].items():
        assert page["queries_small"] == page["queries_large"], name
        assert page["queries_equal"], name


@pytest.mark.skipif(
    "bench" in str(connection.settings_dict["NAME"]), reason="the test database is named for bench"
)
def test_it_refuses_to_rebuild_a_database_not_named_for_benchmarks(db):
    # The test database's name has no "bench" in it: nothing may be wiped. (Not marked either,
    # so that the contents check would refuse too.)
    network = generate_network(SIZES["tiny"])
    with pytest.raises(CommandError, match="must contain 'bench'"):
        call_command("bench", size="tiny", fresh=True, no_api=True, stdout=io.StringIO())
    assert SetLog.objects.count() == network.sets


def test_it_refuses_to_measure_without_a_generated_network(db):
    database.mark()
    with pytest.raises(CommandError, match="No generated network"):
        call_command("bench", size="tiny", no_api=True, stdout=io.StringIO())


def _floor_and_report(clinic, *, days=30):
    now = timezone.now()
    last = clinic.local_date(now)
    scope = figures.Scope(
        clinic=clinic, first=last - dt.timedelta(days=days - 1), last=last, now=now
    )
    return report_floor(scope), scope


@pytest.mark.parametrize("days", [30, 75])
def test_the_sql_floor_computes_the_figures_of_the_report(network, days):
    # Every clinic of the tiny network, so that each figure has rows somewhere (clearance notes
    # are held by one patient in ten).
    seen = Counter()
    for clinic in Clinic.objects.filter(slug__regex=GENERATED_SLUG):
        rows, scope = _floor_and_report(clinic, days=days)
        seen.update(r[0] for r in rows)
        _assert_floor_matches_report(rows, scope)
    for figure in ("stage", "change", "backlog", "sessions", "window", "clearance"):
        assert seen[figure] > 0, figure
    if days == 75:
        assert seen["time_at_stage"] > 0


def _assert_floor_matches_report(rows, scope):
    by_figure = Counter(r[0] for r in rows)

    stages = {(r[1], r[2]): (r[3], r[4]) for r in rows if r[0] == "stage"}
    for count in figures.stage_distribution(scope):
        assert stages.get((count.stage.pk, count.side), (0, 0)) == (count.at_start, count.at_end)
    changes = {r[2]: r[3] for r in rows if r[0] == "change"}
    for reason, n in figures.changes_by_reason(scope).items():
        assert changes.get(reason, 0) == n

    # Time at stage: per stage, the progressions and the shortest and longest days.
    at_stage = {r[1]: (r[3], r[4] / 86400, r[5] / 86400) for r in rows if r[0] == "time_at_stage"}
    report_at_stage = figures.time_at_stage(scope)
    assert set(at_stage) == {t.stage.pk for t in report_at_stage}
    for t in report_at_stage:
        n, shortest, longest = at_stage[t.stage.pk]
        assert n == t.progressions
        assert shortest == pytest.approx(t.shortest) and longest == pytest.approx(t.longest)

    [pain_row] = [r for r in rows if r[0] == "pain"]
    pain = figures.pain(scope)
    assert (pain_row[3], pain_row[4] or 0, pain_row[5]) == (
        pain.sets,
        pain.painful_sets,
        pain.painful_patients,
    )
    assert {(r[1], r[3]) for r in rows if r[0] == "pain_alert"} == {
        (p.pk, p.recent_max_pain) for p in pain.open_alerts
    }
    assert {r[1] for r in rows if r[0] == "backlog"} == {
        w.prescription.pk for w in figures.readiness_backlog(scope)
    }

    # Sessions, days prescribed and the target weighted by those days, per patient and side.
    sessions = {(r[1], r[2]): r[3:] for r in rows if r[0] == "sessions"}
    report_sessions = figures.sessions_per_week(scope)
    assert set(sessions) == {(s.patient.pk, s.side) for s in report_sessions}
    for side in report_sessions:
        n, prescribed, weighted = sessions[(side.patient.pk, side.side)]
        assert n == side.sessions
        assert prescribed / 86400 == pytest.approx(side.days_prescribed)
        assert weighted / prescribed == pytest.approx(side.target)

    # Every monitoring window the report lists, with its data days and status; no other.
    windows = {(r[1], int(r[2])): (r[3], bool(r[4]), bool(r[5])) for r in rows if r[0] == "window"}
    assert windows == {
        (w.patient.pk, w.index): (w.data_days, w.ended, w.discharged)
        for w in figures.monitoring_windows(scope)
    }

    # Clearance: who is waiting (and why), whose note in force is due for review.
    clearance = figures.clearance(scope)
    waiting = {r[1] for r in rows if r[0] == "clearance" and r[2] != "due_for_review"}
    due = {(r[1], r[3]) for r in rows if r[0] == "clearance" and r[2] == "due_for_review"}
    assert waiting == {patient.pk for patient, _ in clearance.waiting}
    assert due == {(patient.pk, note.pk) for patient, note in clearance.due_for_review}
    assert by_figure["clearance"] == len(clearance.waiting) + len(clearance.due_for_review)


def test_every_timed_report_reads_the_logged_days_afresh(network):
    # The scope keeps the days it read: a scope shared by the timed calls would time the
    # report's largest read once, and the figures would look cheaper than they are.
    logged_days = 'SELECT DISTINCT "exercises_setlog"."patient_id"'
    with CaptureQueriesContext(connection) as captured:
        measure_floor(repeats=3)
    reads = sum(q["sql"].startswith(logged_days) for q in captured.captured_queries)
    # The page and the figures alone, each 2 warm-up calls and 3 timed ones.
    assert reads == 2 * (2 + 3)


def test_the_table_prints_the_floor_timing_each_ratio_divides_by(network, tmp_path):
    path = tmp_path / "results.json"
    call_command("bench", size="tiny", no_api=True, repeats=1, json=str(path), stdout=io.StringIO())
    results = json.loads(path.read_text())
    results["floor"].update(floor_ms=111.0, page_ms=222.0, floor_figures_ms=333.0, figures_ms=444.0)
    lines = render_table(results).splitlines()
    [page_row] = [line for line in lines if line.startswith("b. SQL floor → clinic report")]
    [figures_row] = [line for line in lines if "SQL floor → figures" in line]
    assert page_row.split()[-5:-3] == ["111.0", "222.0"]
    assert figures_row.split()[-3:-1] == ["333.0", "444.0"]
