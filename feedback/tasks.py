"""Periodic jobs of the feedback app; the schedule is CELERY_BEAT_SCHEDULE in settings.
(Ticket and survey deadlines are swept by retention_crm.tasks.sweep_deadlines.)"""

import logging

from celery import shared_task

from .surveys.services import surveys_schedule

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def schedule_surveys() -> None:
    """Choose who gets the periodic NPS and CLI invitations (idempotent per day)."""
    made = surveys_schedule()
    if made:
        logger.info("Scheduled %d survey invitations", made)
