"""The seeded clamshell ladder (Boren et al. 2011; docs/domain.md, "The clinical content") and its
data migration."""

import importlib

import pytest
from django.apps import apps as global_apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from exercises.models import IntensityBand, Ladder, Stage
from tests.factories import reseed_ladder

seed_migration = importlib.import_module("exercises.migrations.0002_clamshell_ladder")

LADDER = "hip-clamshell"


def stages():
    return list(Stage.objects.filter(ladder__slug=LADDER).order_by("number"))


def test_the_ladder_has_exactly_stages_1_to_4(db):
    assert [s.number for s in stages()] == [1, 2, 3, 4]
    assert Ladder.objects.filter(slug=LADDER).count() == 1


def test_each_stage_activates_gluteus_medius_more_than_the_one_before(db):
    assert [s.gmed_mvic_percent for s in stages()] == [47, 62, 67, 76]


def test_stage_4_has_the_top_hip_straight_and_the_bottom_hip_at_45_degrees(db):
    fourth = stages()[3]
    assert (fourth.bottom_hip_flexion_deg, fourth.top_hip_flexion_deg) == (45, 0)


def test_stages_1_to_3_have_both_hips_at_45_degrees(db):
    for s in stages()[:3]:
        assert (s.bottom_hip_flexion_deg, s.top_hip_flexion_deg) == (45, 45), s.number


def test_every_stage_cues_a_controlled_tempo_and_a_pause_at_the_top(db):
    for s in stages():
        cues = s.cues.lower()
        assert "slowly and with control" in cues, s.number
        assert "pause at the top" in cues, s.number


def test_stage_4_notes_that_the_abstract_reports_77(db):
    fourth = stages()[3]
    assert "77" in fourth.mvic_note
    assert all(s.mvic_note == "" for s in stages()[:3])


def test_every_stage_and_the_ladder_cite_boren_2011(db):
    ladder = Ladder.objects.get(slug=LADDER)
    for source in [ladder.source, *(s.source for s in stages())]:
        assert "Boren" in source
        assert "2011" in source
        assert "Int J Sports Phys Ther" in source
        assert "6(3):206-223" in source


def test_stage_1_keeps_the_feet_together(db):
    first = stages()[0]
    assert "feet together" in first.movement.lower()
    assert "knee" in first.movement.lower()


def test_stage_2_keeps_the_knees_in_contact(db):
    second = stages()[1]
    assert "knees together" in second.movement.lower()
    assert "knees stay touching" in second.cues.lower()


def test_stages_3_and_4_hold_the_top_leg_parallel_to_the_floor(db):
    for s in stages()[2:]:
        assert "parallel to the floor" in s.position.lower(), s.number


def test_stage_1_is_high_intensity_and_stages_2_to_4_very_high(db):
    assert [s.intensity_band for s in stages()] == [
        IntensityBand.HIGH,
        IntensityBand.VERY_HIGH,
        IntensityBand.VERY_HIGH,
        IntensityBand.VERY_HIGH,
    ]


@pytest.mark.parametrize(
    ("mvic", "band"),
    [
        (20, IntensityBand.LOW),
        (21, IntensityBand.MODERATE),
        (40, IntensityBand.MODERATE),
        (41, IntensityBand.HIGH),
        (60, IntensityBand.HIGH),
        (61, IntensityBand.VERY_HIGH),
    ],
)
def test_intensity_bands_follow_reiman_2012(mvic, band):
    assert Stage(gmed_mvic_percent=mvic).intensity_band == band


def test_the_ladder_description_states_the_20_rep_rule(db):
    assert "20 reps" in Ladder.objects.get(slug=LADDER).description


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def test_the_migration_reverses_and_reseeds_idempotently(reseed_after_flush, transactional_db):
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()

    _migrate([("exercises", "0001_initial")])
    assert not Stage.objects.exists()
    assert not Ladder.objects.filter(slug=LADDER).exists()

    _migrate(latest)
    assert [s.number for s in stages()] == [1, 2, 3, 4]

    # Running the seeds again (e.g. on a database that already has the ladder) changes nothing.
    before = list(Stage.objects.values().order_by("number"))
    reseed_ladder()
    assert Ladder.objects.filter(slug=LADDER).count() == 1
    assert list(Stage.objects.values().order_by("number")) == before


def test_reseeding_restores_edited_stage_content(db):
    Stage.objects.filter(ladder__slug=LADDER, number=4).update(gmed_mvic_percent=99)
    seed_migration.seed(global_apps, None)
    assert Stage.objects.get(ladder__slug=LADDER, number=4).gmed_mvic_percent == 76
    assert Stage.objects.filter(ladder__slug=LADDER).count() == 4
