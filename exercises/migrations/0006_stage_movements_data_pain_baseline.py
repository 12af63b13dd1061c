"""What each rung of the clamshell ladder asks of the hip, who said what, and the pain alerts as
they stood.

1. The stages' movements (the source article; docs/domain.md, "The clinical content"): the top
   leg's hip turns outwards at stage 1 and inwards at stages 2–4; the top leg is held up level at
   stages 3–4; it moves (the knee opens, stage 1) or is held (stages 3–4) out to the side against
   gravity; the patient lies on the other side at every stage. The clearance gate's movement
   precautions read these.

2. Pain alerts now stay open across stage changes until a therapist reviews them. Before, an alert
   lasted seven days and closed at any stage change, and nothing recorded it. So that no long-gone
   pain reappears as an alert, each side with a painful set gets one review "closed before reviews
   were recorded", dated just before the first set of the alert the earlier rule still showed
   (which therefore stays open), or now when it showed none.
"""

import datetime as dt

from django.db import migrations
from django.db.models import Q
from django.utils import timezone

MOVEMENTS = {
    1: {"top_hip_rotation": "external", "top_leg_lifted": False, "abducts_against_gravity": True},
    2: {"top_hip_rotation": "internal", "top_leg_lifted": False, "abducts_against_gravity": False},
    3: {"top_hip_rotation": "internal", "top_leg_lifted": True, "abducts_against_gravity": True},
    4: {"top_hip_rotation": "internal", "top_leg_lifted": True, "abducts_against_gravity": True},
}

# The earlier rule, as it was: pain above 5 in the last 7 days.
EARLIER_ALERT_ABOVE = 5
EARLIER_WINDOW = dt.timedelta(days=7)


# Who said what (the "Sources" page says the same): the positions, the movements and the 20-rep
# rule come from the article the ladder is taught from; the %MVIC figures are Boren's, as that
# article reports them.
ARTICLE = (
    "Hip Clamshell Exercise Progression for Glute Med Strengthening. Active PT blog, 28 April "
    "2013 (activeptblog.wordpress.com)"
)
BOREN = (
    "Boren K, Conrey C, Le Coguic J, Paprocki L, Voight M, Robinson TK. Electromyographic analysis "
    "of gluteus medius and gluteus maximus during rehabilitation exercises. Int J Sports Phys Ther. "
    "2011;6(3):206-223"
)
SOURCE = (
    f"Position, movement and the 20-rep rule: {ARTICLE}. Gluteus medius %MVIC: as that article "
    f"reports it from {BOREN} (surface EMG in 24 healthy adults)."
)


def movements(apps, schema_editor):
    Ladder = apps.get_model("exercises", "Ladder")
    Stage = apps.get_model("exercises", "Stage")
    Ladder.objects.filter(slug="hip-clamshell").update(source=SOURCE)
    for number, values in MOVEMENTS.items():
        Stage.objects.filter(ladder__slug="hip-clamshell", number=number).update(
            lies_on_other_side=True, source=SOURCE, **values
        )


def pain_baseline(apps, schema_editor):
    SetLog = apps.get_model("exercises", "SetLog")
    Prescription = apps.get_model("exercises", "Prescription")
    PainReview = apps.get_model("exercises", "PainReview")
    now = timezone.now()
    painful = SetLog.objects.filter(voided_at__isnull=True, pain__gt=EARLIER_ALERT_ABOVE)
    sides = painful.values_list("patient_id", "side").distinct()
    reviews = []
    for patient_id, side in sides.iterator():
        current = Prescription.objects.filter(
            patient_id=patient_id, side=side, ended_at__isnull=True
        ).first()
        still_shown = None
        if current is not None:
            # The earlier rule: on the current prescription, or reached the clinic after it
            # started; performed in the last 7 days.
            still_shown = (
                painful.filter(patient_id=patient_id, side=side)
                .filter(Q(prescription=current) | Q(logged_at__gte=current.started_at))
                .filter(performed_at__gte=now - EARLIER_WINDOW)
                .order_by("logged_at")
                .values_list("logged_at", flat=True)
                .first()
            )
        at = still_shown - dt.timedelta(microseconds=1) if still_shown else now
        worst = (
            painful.filter(patient_id=patient_id, side=side, logged_at__lte=at)
            .order_by("-pain")
            .values_list("pain", flat=True)
            .first()
        )
        if worst is None:
            continue  # every painful set of the side is still shown: nothing to close
        count = painful.filter(patient_id=patient_id, side=side, logged_at__lte=at).count()
        reviews.append(
            PainReview(
                patient_id=patient_id,
                side=side,
                outcome="closed_earlier",
                note="Closed when pain alerts began to stay open until reviewed: the earlier "
                "rule had already closed this alert (a stage change, or seven days).",
                by=None,
                at=at,
                highest_pain=worst,
                painful_sets=count,
            )
        )
    PainReview.objects.bulk_create(reviews, batch_size=1000)


def remove_baseline(apps, schema_editor):
    # Going back: the reviews this migration wrote go, so running it again does not double them.
    PainReview = apps.get_model("exercises", "PainReview")
    PainReview.objects.filter(outcome="closed_earlier", by__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("exercises", "0005_stage_movements_pain_reviews")]

    operations = [
        migrations.RunPython(movements, migrations.RunPython.noop),
        migrations.RunPython(pain_baseline, remove_baseline),
    ]
