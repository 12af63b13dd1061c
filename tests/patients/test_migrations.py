"""Data steps of the clearance-and-thresholds migration, run on a database that had data before."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("patients", "0003_access_event_login_and_admin_actions")]


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


@pytest.fixture
def at_0003(reseed_after_flush, transactional_db):
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    executor = _migrate(BEFORE)
    yield executor.loader.project_state(BEFORE).apps
    _migrate(latest)


def test_a_readiness_ceiling_above_the_old_fixed_alert_is_lowered_to_it(at_0003):
    """Before the alert threshold became a clinic setting it was "above 5" everywhere and a clinic
    could set its readiness ceiling up to 10; the constraint that the ceiling is never above the
    alert threshold must not fail the upgrade, and the stricter reading is kept."""
    Clinic = at_0003.get_model("patients", "Clinic")
    high = Clinic.objects.create(name="High ceiling", slug="high", pain_ceiling=8)
    usual = Clinic.objects.create(name="Usual ceiling", slug="usual", pain_ceiling=3)

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from patients.models import Clinic as Current

    assert Current.objects.values_list("pain_ceiling", "pain_alert_above").get(pk=high.pk) == (5, 5)
    assert Current.objects.values_list("pain_ceiling", "pain_alert_above").get(pk=usual.pk) == (
        3,
        5,
    )
