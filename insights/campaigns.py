"""Win-back campaigns: an offer emailed to a segment through the outbox, in batches by
the minute sweep, with the contact-fatigue rules; and who ordered again afterwards.

Who gets no email (the recipient row says why): no email address, no marketing
consent, an unsubscribed address, an open complaint, or a win-back email in the last
WIN_BACK_QUIET_DAYS days. At delivery the outbox checks consent, the unsubscribe list
and the weekly cap on marketing emails (LOYALTY_EMAILS_PER_WEEK, shared with the
loyalty emails) once more.

Results: a recipient who was emailed is won back by a counted order placed within the
campaign's `measure_days` after their email was written. Per variant: the rate, its
95 % Wilson score interval, and the revenue of those orders."""

import logging
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, OuterRef, Q, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Message, Order, Unsubscribe
from customers.outbox import email, emails_write, name_kinds, preparer, reason_check, renderer
from feedback.models import ACTIVE_STATUSES, Ticket, TicketKind
from loyalty.emails import MARKETING_KINDS, marketing_prepare, marketing_refusal
from loyalty.models import Redemption
from loyalty.services import reward_codes_give
from retention_crm.db import Days
from retention_crm.texts import in_language

from .models import CampaignStatus, WinBackCampaign, WinBackRecipient
from .segments import segment_customers

logger = logging.getLogger(__name__)

WIN_BACK = "win_back"
MARKETING_KINDS.add(WIN_BACK)  # counted by the weekly cap, with the loyalty emails
name_kinds({WIN_BACK: _("Win-back offer")})
BATCH = 500
Z_95 = 1.959963984540054  # the normal quantile of 0.975


def campaign_launch(campaign: WinBackCampaign, *, now: datetime | None = None) -> bool:
    """Start sending (the sweep takes it from here). False if it is no draft."""
    now = now or timezone.now()
    return bool(
        WinBackCampaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).update(
            status=CampaignStatus.SENDING, send_at=now, started_at=now
        )
    )


def _variant(campaign: WinBackCampaign, customer_id: int) -> str:
    """A or B at random, the same draw on every run (seeded by campaign and customer)."""
    if not campaign.split:
        return "A"
    return "B" if random.Random(f"{campaign.pk}:{customer_id}").random() < 0.5 else "A"


def _skip_reasons(campaign: WinBackCampaign, customers: list, now: datetime) -> dict[int, str]:
    """Why each customer of the batch gets no email (three queries for the batch)."""
    ids = [customer.pk for customer in customers]
    unsubscribed = set(
        Unsubscribe.objects.filter(email__in=[c.email.lower() for c in customers if c.email]).values_list(
            "email", flat=True
        )
    )
    complaining = set(
        Ticket.objects.filter(
            customer_id__in=ids, kind=TicketKind.COMPLAINT, status__in=ACTIVE_STATUSES
        ).values_list("customer_id", flat=True)
    )  # fmt: skip
    recently = set(
        WinBackRecipient.objects.filter(
            customer_id__in=ids, skipped="", created_at__gte=now - timedelta(days=settings.WIN_BACK_QUIET_DAYS)
        )
        .exclude(campaign=campaign)
        .values_list("customer_id", flat=True)
    )
    reasons = {}
    for customer in customers:
        if not customer.email:
            reasons[customer.pk] = "no email address"
        elif not customer.marketing_consent:
            reasons[customer.pk] = "no marketing consent"
        elif customer.email.lower() in unsubscribed:
            reasons[customer.pk] = "the address unsubscribed"
        elif customer.pk in complaining:
            reasons[customer.pk] = "an open complaint"
        elif customer.pk in recently:
            reasons[customer.pk] = f"a win-back email in the last {settings.WIN_BACK_QUIET_DAYS} days"
    return reasons


def _send_batch(campaign: WinBackCampaign, now: datetime) -> int:
    """The next batch of the segment, in customer order from the cursor, in the caller's
    transaction. Returns how many customers it handled."""
    batch = list(
        segment_customers(campaign.segment.rules, now=now).filter(pk__gt=campaign.cursor).order_by("pk")[:BATCH]
    )
    reasons = _skip_reasons(campaign, batch, now)
    variants = {customer.pk: _variant(campaign, customer.pk) for customer in batch}
    codes = {}
    for variant, reward in (("A", campaign.reward), ("B", campaign.reward_b or campaign.reward)):
        chosen = [pk for pk, drawn in variants.items() if drawn == variant and pk not in reasons]
        codes.update(reward_codes_give(customer_ids=chosen, reward=reward, now=now))
    recipients, messages = [], []
    for customer in batch:
        code = codes.get(customer.pk)
        recipients.append(
            WinBackRecipient(
                campaign=campaign,
                customer=customer,
                variant=variants[customer.pk],
                code=code.code if code else "",
                skipped=reasons.get(customer.pk, ""),
                created_at=now,
            )
        )
        if code:
            messages.append(
                email(
                    kind=WIN_BACK,
                    to_email=customer.email,
                    language=customer.locale,
                    key=f"winback:{campaign.pk}:{customer.pk}",
                    customer=customer,
                    context={"campaign": campaign.pk, "variant": variants[customer.pk], "redemption": code.pk},
                )
            )
    WinBackRecipient.objects.bulk_create(recipients, ignore_conflicts=True)
    emails_write(messages)
    campaign.cursor = batch[-1].pk if batch else campaign.cursor
    campaign.emailed += len(messages)
    campaign.skipped += len(reasons)
    if len(batch) < BATCH:
        campaign.status, campaign.send_at, campaign.finished_at = CampaignStatus.SENT, None, now
    else:
        campaign.send_at = now
    campaign.save(update_fields=["cursor", "emailed", "skipped", "status", "send_at", "finished_at"])
    return len(batch)


