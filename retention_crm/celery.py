"""The Celery application, as in Celery's "First steps with Django"."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retention_crm.settings")

app = Celery("retention_crm")
# Every CELERY_* setting in settings.py configures the app.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _database_connections_as_around_a_request(sender=None, **_kwargs) -> None:
    """Before and after each task a worker runs, what Django does before and after each
    request: close a connection that is older than CONN_MAX_AGE or unusable after an
    error, and have the next query check a kept one's health (CONN_HEALTH_CHECKS).
    Celery's own closing after every task is switched off (CELERY_DB_REUSE_MAX in
    settings). Not for a task run in the caller's process (eagerly), which may be inside
    the caller's transaction."""
    if not getattr(sender.request, "is_eager", False):
        close_old_connections()
