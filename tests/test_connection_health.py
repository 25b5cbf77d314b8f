"""The persistent connection's health check (retention_crm/postgresql/base.py): a
connection the server closed is replaced before a request uses it, and an idle healthy
one is reused without asking the server."""

import time

import psycopg
import pytest
from django.db import connection

from customers.models import Customer
from retention_crm.postgresql.base import server_has_written

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def start_of_request() -> None:
    """What Django does when a request starts (request_started → close_old_connections)."""
    connection.close_if_unusable_or_obsolete()


def terminate(backend_pid: int) -> None:
    params = connection.get_connection_params()
    with psycopg.connect(**{**params, "autocommit": True}) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend_pid])


def terminate_and_wait(old) -> None:
    """Terminate the backend of this psycopg connection and wait until its socket shows
    it (the server writes why, then closes)."""
    terminate(old.info.backend_pid)
    deadline = time.monotonic() + 5
    while not server_has_written(old) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server_has_written(old)


def test_a_connection_the_server_terminated_is_replaced_before_the_next_request_uses_it():
    Customer.objects.count()
    old = connection.connection
    terminate_and_wait(old)

    start_of_request()
    assert Customer.objects.count() == 0  # no OperationalError: a new connection answered
    assert connection.connection is not old


def test_an_idle_healthy_connection_is_reused_without_a_query(monkeypatch):
    Customer.objects.count()
    old = connection.connection
    assert not server_has_written(old)
    asked = []
    monkeypatch.setattr(connection, "is_usable", lambda: asked.append(True) or True)

    start_of_request()
    Customer.objects.count()
    assert connection.connection is old
    assert asked == []


def test_without_the_check_the_terminated_connection_would_have_failed_the_request():
    """The first test means something: the terminated connection is really unusable."""
    Customer.objects.count()
    old = connection.connection
    terminate(old.info.backend_pid)
    time.sleep(0.2)
    with pytest.raises(psycopg.OperationalError):
        old.execute("SELECT 1")
    connection.close()  # for the test's teardown


def test_the_busy_paths_reads_and_writes_past_the_orm_also_replace_a_terminated_connection():
    """A redemption's first query can be `rows_together` (its token comes from the
    cache), and the outbox writes through `binding_cursor`: both ready the connection
    as Django's cursor does."""
    from retention_crm.db import Rows, binding_cursor, rows_together

    def write_through_binding_cursor():
        with binding_cursor() as cursor:
            cursor.execute("SELECT 1")

    for first_query in (lambda: rows_together(Rows(Customer, "id > %s", [0])), write_through_binding_cursor):
        Customer.objects.count()
        old = connection.connection
        terminate_and_wait(old)

        start_of_request()
        first_query()  # no OperationalError: a new connection answered
        assert connection.connection is not old
