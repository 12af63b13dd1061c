"""`manage.py bench` at the tiny size: its JSON, equal query counts at a small and a large clinic,
the SQL floor agreeing with the report's figures, and the guard that keeps it off real data."""

import datetime as dt
import io
import json
import uuid
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.bench import database
from clinic.bench.agreement import differences
from clinic.bench.floor import report_floor
from clinic.bench.generate import GENERATED_SLUG, SIZES, generate_network
from clinic.bench.pages import measure_floor, smallest_and_largest
from clinic.management.commands.bench import render_table
from clinic.reports import clinic_figures as figures
from exercises.models import PainReview, Prescription, SetLog, Source
from exercises.progression import open_pain_alerts, ready_since
from exercises.services import SetLogRequest, pause_reason, set_log
from patients.models import Clinic, Decision, Membership, Patient, Role
from tests.factories import (
    ClearanceNoteFactory,
    PatientFactory,
    PrescriptionFactory,
    SetLogFactory,
)

PAGES = {"dashboard", "patient page", "clinic report"}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def network(db):
    counts = generate_network(SIZES["tiny"])
    # As a bench rebuild leaves it: the bench measures only on a marked database.
    database.mark()
    return counts


def every_section_at(clinic: Clinic) -> None:
    """Give `clinic` an open pain alert and a readiness waiting longer than the backlog's days,
    through the services, if its generated data has none.

    The query-count comparison below is between the smallest and the largest clinic: a section
    with nothing to list reads nothing (no patients to look up for no alert), so the two are
    comparable only when each shows every section. The tiny network, generated relative to the
    moment the test runs, leaves some of them empty at some hours."""
    now = timezone.now()
    candidates = [
        p
        for p in Prescription.objects.active()
        .filter(
            patient__clinic=clinic,
            patient__discharged_at__isnull=True,
            started_at__lt=now - 10 * dt.timedelta(days=1),
            auto_advance=False,
        )
        .select_related("patient__clinic", "stage")
        .order_by("pk")
        if pause_reason(p, clinic.local_date(now - 9 * dt.timedelta(days=1))) is None
        and pause_reason(p, clinic.local_date(now)) is None
    ]
    active = Patient.objects.filter(clinic=clinic, discharged_at__isnull=True)
    if not open_pain_alerts(Q(patient__in=active.values("pk")), [clinic]):
        painful = candidates.pop()
        set_log(
            SetLogRequest(
                patient=painful.patient,
                prescription=painful,
                reps=8,
                pain=painful.effective_pain_alert_above + 1,
                performed_at=now - dt.timedelta(hours=1),
                client_id=uuid.uuid4(),
                by=painful.prescribed_by,
                source=Source.CLINIC,
            )
        )
    cutoff = now - 8 * dt.timedelta(days=1)
    for rx in candidates:
        ready = list(Prescription.objects.filter(patient=rx.patient).active().with_readiness())
        if any(since < cutoff for since in ready_since(ready).values()):
            return
    for rx in candidates:
        at = now - 9 * dt.timedelta(days=1)
        set_log(
            SetLogRequest(
                patient=rx.patient,
                prescription=rx,
                reps=rx.effective_progress_at_reps,
                pain=0,
                performed_at=at,
                client_id=uuid.uuid4(),
                by=rx.prescribed_by,
                source=Source.CLINIC,
            ),
            now=at + dt.timedelta(minutes=1),
        )
        ready = Prescription.objects.with_readiness().filter(pk=rx.pk)
        if ready_since(ready).get(rx.pk, now) < cutoff:
            return
    raise AssertionError(f"No side of {clinic} could be made to wait for a decision.")


def test_it_writes_the_results_as_json_and_prints_a_table(network, tmp_path):
    for clinic in smallest_and_largest():
        every_section_at(clinic)
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
    # The floor's rows were compared with the report's at the clinic it was timed at.
    assert floor["floor_matches_report"] and floor["differences"] == 0
    assert floor["floor_rows_by_figure"]["window"] > 0
    text = out.getvalue()
    assert "a. clinic report" in text and "b. SQL floor → clinic report" in text
    assert f"the floor's {floor['floor_rows']} rows are the report's" in text
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


