"""Every page of the admin and every GET of the API, on the demo's data (a sent win-back
campaign too), as a superuser, a manager and an agent: no 500, and no link on our own
pages that answers 4xx; every object saved as its page shows it; the customer pages
through their links, shown and posted to.
Found this way: the "All entries" link of a loyalty account filtered on a lookup the
ledger's list refuses (a 400). tests/test_embedded_default.py walks the same on SQLite."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from customers.models import Message
from insights.campaigns import campaign_launch, campaigns_sweep
from insights.models import WinBackCampaign, WinBackRecipient
from loyalty.models import Entry

from .crawl import admin_actions_walk, admin_crawl, admin_resave_walk, api_crawl, customer_pages_walk


@pytest.fixture
def demo(db):
    call_command("seed_demo", customers=150, stdout=open("/dev/null", "w"))  # noqa: SIM115
    campaign = WinBackCampaign.objects.get()
    assert campaign_launch(campaign)
    campaigns_sweep()
    assert WinBackRecipient.objects.filter(campaign=campaign).exists()


@pytest.fixture
def staff(demo, agent, manager) -> dict[str, tuple[User, Client]]:
    """A logged-in client for each role: superuser, manager, agent."""
    root = User.objects.create_superuser("root", "root@example.com", "x")
    clients = {}
    for role, who in (("root", root), ("manager", manager), ("agent", agent)):
        clients[role] = (who, Client(raise_request_exception=False))
        clients[role][1].force_login(who)
    return clients


@pytest.mark.django_db
def test_every_admin_page_answers_for_each_role(staff):
    visited = {}
    for role, (_who, client) in staff.items():
        visited[role], failures = admin_crawl(client)
        assert not failures, (role, failures)
    # Not a walk that stopped at the door: every list, filter and object page.
    assert visited["root"] > 500 and visited["manager"] > 400 and visited["agent"] > 200, visited


@pytest.mark.django_db
def test_every_api_address_answers(demo, manager):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(manager)
    visited, failures = api_crawl(client)
    assert not failures
    assert visited > 100


@pytest.mark.django_db
def test_every_customer_page_answers_through_its_link(demo):
    assert customer_pages_walk() == []


@pytest.mark.django_db
def test_every_admin_action_runs_on_what_the_lists_show(staff):
    ran = {}
    for role, (who, client) in staff.items():
        ran[role], failures = admin_actions_walk(client, who)
        assert not failures, (role, failures)
    assert ran["root"] > 30 and ran["agent"] > 5, ran


@pytest.mark.django_db
def test_every_object_saved_as_its_admin_page_shows_it_goes_through_and_sends_nothing(staff):
    before = (Message.objects.count(), Entry.objects.count())
    saved = {}
    for role in ("root", "manager"):
        saved[role], refused = admin_resave_walk(staff[role][1])
        assert not refused, (role, refused)
    assert saved["root"] > 30 and saved["manager"] > 25, saved
    assert (Message.objects.count(), Entry.objects.count()) == before  # no email, no points
