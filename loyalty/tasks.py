"""Periodic jobs of the loyalty program; the schedule is CELERY_BEAT_SCHEDULE in
settings. (Pending points, expiry and referral rewards are deadlines swept every minute
by retention_crm.tasks.sweep_deadlines.)"""

import logging

from celery import shared_task

from retention_crm.idempotency import idempotent_requests_prune

from .rollup import ledger_days_rebuild
from .services import birthday_sweep, expiring_points_notify, tiers_evaluate

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def loyalty_hourly() -> None:
    """Birthday bonuses whose morning came, and warnings of points about to expire."""
    birthdays = birthday_sweep()
    warned = expiring_points_notify()
    if birthdays or warned:
        logger.info("Loyalty: %d birthday bonuses, %d expiry warnings", birthdays, warned)


@shared_task(ignore_result=True)
def loyalty_nightly() -> None:
    """Tier upgrades and downgrades for every member; old Idempotency-Key answers go;
    the ledger's days are summed anew (the dashboard reads them)."""
    changes = tiers_evaluate()
    pruned = idempotent_requests_prune()
    days = ledger_days_rebuild()
    logger.info("Loyalty tiers: %s; %d stored idempotent answers pruned; %d ledger days", changes, pruned, days)