def _scope(clinic, *, days=30):
    now = timezone.now()
    last = clinic.local_date(now)
    return figures.Scope(
        clinic=clinic, first=last - dt.timedelta(days=days - 1), last=last, now=now
    )


@pytest.mark.parametrize("days", [30, 75])
def test_the_sql_floor_computes_the_figures_of_the_report(network, days):
    # Every clinic of the tiny network (each with thresholds of its own), so that each figure
    # has rows somewhere (clearance notes are held by one patient in ten). `differences` compares
    # every figure: stages, changes, time at stage, the backlog with its "ready since", pain
    # totals, open pain alerts per side (highest pain, sets, opened), sessions, the monitoring
    # windows (against `exercises.adherence.monitoring_windows`) and the clearance lists.
    seen = Counter()
    for clinic in Clinic.objects.filter(slug__regex=GENERATED_SLUG):
        scope = _scope(clinic, days=days)
        rows = report_floor(scope)
        seen.update(r[0] for r in rows)
        assert differences(rows, scope) == [], clinic.slug
    for figure in ("stage", "change", "backlog", "pain", "pain_alert", "sessions", "window"):
        assert seen[figure] > 0, figure
    assert seen["clearance"] > 0
    if days == 75:
        assert seen["time_at_stage"] > 0


def test_the_comparison_names_a_floor_row_that_differs(network):
    # The first clinic with an open pain alert (the tiny network has a few).
    for clinic in Clinic.objects.filter(slug__regex=GENERATED_SLUG).order_by("pk"):
        scope = _scope(clinic)
        rows = report_floor(scope)
        if any(r[0] == "pain_alert" for r in rows):
            break
    alert = next(r for r in rows if r[0] == "pain_alert")
    window = next(r for r in rows if r[0] == "window")
    changed = [r for r in rows if r not in (alert, window)]
    changed.append((*alert[:3], alert[3] + 1, *alert[4:]))
    other = "cut" if window[2] != "cut" else "complete"
    changed.append((window[0], window[1], other, *window[3:]))

    found = differences(changed, scope)

    assert len(found) == 2
    assert found[0].startswith(
        f"pain_alert ({alert[1]}, '{alert[2]}'): floor ({int(alert[3]) + 1},"
    )
    assert found[1].startswith(f"window ({window[1]}, {int(window[4])}): floor ('{other}',")


