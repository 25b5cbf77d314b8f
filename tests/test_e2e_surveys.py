"""The loop closed end to end with the real processes (gunicorn, a Celery worker and
beat, an SMTP sink): a resolved ticket brings the CSAT invitation; an unhappy answer
opens a recovery ticket that is acknowledged; resolving it asks the customer again; the
better answer counts as a recovery."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from feedback.models import SurveyInvitation, SurveyResponse, SurveyTrigger, Ticket
from feedback.selectors import service_period
from feedback.surveys.selectors import survey_scores

from .live import Browserless, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def answer(browser: Browserless, email_text: str, score: int) -> None:
    link = re.search(r"http://[^/\s]+(/s/[\w.-]+/)(?=\s)", email_text).group(1)
    status, _page, headers = browser.post_form(link, {"score": str(score), "comment": ""})
    assert status == 302 and "/s/thanks/" in headers["Location"], status


def test_unhappy_csat_recovery_ticket_and_a_better_answer(stack, sink, api_token):
    SurveyTrigger.objects.filter(kind="csat_after_ticket").update(delay=timedelta(seconds=2))
    Customer.objects.create(email="bo@example.com", name="Bo", survey_consent=True)
    browser = Browserless(stack.env["SITE_URL"])
    status, ticket = browser.post_json(
        "/api/tickets/",
        {"customer_email": "bo@example.com", "subject": "Late", "description": "Where is it?"},
        api_token,
    )
    assert status == 201
    status, _body = browser.post_json(f"/api/tickets/{ticket['id']}/resolve/", {"text": "Sent again."}, api_token)
    assert status == 200

    # The sweep sends the CSAT invitation once its delay has passed.
    (invitation,) = wait_for(lambda: sink.of_kind("survey_invitation"), 30, "the CSAT invitation")
    answer(browser, invitation.text, 1)
    response = SurveyResponse.objects.get()
    assert response.unhappy and response.ticket_id == ticket["id"]
    recovery = response.recovery_ticket
    wait_for(lambda: len(sink.of_kind("ticket_ack")) == 2, 15, "the recovery ticket's acknowledgment")

    # Resolving the recovery ticket asks the same survey again; the better answer recovers.
    status, _body = browser.post_json(f"/api/tickets/{recovery.pk}/resolve/", {"text": "Refunded."}, api_token)
    assert status == 200
    wait_for(lambda: len(sink.of_kind("survey_invitation")) == 2, 30, "the second invitation")
    again = sink.of_kind("survey_invitation")[1]
    assert SurveyInvitation.objects.get(source="recovery").recovery_of_id == response.pk
    answer(browser, again.text, 5)
    today = timezone.localdate()
    scores = survey_scores(service_period(start=today - timedelta(days=1), end=today + timedelta(days=1)))
    assert scores["recovery"] == {"unhappy": 1, "recovered": 1, "recovery_rate": 100.0}
    assert scores["csat"] == {"responses": 2, "satisfied": 1, "csat": 50.0}
    assert Ticket.objects.count() == 2
    # Every invitation went out once.
    assert len({message.message_id for message in sink.of_kind("survey_invitation")}) == 2
