"""Reviewing a pain alert (`pain_review_record`): what it closes, what "regressed" does, what it
refuses, the audit history, and the patient page's review form (access for each role)."""

import datetime as dt
import re
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from exercises.models import (
    ChangeReason,
    PainOutcome,
    PainReview,
    Prescription,
    Source,
    StageChange,
)
from exercises.progression import pain_alert_for
from exercises.services import (
    SetLogRequest,
    pain_review_record,
    prescription_advance,
    prescription_regress,
    prescription_start,
    prescription_stop,
    set_log,
)
from patients.errors import InvalidTransition
from tests.factories import stage

NOW = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def start(patient, by, *, side="left", number=2, at=NOW - 7 * DAY):
    return prescription_start(patient=patient, side=side, stage=stage(number), by=by, at=at)


def log(prescription, *, pain, reps=8, at=NOW - 2 * HOUR):
    return set_log(
        SetLogRequest(
            patient=prescription.patient,
            prescription=prescription,
            reps=reps,
            pain=pain,
            performed_at=at,
            client_id=uuid.uuid4(),
            by=prescription.prescribed_by,
            source=Source.CLINIC,
        ),
        now=at + dt.timedelta(minutes=1),
    ).set_log


def review(patient, by, outcome, side="left", at=NOW, note=""):
    return pain_review_record(patient=patient, side=side, outcome=outcome, by=by, at=at, note=note)


@pytest.fixture
def sore(patient, therapist):
    rx = start(patient, therapist)
    log(rx, pain=9)
    log(rx, pain=7, at=NOW - HOUR)
    return rx


def test_continued_closes_the_alert_and_keeps_the_stage(sore, therapist):
    done = review(sore.patient, therapist, PainOutcome.CONTINUED, note="Called: much better.")
    assert pain_alert_for(sore.patient, "left") is None
    assert Prescription.objects.active().get().pk == sore.pk
    assert (done.highest_pain, done.painful_sets, done.by) == (9, 2, therapist)
    assert done.note == "Called: much better."


def test_regressed_moves_the_side_down_one_stage_as_part_of_the_review(sore, therapist):
    review(sore.patient, therapist, PainOutcome.REGRESSED)
    current = Prescription.objects.active().get()
    assert current.stage.number == 1
    change = StageChange.objects.get(reason=ChangeReason.REGRESSED)
    assert change.by == therapist
    assert "Pain 9/10" in change.note
    assert pain_alert_for(sore.patient, "left") is None


def test_regressed_after_a_regress_since_the_pain_does_not_regress_again(sore, therapist):
    prescription_regress(prescription=sore, by=therapist, at=NOW - HOUR / 2)
    review(sore.patient, therapist, PainOutcome.REGRESSED)
    assert Prescription.objects.active().get().stage.number == 1
    assert StageChange.objects.filter(reason=ChangeReason.REGRESSED).count() == 1


def test_a_regress_then_an_advance_since_the_pain_does_not_count_as_already_regressed(
    sore, therapist
):
    lower = prescription_regress(prescription=sore, by=therapist, at=NOW - HOUR / 2)
    prescription_advance(prescription=lower, by=therapist, at=NOW - HOUR / 4)
    review(sore.patient, therapist, PainOutcome.REGRESSED)
    assert Prescription.objects.active().get().stage.number == 1
    assert StageChange.objects.filter(reason=ChangeReason.REGRESSED).count() == 2


def test_regressed_at_stage_1_is_refused_and_writes_nothing(patient, therapist):
    rx = start(patient, therapist, number=1)
    log(rx, pain=8)
    with pytest.raises(InvalidTransition) as excinfo:
        review(patient, therapist, PainOutcome.REGRESSED)
    assert "the first stage; there is nothing to regress to" in str(excinfo.value)
    assert "For this review, record “continued” or “referred”" in str(excinfo.value)
    assert not PainReview.objects.exists()
    assert pain_alert_for(patient, "left") is not None