def test_the_floor_follows_the_new_rules_where_they_differ_from_the_old(network):
    # Hand-made sides in a generated clinic (default thresholds: alert above 5, look-back 7 days):
    # readiness after a painful set, a side's own alert threshold, a review, a set synced late,
    # and a "no further clearance needed" note while clearance is required again.
    clinic = Clinic.objects.get(slug="bench-01")
    assert (clinic.pain_alert_above, clinic.pain_lookback_days) == (5, 7)
    now = timezone.now()
    ago = lambda days: now - dt.timedelta(days=days)  # noqa: E731
    therapist = Membership.objects.filter(clinic=clinic, role=Role.THERAPIST).first().user

    def side(**own):
        patient = PatientFactory(clinic=clinic, last_name="Handmade")
        return PrescriptionFactory(patient=patient, started_at=ago(40), **own)

    # Ready, then a painful set, then ready again: ready since the later qualifying set.
    ready = side()
    for days, reps, pain in ((20, 20, 0), (15, 10, 6), (12, 21, 1), (11, 22, 0)):
        SetLogFactory(
            prescription=ready, reps=reps, pain=pain, performed_at=ago(days), logged_at=ago(days)
        )
    # Its own threshold: pain 4 rings on this side, not on the clinic's.
    own = side(pain_alert_above=3)
    SetLogFactory(prescription=own, pain=4, performed_at=ago(2), logged_at=ago(2))
    # Reviewed, then painful again: one set open, opened when the later one arrived.
    reviewed = side()
    SetLogFactory(prescription=reviewed, pain=7, performed_at=ago(5), logged_at=ago(5))
    PainReview.objects.create(
        patient=reviewed.patient,
        side="left",
        outcome="continued",
        by=therapist,
        at=ago(4),
        highest_pain=7,
        painful_sets=1,
    )
    late = SetLogFactory(prescription=reviewed, pain=8, performed_at=ago(1.5), logged_at=ago(1))
    # Done ten days before it reached the clinic: painful, but beyond the look-back.
    synced_late = side()
    SetLogFactory(prescription=synced_late, pain=9, performed_at=ago(11), logged_at=ago(1))
    # Clearance required again after a note that ended it: missing.
    again = PatientFactory(clinic=clinic, requires_clearance=True, clearance_reason="Fall")
    today = clinic.local_date(now)
    for signed, decision, review in (
        (today - dt.timedelta(days=60), Decision.CLEARED, today + dt.timedelta(days=300)),
        (today - dt.timedelta(days=10), Decision.NOT_REQUIRED, None),
    ):
        ended = ClearanceNoteFactory(
            patient=again, decision=decision, signed_on=signed, review_on=review
        )

    scope = _scope(clinic)
    rows = report_floor(scope)

    assert differences(rows, scope) == []
    backlog = {r[1]: r[3] for r in rows if r[0] == "backlog"}
    assert backlog[ready.pk] == pytest.approx((ago(12) - EPOCH).total_seconds(), abs=0.01)
    alerts = {(r[1], r[2]): (r[3], r[4], r[5]) for r in rows if r[0] == "pain_alert"}
    assert alerts[(own.patient_id, "left")][:2] == (4, 1)
    assert alerts[(reviewed.patient_id, "left")] == pytest.approx(
        (8, 1, (late.logged_at - EPOCH).total_seconds()), abs=0.01
    )
    assert (synced_late.patient_id, "left") not in alerts
    assert (ready.patient_id, "left") in alerts  # the pain 6 set was never reviewed
    clearance = {r[1]: (r[2], r[3]) for r in rows if r[0] == "clearance"}
    assert clearance[again.pk] == ("missing", ended.pk)


def test_every_timed_report_reads_the_logged_days_afresh(network):
    # The scope keeps the days it read: a scope shared by the timed calls would time the
    # report's largest read once, and the figures would look cheaper than they are.
    logged_days = 'SELECT DISTINCT "exercises_setlog"."patient_id"'
    with CaptureQueriesContext(connection) as captured:
        measure_floor(repeats=3)
    reads = sum(q["sql"].startswith(logged_days) for q in captured.captured_queries)
    # The page and the figures alone, each 2 warm-up calls and 3 timed ones; then once more, by
    # the check that the floor's rows are the report's.
    assert reads == 2 * (2 + 3) + 1


def test_the_table_prints_the_floor_timing_each_ratio_divides_by(network, tmp_path):
    path = tmp_path / "results.json"
    call_command("bench", size="tiny", no_api=True, repeats=1, json=str(path), stdout=io.StringIO())
    results = json.loads(path.read_text())
    results["floor"].update(floor_ms=111.0, page_ms=222.0, floor_figures_ms=333.0, figures_ms=444.0)
    results["floor"].update(
        floor_matches_report=False, differences=2, differences_first=["stage (1, 'left'): …"]
    )
    lines = render_table(results).splitlines()
    assert "   FLOOR ≠ REPORT: 2 differences, e.g. stage (1, 'left'): …" in lines
    [page_row] = [line for line in lines if line.startswith("b. SQL floor → clinic report")]
    [figures_row] = [line for line in lines if "SQL floor → figures" in line]
    assert page_row.split()[-5:-3] == ["111.0", "222.0"]
    assert figures_row.split()[-3:-1] == ["333.0", "444.0"]
