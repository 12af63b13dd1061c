"""Seed the four-stage hip clamshell ladder (Boren et al. 2011) as data.

The text is shown to patients as their instructions, so it speaks to them. The content lives here,
frozen with the migration, so that later edits of the stages (through the admin) are data changes
with history, and a fresh database always starts from the published ladder.
"""

from django.db import migrations

SOURCE = (
    "Boren K, Conrey C, Le Coguic J, Paprocki L, Voight M, Robinson TK. Electromyographic analysis "
    "of gluteus medius and gluteus maximus during rehabilitation exercises. Int J Sports Phys Ther. "
    "2011;6(3):206-223. Gluteus medius EMG in 24 healthy adults, as % of maximal voluntary "
    "isometric contraction (%MVIC)."
)

TEMPO = (
    "Move slowly and with control: about 2 seconds up, a slight pause at the top, about 2 seconds "
    "down. "
)

STAGES = [
    {
        "number": 1,
        "name": "Clamshell",
        "summary": "Side-lying, feet together: lift the top knee.",
        "position": (
            "Lie on your side with the leg you are exercising on top. Bend both hips to about 45° "
            "(your thighs angled forward) and bend your knees so your feet are in line with your "
            "back. Keep your feet together. Rest your head on your lower arm or a pillow and put "
            "your top hand on your hip."
        ),
        "movement": (
            "Keeping your feet together, lift your top knee up as far as you can without your "
            "pelvis rolling back (your hip turns outwards). Then lower the knee slowly back down."
        ),
        "cues": TEMPO
        + (
            "Your feet stay together the whole time. Use the hand on your hip to check that your "
            "pelvis does not roll backwards: stop the lift just before it would."
        ),
        "bottom_hip_flexion_deg": 45,
        "top_hip_flexion_deg": 45,
        "gmed_mvic_percent": 47,
        "mvic_note": "",
    },
    {
        "number": 2,
        "name": "Reverse clamshell",
        "summary": "Side-lying, knees together: lift the top foot.",
        "position": (
            "Lie on your side exactly as in stage 1: the leg you are exercising on top, both hips "
            "bent to about 45°, knees bent, feet in line with your back, your top hand on your hip."
        ),
        "movement": (
            "Keeping your knees together, lift your top foot up towards the ceiling (your hip "
            "turns inwards). Then lower the foot slowly back down."
        ),
        "cues": TEMPO
        + (
            "Your knees stay touching the whole time; only the foot moves. Keep your pelvis still "
            "and stacked, not rolling forwards or backwards."
        ),
        "bottom_hip_flexion_deg": 45,
        "top_hip_flexion_deg": 45,
        "gmed_mvic_percent": 62,
        "mvic_note": "",
    },
    {
        "number": 3,
        "name": "Reverse clamshell, leg raised",
        "summary": "Side-lying, top leg held up level: lift the top foot.",
        "position": (
            "Lie on your side with the leg you are exercising on top, both hips bent to about 45° "
            "and your knees bent. Lift your whole top leg until the thigh is parallel to the floor "
            "(top knee level with your hip) and hold it there."
        ),
        "movement": (
            "Keeping your top knee at that height, lift your top foot up towards the ceiling (your "
            "hip turns inwards). Then lower the foot slowly, with the knee still held up."
        ),
        "cues": TEMPO
        + (
            "The knee stays up, level with your hip, for the whole set; rest it down only between "
            "sets. Keep your pelvis still."
        ),
        "bottom_hip_flexion_deg": 45,
        "top_hip_flexion_deg": 45,
        "gmed_mvic_percent": 67,
        "mvic_note": "",
    },
    {
        "number": 4,
        "name": "Reverse clamshell, top hip straight",
        "summary": "Side-lying, top hip straight and leg held up level: lift the top foot.",
        "position": (
            "Lie on your side with the leg you are exercising on top. Keep your bottom hip bent to "
            "about 45° with the knee bent. Straighten your top hip so the top thigh is in line with "
            "your body (0°), keep that knee bent, and lift the top leg until it is parallel to the "
            "floor. Hold it there."
        ),
        "movement": (
            "Keeping your top knee at that height, lift your top foot up towards the ceiling (your "
            "hip turns inwards). Then lower the foot slowly, with the knee still held up."
        ),
        "cues": TEMPO
        + (
            "Do not let the top hip bend forwards again: the thigh stays in line with your body. "
            "The knee stays up for the whole set. Keep your pelvis still."
        ),
        "bottom_hip_flexion_deg": 45,
        "top_hip_flexion_deg": 0,
        "gmed_mvic_percent": 76,
        "mvic_note": "76 %MVIC in the paper's results; its abstract reports 77.",
    },
]


def seed(apps, schema_editor):
    Ladder = apps.get_model("exercises", "Ladder")
    Stage = apps.get_model("exercises", "Stage")
    ladder, _ = Ladder.objects.update_or_create(
        slug="hip-clamshell",
        defaults={
            "name": "Hip clamshell progression",
            "description": (
                "Four side-lying clamshell stages for gluteus medius strengthening, each "
                "activating the muscle more than the one before. One stage per side at a time: "
                "when you can do 20 reps at a stage, it is time to move to the next (your "
                "therapist confirms)."
            ),
            "source": SOURCE,
        },
    )
    for data in STAGES:
        Stage.objects.update_or_create(
            ladder=ladder,
            number=data["number"],
            defaults={**{k: v for k, v in data.items() if k != "number"}, "source": SOURCE},
        )


def unseed(apps, schema_editor):
    Ladder = apps.get_model("exercises", "Ladder")
    Stage = apps.get_model("exercises", "Stage")
    Stage.objects.filter(ladder__slug="hip-clamshell").delete()
    Ladder.objects.filter(slug="hip-clamshell").delete()


class Migration(migrations.Migration):
    dependencies = [("exercises", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
