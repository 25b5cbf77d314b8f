"""The SLA clocks of a ticket: which policy applies, when the answer and the resolution
are due, when the sweep must next look at the ticket, and pausing while the ticket
waits on the customer.

These functions only change the ticket object in memory; the services that call them
save it in their own transaction.
"""

import time
from datetime import datetime, timedelta

from django.core.exceptions import ImproperlyConfigured

from .. import business_time
from ..models import SlaPolicy, Ticket

# Policies are read on every new ticket and change a few times a year: each process
# keeps them this many seconds (a change made in the admin is also seen at once by the
# process that made it).
POLICY_CACHE_SECONDS = 30
_policies: tuple[float, list[SlaPolicy]] | None = None


def policies_in_order() -> list[SlaPolicy]:
    global _policies
    now = time.monotonic()
    if _policies is None or now - _policies[0] > POLICY_CACHE_SECONDS:
        _policies = (
            now,
            list(SlaPolicy.objects.select_related("calendar", "tier").order_by("is_default", "position", "id")),
        )
    return _policies[1]


def forget_policies(**kwargs) -> None:
    global _policies
    _policies = None


def policy_for(*, kind: str, priority: str, customer_id: int | None = None) -> SlaPolicy:
    """The first policy (by position) that matches the ticket and the customer's loyalty
    tier; the default policy otherwise. The tier is read only when a policy names one."""
    policies = policies_in_order()
    tier_rank = None
    if customer_id is not None and any(policy.tier_id for policy in policies):
        from loyalty.selectors import tier_rank_of

        tier_rank = tier_rank_of(customer_id)
    default = None
    for policy in policies:
        if policy.is_default:
            default = policy
        elif policy.matches(kind=kind, priority=priority, tier_rank=tier_rank):
            return policy
    if default is None:
        raise ImproperlyConfigured("There is no default SLA policy; run the migrations.")
    return default


def _warn_at(deadline: datetime, policy: SlaPolicy) -> datetime | None:
    if policy.warn_before <= timedelta(0):
        return None
    return business_time.subtract(deadline, policy.warn_before, policy.business_calendar())


def _needs_warning(deadline: datetime, policy: SlaPolicy, now: datetime) -> bool:
    """A warning is worth sending only if it would come before the deadline and after now
    (a deadline set closer than the warning time gets none)."""
    warn_at = _warn_at(deadline, policy)
    return warn_at is not None and now < warn_at < deadline


def set_resolution_deadline(ticket: Ticket, deadline: datetime, now: datetime) -> None:
    ticket.resolve_by = deadline
    ticket.resolution_warned = not _needs_warning(deadline, ticket.policy, now)


def start_clocks(ticket: Ticket, now: datetime) -> None:
    """A new ticket: the first answer and the resolution are due after the policy's times."""
    policy = ticket.policy
    calendar = policy.business_calendar()
    ticket.acknowledge_by = business_time.add(now, policy.answer_within, calendar)
    ticket.response_warned = not _needs_warning(ticket.acknowledge_by, policy, now)
    set_resolution_deadline(ticket, business_time.add(now, policy.resolve_within, calendar), now)
    ticket.promised_by = ticket.told_resolve_by = ticket.resolve_by
    schedule(ticket)


def schedule(ticket: Ticket) -> None:
    """Set `sla_due_at` (the next warning or breach) and `next_deadline_at` (what the
    queue shows) from the ticket's state."""
    if not ticket.is_active:
        ticket.sla_due_at = ticket.next_deadline_at = None
        return
    policy = ticket.policy
    due: list[datetime] = []
    deadlines: list[datetime] = []
    if ticket.first_responded_at is None and ticket.acknowledge_by is not None:
        deadlines.append(ticket.acknowledge_by)
        if not ticket.response_warned:
            due.append(_warn_at(ticket.acknowledge_by, policy))
        if not ticket.first_response_breached:
            due.append(ticket.acknowledge_by)
    if ticket.resolve_by is not None:
        deadlines.append(ticket.resolve_by)
        if not ticket.resolution_warned:
            due.append(_warn_at(ticket.resolve_by, policy))
        due.append(ticket.resolve_by)  # a breach, and a follow-up at each interval after
    due = [moment for moment in due if moment is not None]
    ticket.sla_due_at = min(due) if due else None
    ticket.next_deadline_at = min(deadlines) if deadlines else None


def pause(ticket: Ticket, now: datetime) -> None:
    """Waiting on the customer: keep the business time left and stop the resolution clock."""
    if ticket.resolve_by is None:
        return
    left = business_time.between(now, ticket.resolve_by, ticket.policy.business_calendar())
    ticket.remaining = max(left, timedelta(0))
    ticket.paused_at = now
    ticket.resolve_by = None
    schedule(ticket)


def resume(ticket: Ticket, now: datetime) -> None:
    """The clock goes on where it stopped."""
    if ticket.paused_at is None:
        return
    left = ticket.remaining or timedelta(0)
    set_resolution_deadline(ticket, business_time.add(now, left, ticket.policy.business_calendar()), now)
    ticket.paused_at = None
    ticket.remaining = None
    schedule(ticket)


def restart_resolution(ticket: Ticket, now: datetime) -> None:
    """A reopened ticket: a fresh resolution time from now."""
    policy = ticket.policy
    set_resolution_deadline(ticket, business_time.add(now, policy.resolve_within, policy.business_calendar()), now)
    ticket.paused_at = None
    ticket.remaining = None
    schedule(ticket)


def change_policy(ticket: Ticket, policy: SlaPolicy, now: datetime) -> None:
    """Kind or priority changed, and with them the policy: the clocks keep the time
    already used and get the new policy's allowance.

    The deadline for the first answer and, until a follow-up promised a new date, the
    resolution deadline move by the difference between the two policies' times (what was
    used stays used). A follow-up's date was promised to the customer and stays; the new
    policy sets the ones after it.
    """
    old = ticket.policy
    ticket.policy = policy
    calendar = policy.business_calendar()
    if ticket.first_responded_at is None and ticket.acknowledge_by is not None:
        left = business_time.between(now, ticket.acknowledge_by, old.business_calendar())
        left += policy.answer_within - old.answer_within
        ticket.acknowledge_by = business_time.add(now, max(left, timedelta(0)), calendar)
        ticket.response_warned = not _needs_warning(ticket.acknowledge_by, policy, now)
        if ticket.acknowledge_by > now:
            ticket.first_response_breached = False
    if ticket.escalation_level == 0:
        difference = policy.resolve_within - old.resolve_within
        if ticket.resolve_by is not None:
            left = business_time.between(now, ticket.resolve_by, old.business_calendar()) + difference
            set_resolution_deadline(ticket, business_time.add(now, max(left, timedelta(0)), calendar), now)
        elif ticket.paused_at is not None:
            ticket.remaining = max((ticket.remaining or timedelta(0)) + difference, timedelta(0))
    schedule(ticket)


def follow_up_deadline(ticket: Ticket, now: datetime) -> datetime:
    """The new date given with a follow-up after a missed deadline."""
    policy = ticket.policy
    return business_time.add(now, policy.follow_up_every, policy.business_calendar())


def warn_at(deadline: datetime, ticket: Ticket) -> datetime | None:
    return _warn_at(deadline, ticket.policy)
