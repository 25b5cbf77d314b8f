"""Service figures on a small data set, each checked against a value computed by hand,
for the team and per agent; the command and the API give the same; queries pinned."""

import io
import json
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from feedback.selectors import service_figures, service_period
from feedback.services import ticket_assign, ticket_message_receive, ticket_reply, ticket_resolve, ticket_sla_sweep

from .conftest import NOW

pytestmark = pytest.mark.django_db
MINUTES = timedelta(minutes=1)


@pytest.fixture
def week(clock, open_ticket):
    """Monday 23 November 2026, all tickets opened at 9:00:
    T1 alice: answered 9:30, resolved 11:00 (in time).
    T2 alice, urgent: answer due 10:00, answered 11:00 (late), resolved 12:00.
    T3 bob, urgent: never answered, resolution due 13:00, resolved 15:00 (promise missed).
    T4 nobody: still open at the end of the week.
    T5 bob: resolved 9:45, reopened on Tuesday, resolved again.
    T6: opened after the week."""
    alice = User.objects.create_user("alice", "alice@example.com", is_staff=True)
    bob = User.objects.create_user("bob", "bob@example.com", is_staff=True)
    t1, t2, t3, _t4, t5 = (
        open_ticket(email="t1@example.com"),
        open_ticket(email="t2@example.com", priority="urgent"),
        open_ticket(email="t3@example.com", priority="urgent"),
        open_ticket(email="t4@example.com"),
        open_ticket(email="t5@example.com"),
    )
    for ticket, agent in ((t1, alice), (t2, alice), (t3, bob), (t5, bob)):
        ticket_assign(ticket=ticket, assignee=agent)
    clock.move_to(NOW + 30 * MINUTES)
    ticket_reply(ticket=t1, text="On it", author=alice)
    clock.move_to(NOW + 45 * MINUTES)
    ticket_resolve(ticket=t5)
    clock.move_to(NOW + 90 * MINUTES)
    ticket_sla_sweep()  # 10:30: T2, T3, T4 missed their first answer
    clock.move_to(NOW + 120 * MINUTES)
    ticket_reply(ticket=t2, text="Sorry for the wait", author=alice)
    ticket_resolve(ticket=t1)
    clock.move_to(NOW + 180 * MINUTES)
    ticket_resolve(ticket=t2)
    clock.move_to(NOW + 300 * MINUTES)
    ticket_sla_sweep()  # 14:00: T3 missed its resolution date
    clock.move_to(NOW + 360 * MINUTES)
    ticket_resolve(ticket=t3)
    clock.move_to(NOW + timedelta(days=1))
    ticket_message_receive(ticket=t5, body="Still broken")
    ticket_resolve(ticket=t5)
    clock.move_to(NOW + timedelta(days=8))
    open_ticket(email="t6@example.com")
    return service_period(start=date(2026, 11, 23), end=date(2026, 11, 29))


def test_the_team_figures_equal_the_hand_computed_ones(week, django_assert_num_queries):
    with django_assert_num_queries(8):
        figures = service_figures(week)
    assert figures.tickets_created == 5
    assert figures.tickets_resolved == 4
    # First answers: T1 30 min, T2 2 h.
    assert figures.first_responses == 2
    assert figures.first_response_mean_seconds == 4500 and figures.first_response_median_seconds == 4500
    # Resolutions: T1 2 h, T2 3 h, T3 6 h, T5 45 min -> mean 2 h 56 min 15 s, median 2 h 30 min.
    assert figures.resolution_mean_seconds == 10575 and figures.resolution_median_seconds == 9000
    assert figures.sla_compliance == 50.0  # T1 and T5; T2 answered late, T3 resolved late
    assert figures.promise_kept == 75.0  # all but T3
    assert figures.reopen_rate == 25.0  # T5
    assert figures.backlog == 1  # T4


def test_the_figures_per_agent(week):
    agents = {agent.agent: agent for agent in service_figures(week).agents}
    assert set(agents) == {"alice", "bob", ""}
    alice, bob, nobody = agents["alice"], agents["bob"], agents[""]
    assert (alice.tickets_created, alice.tickets_resolved, alice.first_responses) == (2, 2, 2)
    assert alice.resolution_mean_seconds == 9000 and alice.sla_compliance == 50.0 and alice.promise_kept == 100.0
    assert (bob.tickets_resolved, bob.resolution_mean_seconds, bob.resolution_median_seconds) == (2, 12150, 12150)
    assert bob.promise_kept == 50.0 and bob.reopen_rate == 50.0 and bob.first_responses == 0
    assert bob.first_response_mean_seconds is None
    assert (nobody.tickets_created, nobody.backlog, nobody.tickets_resolved, nobody.sla_compliance) == (1, 1, 0, None)


def test_an_empty_period_has_null_rates_not_zeros(db):
    figures = service_figures(service_period(start=date(2020, 1, 1), end=date(2020, 1, 31)))
    assert figures.tickets_created == 0 and figures.sla_compliance is None and figures.resolution_median_seconds is None


def test_the_command_and_the_api_give_the_same(week, manager_api):
    out = io.StringIO()
    call_command("service_report", "--start", "2026-11-23", "--end", "2026-11-29", "--json", stdout=out)
    from_command = json.loads(out.getvalue())
    from_api = manager_api.get("/api/metrics/service/?start=2026-11-23&end=2026-11-29").json()
    assert from_command == from_api
    assert from_api["promise_kept"] == 75.0 and len(from_api["agents"]) == 3
    table = io.StringIO()
    call_command("service_report", "--start", "2026-11-23", "--end", "2026-11-29", stdout=table)
    assert "alice" in table.getvalue() and "75.00 %" in table.getvalue()


def test_the_command_refuses_a_bad_period():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="before start"):
        call_command("service_report", "--start", "2026-11-29", "--end", "2026-11-23")
