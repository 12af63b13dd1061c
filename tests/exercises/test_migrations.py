"""The data steps of the stage-movements and pain-review migrations, on a database with data."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from exercises.models import Ladder, PainOutcome, PainReview, Stage
from tests.factories import PrescriptionFactory, SetLogFactory, stage

BEFORE_MOVEMENTS = [("exercises", "0004_setlog_patient_performed_index")]
BEFORE_BASELINE = [("exercises", "0005_stage_movements_pain_reviews")]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.fixture
def latest(reseed_after_flush, transactional_db):
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    yield leaves
    _migrate(leaves)


def test_a_stage_of_another_ladder_is_taken_to_turn_the_hip_inwards_until_its_data_says(latest):
    """An unknown movement must not pass the gate: "internal" is the reading a rotation
    precaution rules out, where "none" would let every stage of that ladder through."""
    custom = Ladder.objects.create(slug="custom", name="Custom", source="The clinic's own")
    own = stage(2)
    own.pk, own.ladder = None, custom
    own.save()

    _migrate(BEFORE_MOVEMENTS)
    _migrate(latest)

    assert Stage.objects.get(ladder=custom).top_hip_rotation == "internal"
    assert stage(1).top_hip_rotation == "external"  # the clamshell ladder's own data


def test_the_pain_baseline_goes_back_and_forth_without_doubling(latest, patient, therapist):
    """A painful set of a month ago, long closed under the earlier rule: one "closed earlier"
    review covers it, removed when the migration is reversed and written once when it runs
    again."""
    month_ago = timezone.now() - dt.timedelta(days=30)
    prescription = PrescriptionFactory(
        patient=patient, prescribed_by=therapist, started_at=month_ago - dt.timedelta(days=1)
    )
    SetLogFactory(prescription=prescription, pain=8, performed_at=month_ago, logged_at=month_ago)

    for _ in range(2):
        _migrate(BEFORE_BASELINE)
        assert not PainReview.objects.exists()
        _migrate(latest)
        review = PainReview.objects.get()
        assert (review.outcome, review.by, review.highest_pain) == (
            PainOutcome.CLOSED_EARLIER,
            None,
            8,
        )
