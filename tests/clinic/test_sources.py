"""The "Sources" page: one line per clinical claim, with who said it; reachable from every
stage's instructions and from the start and advance forms; for every signed-in user."""

import pytest
from django.urls import reverse

from exercises.services import prescription_start
from tests.factories import stage

URL = reverse("sources")


def page(client, user):
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("who", ["therapist", "staff", "outsider"])
def test_every_signed_in_user_reads_it(client, request, who):
    assert "<h1>Sources</h1>" in page(client, request.getfixturevalue(who))


def test_a_patient_reads_it_with_a_way_back_to_their_exercises(client, patient):
    html = page(client, patient.user)
    assert f'href="{reverse("me")}">← My exercises</a>' in html


def test_anonymous_is_sent_to_sign_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_each_claim_says_who_said_it(client, therapist):
    html = page(client, therapist)
    # %MVIC: from the article, which reports Boren et al. 2011; measured in healthy adults.
    assert "stage 1 47, stage 2 62, stage 3 67, stage 4 76" in html
    assert "The source article, “Hip Clamshell Exercise Progression" in html
    assert "as it reports them from Boren K" in html
    assert "Int J Sports Phys Ther. 2011;6(3):206–223" in html
    assert "its abstract reports 77" in html
    assert "healthy adults" in html
    # The 20-rep rule and the stage-4 angles: the article itself.
    assert "Ready for the next stage at 20 reps in one set" in html
    assert "stage 4: bottom hip 45°, top hip 0°" in html
    # The pain model, the clinic's own defaults.
    assert "The pain-monitoring model: Thomeé R." in html
    assert "The clinic&#x27;s default, not from a study." in html


def test_the_clinics_own_values_are_shown(client, therapist, clinic):
    clinic.progress_at_reps, clinic.pain_ceiling, clinic.pain_alert_above = 15, 2, 4
    clinic.save()
    html = page(client, therapist)
    assert "(the default; this clinic: 15)" in html
    assert "this clinic: ready at pain ≤ 2, alert above 4" in html


def test_the_patient_page_links_to_it_from_the_stage_and_the_forms(client, therapist, patient):
    prescription_start(patient=patient, side="left", stage=stage(1), by=therapist)
    client.force_login(therapist)
    html = client.get(reverse("patient-detail", args=[patient.pk])).content.decode()
    # The stage's instructions, the advance form, the start form (on the right side).
    assert html.count(f'href="{URL}">Sources</a>') == 3
