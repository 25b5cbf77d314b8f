"""The sweep of every deadline, run by beat (SWEEP_INTERVAL_SECONDS, a minute by
default). DESIGN.md, mechanism 1: deadlines are indexed columns; each sweep claims
what is due with SKIP LOCKED and acts in the same transaction, so any number of sweeps
may run at once and a killed one loses nothing."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


def sweeps():
    """The sweeps in the order they run: ticket deadlines, reminders and the loyalty
    deadlines write emails, then the outbox sweep queues whatever is pending and due.
    Pending points are released before expiry runs, so a credit is never expired while
    it still counts as pending."""
    from customers.outbox import outbox_sweep
    from feedback.services import reminder_sweep, ticket_autoclose_sweep, ticket_sla_sweep
    from feedback.surveys.services import survey_invitation_sweep
    from insights.campaigns import campaigns_sweep
    from loyalty.services import pending_release_sweep, points_expiry_sweep, referral_reward_sweep

    return [
        ("ticket deadlines", ticket_sla_sweep),
        ("ticket auto-close", ticket_autoclose_sweep),
        ("reminders", reminder_sweep),
        ("survey invitations", survey_invitation_sweep),
        ("pending points", pending_release_sweep),
        ("expired points", points_expiry_sweep),
        ("referral rewards", referral_reward_sweep),
        ("win-back campaigns", campaigns_sweep),
        ("outbox", outbox_sweep),
    ]


def deadlines_sweep() -> dict[str, int]:
    """Run every sweep; one that fails is logged and does not stop the others."""
    done = {}
    for name, sweep in sweeps():
        try:
            done[name] = sweep()
        except Exception:
            logger.exception("The %s sweep failed; the next sweep tries again.", name)
            continue
        if done[name]:
            logger.info("Sweep: %s: %d", name, done[name])
    return done


@shared_task(ignore_result=True)
def sweep_deadlines() -> None:
    deadlines_sweep()