def campaigns_sweep(*, now: datetime | None = None, batches: int = 20) -> int:
    """Send due campaigns, a batch per transaction, each campaign locked while a batch
    goes out (SKIP LOCKED: a second sweep takes another campaign or nothing)."""
    now = now or timezone.now()
    handled = 0
    for _round in range(batches):
        with transaction.atomic():
            campaign = (
                WinBackCampaign.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("segment", "reward", "reward_b")
                .filter(status=CampaignStatus.SENDING, send_at__lte=now)
                .order_by("send_at", "pk")
                .first()
            )
            if campaign is None:
                break
            try:
                handled += _send_batch(campaign, now)
            except ValueError as error:  # the segment's rules no longer hold
                logger.error("Win-back campaign %s stopped: %s", campaign.pk, error)
                campaign.status, campaign.send_at, campaign.finished_at = CampaignStatus.SENT, None, now
                campaign.save(update_fields=["status", "send_at", "finished_at"])
    return handled


# --- The email -----------------------------------------------------------------------------


@preparer(WIN_BACK)
def _read_campaigns(messages: list[Message]) -> None:
    """The chunk's campaigns and codes, and what the marketing checks read: four
    queries for the chunk."""
    campaigns = WinBackCampaign.objects.select_related("reward", "reward_b").in_bulk(
        {message.context.get("campaign") for message in messages}
    )
    redemptions = Redemption.objects.in_bulk({message.context.get("redemption") for message in messages})
    marketing_prepare(messages)
    for message in messages:
        message.campaign = campaigns.get(message.context.get("campaign"))
        message.redemption = redemptions.get(message.context.get("redemption"))


@reason_check(WIN_BACK)
def _win_back_still_wanted(message: Message) -> str | None:
    if message.customer is None or message.campaign is None or message.redemption is None:
        return "the customer, the campaign or the code is gone"
    return marketing_refusal(message)


@renderer(WIN_BACK)
def _write_out(message: Message) -> dict:
    campaign, language, redemption = message.campaign, message.language, message.redemption
    variant_b = message.context.get("variant") == "B"
    subjects = (campaign.subjects_b if variant_b else None) or campaign.subjects
    bodies = (campaign.bodies_b if variant_b else None) or campaign.bodies
    reward = (campaign.reward_b if variant_b else None) or campaign.reward
    name = message.customer.name or ""
    return {
        "subject": in_language(subjects, language),
        "paragraphs": [
            paragraph.replace("{name}", name)
            for paragraph in in_language(bodies, language).split("\n\n")
            if paragraph.strip()
        ],
        "offer": reward.name_in(language),
        "code": redemption.code,
        "expires_at": redemption.expires_at,
    }


# --- Results ---------------------------------------------------------------------------------


def wilson_interval(won: int, sent: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of the proportion won / sent, as percentages."""
    if sent == 0:
        return None
    p = won / sent
    denominator = 1 + z * z / sent
    centre = (p + z * z / (2 * sent)) / denominator
    half = z * math.sqrt(p * (1 - p) / sent + z * z / (4 * sent * sent)) / denominator
    return round(100 * max(0.0, centre - half), 2), round(100 * min(1.0, centre + half), 2)


@dataclass(frozen=True)
class VariantResult:
    variant: str
    emailed: int
    won_back: int
    revenue: Decimal

    @property
    def rate(self) -> float | None:
        return round(100 * self.won_back / self.emailed, 2) if self.emailed else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.won_back, self.emailed)


def won_back_orders():
    """A recipient's counted orders within their campaign's window after their email
    (for an Exists or a Subquery over recipients)."""
    window_end = ExpressionWrapper(
        OuterRef("created_at") + Days(OuterRef("campaign__measure_days")), output_field=DateTimeField()
    )
    return Order.objects.counted().filter(
        customer=OuterRef("customer"), placed_at__gte=OuterRef("created_at"), placed_at__lt=window_end
    )


def campaign_results(campaign: WinBackCampaign) -> list[VariantResult]:
    """Per variant, in one aggregate query: emailed, won back, revenue of their orders
    within the measuring window."""
    orders = won_back_orders()
    revenue = orders.order_by().values("customer").annotate(total=Sum("total")).values("total")
    rows = (
        campaign.recipients.filter(skipped="")
        .annotate(ordered=Exists(orders), spent=Subquery(revenue))
        .values("variant")
        .annotate(emailed=Count("pk"), won_back=Count("pk", filter=Q(ordered=True)), revenue=Sum("spent"))
        .order_by("variant")
    )
    return [
        VariantResult(row["variant"], row["emailed"], row["won_back"], row["revenue"] or Decimal("0.00"))
        for row in rows
    ]
