"""Fixtures every app's tests share: the staff personas and API clients.

The tests run on PostgreSQL and Redis, as production does (`make test` sets the URLs).
"""

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from customers.models import AggregateState

AGENT_GROUP = "Support agent"
MANAGER_GROUP = "Support manager"


@pytest.fixture(scope="session", autouse=True)
def _on_postgresql(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.exit("The tests run on PostgreSQL: use `make test` (or set DATABASE_URL).", returncode=2)
    # The cache (Redis) outlives a test run; ids of a fresh test database do not.
    cache.clear()


DB_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}


def pytest_collection_modifyitems(items):
    """Every transactional test restores the migrations' rows (serialized_rollback): its
    flush empties every table, and without the restore the groups, policies and surveys
    the migrations made are gone for the tests after it (and the next test that restores
    them collides with the content types the flush made again)."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
            raise pytest.UsageError(f"{item.nodeid}: mark it django_db(transaction=True, serialized_rollback=True)")


@pytest.fixture(autouse=True)
def _aggregate_state(request, django_db_blocker):
    """The state row the migration creates; a transactional test's flush deletes it.

    With no orders in the database, aggregates for today's settings are exact (empty).
    """
    if request.node.get_closest_marker("django_db") or DB_FIXTURES & set(request.fixturenames):
        with django_db_blocker.unblock():
            AggregateState.objects.get_or_create(
                id=1, defaults={"window_days": settings.RETENTION_WINDOW_DAYS, "time_zone": settings.TIME_ZONE}
            )


@pytest.fixture(autouse=True)
def _english_to_begin_with():
    """Each test starts in English: the test client runs views in this thread, and a
    view that activated a customer's language would otherwise leave it active."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_policy_cache():
    """Each test sees the policies of its own database (a process keeps them for a while)."""
    from feedback.services.sla import forget_policies

    forget_policies()
    yield
    forget_policies()


def _staff(username: str, group: str | None) -> User:
    user = User.objects.create_user(username=username, password="correct horse battery", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def agent(db) -> User:
    return _staff("agent", AGENT_GROUP)


@pytest.fixture
def manager(db) -> User:
    return _staff("manager", MANAGER_GROUP)


@pytest.fixture
def outsider(db) -> User:
    """Staff without a role: logs in, may see nothing."""
    return _staff("outsider", None)


@pytest.fixture
def agent_client(agent) -> Client:
    client = Client()
    client.force_login(agent)
    return client


@pytest.fixture
def manager_client(manager) -> Client:
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def agent_api(agent) -> APIClient:
    client = APIClient()
    client.force_authenticate(agent)
    return client


@pytest.fixture
def manager_api(manager) -> APIClient:
    client = APIClient()
    client.force_authenticate(manager)
    return client
