"""The set-based sweep (sweep_sql, PostgreSQL, policies without a calendar) does what
the Python sweep does, on random ticket states: the same new state, field by field,
and the same emails (the customer's follow-up, and the staff's warnings and
escalations, item by item)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils.dateparse import parse_datetime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import Message
from feedback.models import SlaPolicy, Ticket, TicketStatus
from feedback.services import emails, sweep_sql
from feedback.services.sweeps import SLA_FIELDS, _act_on_deadlines

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
COMPARED = [field for field in SLA_FIELDS if field != "updated_at"]

offsets = st.one_of(st.none(), st.integers(-3000, 3000).map(lambda minutes: NOW + timedelta(minutes=minutes)))
states = st.fixed_dictionaries(
    {
        "status": st.sampled_from(TicketStatus.values),
        "first_responded_at": st.one_of(st.none(), st.just(NOW - timedelta(hours=1))),
        "acknowledge_by": offsets,
        "response_warned": st.booleans(),
        "first_response_breached": st.booleans(),
        "resolve_by": offsets,
        "resolution_warned": st.booleans(),
        "escalation_level": st.integers(0, 3),
        "resolution_breached": st.booleans(),
        "told_resolve_by": offsets,
        "assigned": st.booleans(),
    }
)
policies = st.fixed_dictionaries(
    {
        "warn_before": st.sampled_from([timedelta(0), timedelta(minutes=30), timedelta(hours=4), timedelta(days=2)]),
        "follow_up_every": st.sampled_from([timedelta(minutes=5), timedelta(hours=1), timedelta(days=1)]),
    }
)


class Rollback(Exception):
    pass


def emails_of(messages):
    """What the emails say, comparable between the two ways."""
    follow_ups = sorted(
        (m.key, m.to_email, parse_datetime(m.context["resolve_by"])) for m in messages if m.kind == "ticket_follow_up"
    )
    staff = sorted(
        (m.kind, m.to_email, json.dumps(m.context["items"], sort_keys=True))
        for m in messages
        if m.kind != "ticket_follow_up"
    )
    return follow_ups, staff


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=states, policy_values=policies)
def test_sql_and_python_sweeps_agree(open_ticket, state, policy_values):
    agent = User.objects.get_or_create(username="sweeper", defaults={"email": "sweeper@example.com"})[0]
    boss = User.objects.get_or_create(username="boss", defaults={"email": "boss@example.com"})[0]
    boss.groups.add(Group.objects.get(name="Support manager"))
    ticket = Ticket.objects.filter(customer__email="ann@example.com").first() or open_ticket()
    SlaPolicy.objects.filter(pk=ticket.policy_id).update(calendar=None, **policy_values)
    values = {key: value for key, value in state.items() if key != "assigned"}
    Ticket.objects.filter(pk=ticket.pk).update(
        **values, assignee=agent if state["assigned"] else None, sla_due_at=NOW - timedelta(minutes=1)
    )

    # The Python sweep's answer, from the same state.
    python = Ticket.objects.select_related("customer", "assignee", "policy").get(pk=ticket.pk)
    digests, to_customers = emails.StaffDigests(), []
    _act_on_deadlines(python, NOW, digests, to_customers)
    python_emails = emails_of([m for m in to_customers if m is not None] + digests.emails())

    # The SQL sweep's, rolled back afterwards.
    try:
        with transaction.atomic():
            before = set(Message.objects.values_list("pk", flat=True))
            assert sweep_sql.act_in_sql(NOW, 10) == 1
            sql = Ticket.objects.get(pk=ticket.pk)
            sql_emails = emails_of(Message.objects.exclude(pk__in=before))
            raise Rollback
    except Rollback:
        pass

    for field in COMPARED:
        assert getattr(sql, field) == getattr(python, field), (field, state, policy_values)
    assert sql_emails == python_emails, (state, policy_values)


def test_tickets_under_a_calendar_are_left_to_the_python_sweep(open_ticket, office_calendar):
    ticket = open_ticket()
    SlaPolicy.objects.filter(pk=ticket.policy_id).update(calendar=office_calendar)
    Ticket.objects.filter(pk=ticket.pk).update(sla_due_at=NOW - timedelta(minutes=1))
    assert sweep_sql.act_in_sql(NOW, 10) == 0
