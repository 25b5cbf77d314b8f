"""A worker keeps its PostgreSQL connection from one task to the next (Celery's Django
fixup would close it after every task, and each task would pay for a new one), and
still replaces one that is older than CONN_MAX_AGE, as Django does around requests."""

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connection

from customers.tasks import fold_pending_activity
from retention_crm.celery import app

from .test_connection_health import terminate_and_wait

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def run_as_a_worker_would(fixup: DjangoWorkerFixup) -> None:
    """What a worker process does around a task: Celery's Django fixup and the task
    signals, with a query in between."""
    task = fold_pending_activity
    fixup.on_task_prerun(sender=task)
    task_prerun.send(sender=task, task_id="t", task=task, args=(), kwargs={})
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    task_postrun.send(sender=task, task_id="t", task=task, args=(), kwargs={}, retval=None, state="SUCCESS")
    fixup.on_task_postrun(sender=task)


def test_a_worker_keeps_its_database_connection_from_task_to_task():
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    first = connection.connection
    for _task in range(3):
        run_as_a_worker_would(fixup)
    assert connection.connection is first and not first.closed


def test_a_connection_older_than_conn_max_age_is_replaced(monkeypatch):
    fixup = DjangoWorkerFixup(app)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    connection.close()
    connection.ensure_connection()  # its age limit is set when it opens: now
    first = connection.connection
    run_as_a_worker_would(fixup)
    assert connection.connection is not first and first.closed


def test_a_connection_the_server_closed_between_tasks_is_replaced_before_the_next_task_uses_it():
    """A PostgreSQL restart between two tasks costs the next task nothing: its first
    query runs on a new connection (the health check of test_connection_health.py)."""
    fixup = DjangoWorkerFixup(app)
    run_as_a_worker_would(fixup)
    first = connection.connection
    terminate_and_wait(first)
    run_as_a_worker_would(fixup)  # its query would raise on the terminated connection
    assert connection.connection is not first