def test_regressed_on_a_stopped_side_is_refused_but_continued_is_not(sore, therapist):
    prescription_stop(prescription=sore, by=therapist, at=NOW - HOUR / 2)
    with pytest.raises(InvalidTransition) as excinfo:
        review(sore.patient, therapist, PainOutcome.REGRESSED)
    assert "no active prescription to regress" in str(excinfo.value)
    review(sore.patient, therapist, PainOutcome.REFERRED)
    assert pain_alert_for(sore.patient, "left") is None


def test_a_side_without_an_open_alert_has_nothing_to_review(patient, therapist):
    start(patient, therapist)
    with pytest.raises(InvalidTransition) as excinfo:
        review(patient, therapist, PainOutcome.CONTINUED)
    assert "No pain alert is open" in str(excinfo.value)


@pytest.mark.parametrize(
    ("field", "value"), [("outcome", "ignored"), ("outcome", "closed_earlier"), ("side", "middle")]
)
def test_bad_input_names_the_field_and_writes_nothing(sore, therapist, field, value):
    kwargs = {"side": "left", "outcome": PainOutcome.CONTINUED, field: value}
    with pytest.raises(ValidationError) as excinfo:
        pain_review_record(patient=sore.patient, by=therapist, at=NOW, **kwargs)
    assert field in excinfo.value.message_dict
    assert not PainReview.objects.exists()


def test_a_set_newer_than_what_the_therapist_saw_refuses_the_review(sore, therapist):
    seen = pain_alert_for(sore.patient, "left").last_logged_at
    log(sore, pain=8, at=NOW - dt.timedelta(minutes=30))
    with pytest.raises(InvalidTransition, match="while you were reviewing"):
        pain_review_record(
            patient=sore.patient,
            side="left",
            outcome=PainOutcome.CONTINUED,
            by=therapist,
            at=NOW,
            seen_through=seen,
        )
    assert not PainReview.objects.exists()
    assert pain_alert_for(sore.patient, "left").sets == 3


def test_a_later_painful_set_opens_a_new_alert(sore, therapist):
    review(sore.patient, therapist, PainOutcome.CONTINUED)
    log(sore, pain=8, at=NOW + HOUR)
    alert = pain_alert_for(sore.patient, "left")
    assert (alert.highest_pain, alert.sets) == (8, 1)


def test_the_review_is_in_the_audit_history(client, sore, therapist):
    review(sore.patient, therapist, PainOutcome.REFERRED, note="Sent to the GP.")
    client.force_login(therapist)
    page = client.get(reverse("patient-history", args=[sore.patient.pk])).content.decode()
    assert "Pain alert reviewed: Left side" in page
    assert "Referred to the doctor" in page
    assert "Sent to the GP." in page


# -- the patient page's form -----------------------------------------------------------------------


def review_url(patient, side="left"):
    return reverse("patient-pain-review", args=[patient.pk, side])


def seen_on_page(client, patient, side="left") -> str:
    """The "seen through" value the page writes into the side's review form."""
    page = client.get(reverse("patient-detail", args=[patient.pk])).content.decode()
    return _seen_in(page, side)


def _seen_in(page: str, side: str) -> str:
    found = re.search(rf'name="review-{side}-seen_through" value="([^"]+)"', page)
    assert found, "the review form carries when the newest painful set shown arrived"
    return found.group(1)


def post_review(client, patient, outcome, side="left", **extra):
    data = {
        f"review-{side}-outcome": outcome,
        f"review-{side}-seen_through": seen_on_page(client, patient, side),
    }
    data.update({f"review-{side}-{k}": v for k, v in extra.items()})
    return client.post(review_url(patient, side), data)


def test_the_page_shows_the_alert_on_its_side_with_the_review_form(client, sore, therapist):
    client.force_login(therapist)
    page = client.get(reverse("patient-detail", args=[sore.patient.pk])).content.decode()
    assert "Pain alert: 9/10 on the left side" in page
    assert 'action="' + review_url(sore.patient) + '"' in page
    assert "Regress one stage" in page and "Referred to the doctor" in page


