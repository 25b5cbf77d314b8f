"""Periodic jobs of the insights app; the schedule is CELERY_BEAT_SCHEDULE in settings."""

import logging

from celery import shared_task

from .report import weekly_report_send
from .scoring import product_pairs_compute, scores_compute

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def insights_nightly() -> None:
    """Every customer's churn risk and predicted CLV (one statement; safe to run twice),
    and the products most often bought together."""
    run = scores_compute()
    pairs = product_pairs_compute()
    logger.info(
        "Scored %d customers (expected lifespan %.2f years, shop's usual gap %.1f days); %d product pairs",
        run.customers,
        run.lifespan_years,
        run.shop_gap_days,
        pairs,
    )


@shared_task(ignore_result=True)
def insights_weekly() -> None:
    """Last week's report to every manager (once per manager and week, whatever runs)."""
    logger.info("Weekly report written for %d managers", weekly_report_send())
