"""Tickets opened at the same moment, each thread on its own connection (committed data)."""

import pytest

from customers.models import Message
from customers.tests.test_concurrency import race
from feedback.models import Ticket
from feedback.services import form_submission_key, ticket_open

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_one_form_sent_from_several_tabs_at_once_is_one_ticket():
    """The second insert of the submission's key waits for the first to commit and
    fails: the service answers with the first ticket instead of an error."""
    key = form_submission_key("page-token", email="ann@example.com", message="The parcel arrived broken.")

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
