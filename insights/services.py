"""What staff do about customers at risk; the admin and (later) the API share these."""

from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from customers.services import interaction_log

from .models import CustomerScore, Outcome, Outreach


def outreach_take(*, customer_ids: list[int], user) -> list[int]:
    """`user` takes these customers from the work queue. A customer someone already took
    (an open outreach) is left to them; returns the ids taken now."""
    scores = CustomerScore.objects.filter(customer_id__in=customer_ids)
    with transaction.atomic():
        taken_before = set(
            Outreach.objects.filter(customer_id__in=customer_ids, closed_at__isnull=True).values_list(
                "customer_id", flat=True
            )
        )
        # The partial unique index (one open outreach per customer) settles a race with
        # a colleague taking the same customer: their row wins, ours is not written.
        Outreach.objects.bulk_create(
            [
                Outreach(customer_id=score.customer_id, taken_by=user, churn_risk=score.churn_risk,
                         value_at_risk=score.value_at_risk)
                for score in scores
                if score.customer_id not in taken_before
            ],
            ignore_conflicts=True,
        )  # fmt: skip
        return list(
            Outreach.objects.filter(
                customer_id__in=customer_ids, closed_at__isnull=True, taken_by=user
            ).exclude(customer_id__in=taken_before).values_list("customer_id", flat=True)
        )  # fmt: skip


def outreach_close(*, outreach: Outreach, outcome: str, contact: str, log: str, author, now: datetime) -> Outreach:
    """Log what was done on the customer's timeline and set the outcome; any outcome but
    "in progress" closes the outreach (the customer may be taken again later)."""
    with transaction.atomic():
        if log.strip():
            interaction_log(
                customer=outreach.customer,
                entry=contact,
                body=log,
                author=author,
                subject=_("Retention outreach"),
                occurred_at=now,
            )
        outreach.outcome = outcome
        outreach.closed_at = None if outcome == Outcome.OPEN else (outreach.closed_at or now)
        outreach.save(update_fields=["outcome", "closed_at"])
    return outreach
