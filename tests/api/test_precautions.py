"""A movement precaution reaches the phone app like every clearance rule: a side it rules out is
paused in the plan, with the reason in the patient's words, and a set sent for it is refused with
409 and nothing stored (docs/domain.md, "Clearance gate")."""

import datetime as dt

from django.utils import timezone

from patients.models import Decision
from tests.api.helpers import SETS_URL, a_set, assert_error, client_for, start, stored
from tests.factories import record_clearance


def precaution(patient, therapist, on):
    record_clearance(
        patient,
        by=therapist,
        signed_on=on,
        review_on=on + dt.timedelta(days=60),
        decision=Decision.RESTRICTED,
        precautions=("no_internal_rotation",),
        operated_side="left",
        today=on,
    )


def test_a_side_a_new_precaution_rules_out_is_paused_and_refuses_sets(
    fracture_with_login, therapist
):
    today = timezone.localdate()
    record_clearance(
        fracture_with_login,
        by=therapist,
        signed_on=today - dt.timedelta(days=20),
        review_on=today + dt.timedelta(days=60),
        today=today - dt.timedelta(days=20),
    )
    left = start(fracture_with_login, therapist, side="left", number=2)
    right = start(fracture_with_login, therapist, side="right", number=2)
    precaution(fracture_with_login, therapist, today)
    client = client_for(fracture_with_login.user)

    plan = {s["side"]: s for s in client.get("/api/v1/me/plan/").json()["sides"]}
    assert plan["left"]["status"] == "paused"
    assert (
        "precautions (no hip internal rotation past neutral) rule out stage 2 on your left"
        in (plan["left"]["status_reason"])
    )
    assert plan["right"]["status"] == "active"  # the right hip is not the operated one

    before = stored()
    response = client.post(SETS_URL, a_set(left), format="json")
    assert_error(response, 409, "prescription_paused")
    assert stored() == before
    assert client.post(SETS_URL, a_set(right), format="json").status_code == 201
