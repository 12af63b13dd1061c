"""`manage.py bench` at the tiny size: its JSON, equal query counts at a small and a large clinic,
the SQL floor agreeing with the report's figures, and the guard that keeps it off real data."""

import datetime as dt
import io
import json
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from clinic import clinic_report as figures
from clinic.bench.floor import report_floor
from clinic.bench.generate import SIZES, generate_network
from clinic.bench.pages import smallest_and_largest
from exercises.models import SetLog

PAGES = {"dashboard", "patient page", "clinic report"}


@pytest.fixture
def network(db):
    return generate_network(SIZES["tiny"])


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


def test_it_refuses_to_rebuild_a_database_not_named_for_benchmarks(network):
    # The test database's name has no "bench" in it: nothing may be wiped.
    with pytest.raises(CommandError, match="must contain 'bench'"):
        call_command("bench", size="tiny", fresh=True, no_api=True, stdout=io.StringIO())
    assert SetLog.objects.count() == network.sets


def test_it_refuses_to_measure_without_a_generated_network(db):
    with pytest.raises(CommandError, match="No generated network"):
        call_command("bench", size="tiny", no_api=True, stdout=io.StringIO())


def test_the_sql_floor_computes_the_figures_of_the_report(network):
    _, clinic = smallest_and_largest()
    now = timezone.now()
    last = clinic.local_date(now)
    scope = figures.Scope(clinic=clinic, first=last - dt.timedelta(days=29), last=last, now=now)
    rows = report_floor(scope)
    by_figure = Counter(r[0] for r in rows)

    stages = {(r[1], r[2]): (r[3], r[4]) for r in rows if r[0] == "stage"}
    for count in figures.stage_distribution(scope):
        assert stages.get((count.stage.pk, count.side), (0, 0)) == (count.at_start, count.at_end)
    changes = {r[2]: r[3] for r in rows if r[0] == "change"}
    for reason, n in figures.changes_by_reason(scope).items():
        assert changes.get(reason, 0) == n
    [pain_row] = [r for r in rows if r[0] == "pain"]
    pain = figures.pain(scope)
    assert (pain_row[3], pain_row[4] or 0, pain_row[5]) == (
        pain.sets,
        pain.painful_sets,
        pain.painful_patients,
    )
    assert by_figure["pain_alert"] == len(pain.open_alerts)
    assert by_figure["backlog"] == len(figures.readiness_backlog(scope))
    sessions = {(r[1], r[2]): r[3] for r in rows if r[0] == "sessions"}
    for side in figures.sessions_per_week(scope):
        assert sessions.get((side.patient.pk, side.side), 0) == side.sessions
