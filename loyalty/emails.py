"""The loyalty emails written out at delivery, in the customer's language, each with a
fresh link to the customer's loyalty page; and the check delivery runs first: consent,
the unsubscribe list and the weekly cap on loyalty emails (contact fatigue)."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import formats, timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from customers.models import Delivery, Message, Unsubscribe
from customers.outbox import name_kinds, preparer, reason_check, renderer

from .models import Account, Reward, Tier
from .notices import (
    BIRTHDAY,
    FIRST_PURCHASE_THANKS,
    LOYALTY_KINDS,
    POINTS_EXPIRING,
    REFERRAL_REWARD,
    TIER_CHANGED,
    page_url,
)
from .services import zone_of

name_kinds(
    {
        FIRST_PURCHASE_THANKS: _("Thanks for a first purchase"),
        TIER_CHANGED: _("Tier changed"),
        POINTS_EXPIRING: _("Points expiring"),
        BIRTHDAY: _("Birthday greeting"),
        REFERRAL_REWARD: _("Referral reward"),
    }
)

# The kinds the weekly cap counts (LOYALTY_EMAILS_PER_WEEK): the loyalty emails, and
# the marketing emails other apps add here (the win-back offers).
MARKETING_KINDS: set[str] = set(LOYALTY_KINDS)


def marketing_prepare(messages: list[Message]) -> None:
    """For a delivery chunk of marketing emails: which addresses unsubscribed, and how
    many marketing emails each customer was sent this week (two queries)."""
    unsubscribed = set(
        Unsubscribe.objects.filter(email__in={message.to_email for message in messages}).values_list("email", flat=True)
    )
    sent_this_week = dict(
        Message.objects.filter(
            customer_id__in={message.customer_id for message in messages},
            kind__in=MARKETING_KINDS,
            delivery=Delivery.SENT,
            sent_at__gte=timezone.now() - timedelta(days=7),
        )
        .values_list("customer_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    for message in messages:
        message.unsubscribed = message.to_email in unsubscribed
        message.sent_this_week = sent_this_week.get(message.customer_id, 0)


def marketing_refusal(message: Message) -> str | None:
    """Why a prepared marketing email must not go out: consent, the unsubscribe list,
    the weekly cap; None when it may."""
    if not message.customer.marketing_consent:
        return "the customer withdrew marketing consent"
    if message.unsubscribed:
        return "the address unsubscribed"
    if message.sent_this_week >= settings.LOYALTY_EMAILS_PER_WEEK:
        return f"contact-fatigue cap: {settings.LOYALTY_EMAILS_PER_WEEK} marketing emails this week already"
    message.sent_this_week += 1  # the chunk's next email to the same customer counts this one
    return None


@preparer(*LOYALTY_KINDS)
def _read_accounts(messages: list[Message]) -> None:
    """The chunk's accounts and tiers, and what the marketing checks read: four queries
    for the chunk."""
    accounts = Account.objects.select_related("tier").in_bulk({message.customer_id for message in messages})
    tiers = Tier.objects.in_bulk()
    marketing_prepare(messages)
    for message in messages:
        message.account = accounts.get(message.customer_id)
        message.tiers = tiers


@reason_check(*LOYALTY_KINDS)
def _loyalty_email_still_wanted(message: Message) -> str | None:
    if message.customer is None or message.account is None:
        return "the customer or their account is gone"
    return marketing_refusal(message)


@renderer(*LOYALTY_KINDS)
def _write_out(message: Message) -> dict:
    account, language, customer = message.account, message.language, message.customer
    now = timezone.now()
    context = {
        "customer_name": customer.name,
        "page_url": page_url(account, now=now),
        "balance": account.balance,
        "pending": account.pending,
        "tier": account.tier.name_in(language) if account.tier else "",
        "referral_code": account.referral_code,
        **message.context,
    }
    tiers = message.tiers
    if "new" in message.context:
        new, old = tiers.get(message.context["new"]), tiers.get(message.context.get("old"))
        context["new_tier"] = new.name_in(language) if new else ""
        context["old_tier"] = old.name_in(language) if old else ""
        context["benefits"] = new.benefits_in(language) if new else ""
        context["up"] = (new.rank if new else -1) > (old.rank if old else -1)
    if message.kind == POINTS_EXPIRING:
        with translation.override(language):
            context["expires_on"] = formats.date_format(
                timezone.localtime(parse_datetime(message.context["expires_at"]), zone_of(customer.time_zone)),
                "DATE_FORMAT",
            )
    if message.context.get("welcome_reward"):
        reward = Reward.objects.filter(pk=message.context["welcome_reward"]).first()
        context["welcome_reward_name"] = reward.name_in(language) if reward else ""
    return context