def test_a_therapist_reviews_from_the_page(client, sore, therapist):
    client.force_login(therapist)
    response = post_review(client, sore.patient, PainOutcome.REGRESSED, note="Sore hip")
    assert response.status_code == 302
    assert response.url.endswith("#side-left")
    assert PainReview.objects.get().outcome == PainOutcome.REGRESSED
    assert Prescription.objects.active().get().stage.number == 1
    page = client.get(response.url).content.decode()
    assert "Pain alert on the left side reviewed: regressed." in page


def test_a_review_without_a_decision_is_refused_next_to_the_field(client, sore, therapist):
    client.force_login(therapist)
    response = client.post(review_url(sore.patient), {"review-left-note": "?"})
    assert response.status_code == 200
    assert "Choose what you decided" in response.content.decode()
    assert not PainReview.objects.exists()


def test_the_services_refusal_is_shown_on_the_page(client, patient, therapist):
    rx = start(patient, therapist, number=1)
    log(rx, pain=8)
    client.force_login(therapist)
    response = post_review(client, patient, PainOutcome.REGRESSED)
    assert response.status_code == 200
    assert "nothing to regress to" in response.content.decode()


def test_a_set_that_arrives_while_the_therapist_reads_is_not_closed_unseen(client, sore, therapist):
    client.force_login(therapist)
    seen = seen_on_page(client, sore.patient)
    log(sore, pain=10, at=NOW - dt.timedelta(minutes=30))  # reaches the clinic meanwhile
    response = client.post(
        review_url(sore.patient),
        {"review-left-outcome": PainOutcome.CONTINUED, "review-left-seen_through": seen},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert (
        "Another painful set on the left side reached the clinic while you were reviewing" in page
    )
    assert "now 3 sets, worst 10/10" in page
    assert not PainReview.objects.exists()
    # The page shown with the refusal carries the new value: recording again now works.
    fresh = _seen_in(page, "left")
    assert fresh != seen
    response = client.post(
        review_url(sore.patient),
        {"review-left-outcome": PainOutcome.CONTINUED, "review-left-seen_through": fresh},
    )
    assert response.status_code == 302
    assert PainReview.objects.get().painful_sets == 3


@pytest.mark.parametrize("seen", [None, "yesterday"])
def test_a_review_from_an_out_of_date_page_is_refused(client, sore, therapist, seen):
    client.force_login(therapist)
    data = {"review-left-outcome": PainOutcome.CONTINUED}
    if seen is not None:
        data["review-left-seen_through"] = seen
    response = client.post(review_url(sore.patient), data)
    assert response.status_code == 200
    assert "The page was out of date: read the alert again" in response.content.decode()
    assert not PainReview.objects.exists()


def test_staff_read_the_alert_but_cannot_review_it(client, sore, staff):
    client.force_login(staff)
    page = client.get(reverse("patient-detail", args=[sore.patient.pk])).content.decode()
    assert "Pain alert: 9/10 on the left side" in page
    assert "Record the review" not in page
    response = client.post(review_url(sore.patient), {"review-left-outcome": "continued"})
    assert response.status_code == 403
    assert not PainReview.objects.exists()


@pytest.mark.parametrize("who", ["outsider", "patient_user"])
def test_outsiders_get_404(client, sore, outsider, who):
    user = outsider if who == "outsider" else sore.patient.user
    client.force_login(user)
    response = client.post(review_url(sore.patient), {"review-left-outcome": "continued"})
    assert response.status_code == 404
    assert not PainReview.objects.exists()


def test_anonymous_is_sent_to_sign_in(client, sore):
    response = client.post(review_url(sore.patient), {"review-left-outcome": "continued"})
    assert response.status_code == 302
    assert not PainReview.objects.exists()


def test_an_unknown_side_is_404(client, sore, therapist):
    client.force_login(therapist)
    assert client.post(review_url(sore.patient, "middle"), {}).status_code == 404


def test_get_is_not_allowed(client, sore, therapist):
    client.force_login(therapist)
    assert client.get(review_url(sore.patient)).status_code == 405
