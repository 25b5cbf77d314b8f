"""Tickets, messages and survey answers sent at the same moment, each thread on its own
connection (committed data)."""

import pytest

from customers.models import Message
from customers.tests.test_concurrency import race
from feedback.models import Ticket
from feedback.services import ticket_message_receive, ticket_open
from retention_crm.idempotency import form_submission_key

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_one_form_sent_from_several_tabs_at_once_is_one_ticket():
    """The second insert of the submission's key waits for the first to commit and
    fails: the service answers with the first ticket instead of an error."""
    key = form_submission_key("page-token", "ann@example.com", "The parcel arrived broken.")

    def send(_):
        ticket = ticket_open(
            email="ann@example.com", name="Ann", description="The parcel arrived broken.", kind="complaint", key=key
        )
        return ticket.pk

    tickets = race(6, send)
    assert len(set(tickets)) == 1
    assert Ticket.objects.count() == 1
    assert Message.objects.filter(key=key).count() == 1
    assert Message.objects.filter(key__startswith="ticket:").count() == 1  # one acknowledgment


def test_one_message_sent_from_several_tabs_at_once_is_one_message(open_ticket):
    """The key is looked up after the ticket's lock, which the second waits for."""
    ticket = open_ticket()
    key = form_submission_key("page-token", str(ticket.pk), "Here is a photo.")

    def send(_):
        landed, message = ticket_message_receive(ticket=ticket, body="Here is a photo.", key=key)
        return landed.pk, message.pk

    results = race(6, send)
    assert len(set(results)) == 1 and results[0][0] == ticket.pk
    assert Message.objects.filter(ticket=ticket, body="Here is a photo.").count() == 1


def test_one_survey_answer_sent_several_times_at_once_is_stored_once_and_thanked_each_time():
    """Of the simultaneous posts one stores the answer (and, for a detractor, opens one
    recovery ticket); the others find the invitation answered with the same answers and
    get the stored response instead of the dead-link page."""
    from customers.models import Customer
    from feedback.models import Survey, SurveyResponse
    from feedback.surveys.services import survey_invite, survey_response_submit

    customer = Customer.objects.create(email="ann@example.com", survey_consent=True)
    invitation = survey_invite(survey=Survey.objects.get(kind="nps"), customer=customer, source="api")

    def answer(_):
        return survey_response_submit(token=invitation.token, answers={"score": "3", "reason": "Slow"}).response.pk

    assert len(set(race(5, answer))) == 1
    assert SurveyResponse.objects.count() == 1
    assert Ticket.objects.count() == 1  # one recovery ticket
