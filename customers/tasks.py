"""Periodic jobs of the customers app; the schedule is CELERY_BEAT_SCHEDULE in settings."""

import logging
import time
from pathlib import Path

from celery import shared_task
from django.conf import settings

from .metrics import fold_pending
from .outbox import DELIVERY_CHUNK, messages_deliver
from .services import inactive_customers_erase

logger = logging.getLogger(__name__)

UPLOAD_MAX_AGE_SECONDS = 24 * 60 * 60


def import_uploads_purge(*, now: float | None = None) -> int:
    """Delete admin import uploads that were previewed but never confirmed (a preview
    token lives an hour; a day later the file is surely abandoned). Returns how many."""
    directory = Path(settings.MEDIA_ROOT) / "imports"
    if not directory.is_dir():
        return 0
    limit = (now or time.time()) - UPLOAD_MAX_AGE_SECONDS
    removed = 0
    for path in directory.glob("*.csv"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another worker got there first
    if removed:
        logger.info("Removed %d abandoned import uploads", removed)
    return removed


@shared_task(ignore_result=True)
def purge_import_uploads() -> None:
    import_uploads_purge()


@shared_task(ignore_result=True)
def fold_pending_activity() -> None:
    """Move the retention aggregates' pending deltas into their base tables: reports
    stay exact without it, only slower as the pending rows pile up."""
    fold_pending()


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def deliver_messages(message_ids: list[int]) -> None:
    """Send outbox emails (routed to the "mail" queue), each in its own transaction.
    A long list is split into tasks of DELIVERY_CHUNK first, for several workers to
    share. Safe to run twice: a sent row is skipped, and so is a row another worker is
    sending."""
    if len(message_ids) > DELIVERY_CHUNK:
        for start in range(0, len(message_ids), DELIVERY_CHUNK):
            deliver_messages.apply_async((message_ids[start : start + DELIVERY_CHUNK],))
        return
    messages_deliver(message_ids)


@shared_task(ignore_result=True)
def erase_inactive_customers() -> None:
    """Nightly: the personal data of customers inactive for CUSTOMER_ERASE_INACTIVE_DAYS."""
    erased = inactive_customers_erase()
    if erased:
        logger.info("Erased the personal data of %d inactive customers", erased)
