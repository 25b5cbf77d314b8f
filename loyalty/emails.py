"""The loyalty emails written out at delivery, in the customer's language, each with a
fresh link to the customer's loyalty page; and the check delivery runs first: consent,
the unsubscribe list and the weekly cap on loyalty emails (contact fatigue)."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import formats, timezone, translation
from django.utils.dateparse import parse_datetime

from customers.models import Delivery, Message, Unsubscribe
from customers.outbox import preparer, reason_check, renderer

from .models import Account, Reward, Tier
from .notices import LOYALTY_KINDS, POINTS_EXPIRING, page_url
from .services import zone_of


@preparer(*LOYALTY_KINDS)
def _read_accounts(messages: list[Message]) -> None:
    """The chunk's accounts and tiers, its unsubscribed addresses, and how many loyalty
    emails each customer was sent this week: four queries for the chunk."""
    customer_ids = {message.customer_id for message in messages}
    accounts = Account.objects.select_related("tier").in_bulk(customer_ids)
    unsubscribed = set(
        Unsubscribe.objects.filter(email__in={message.to_email for message in messages}).values_list("email", flat=True)
    )
    sent_this_week = dict(
        Message.objects.filter(
            customer_id__in=customer_ids,
            kind__in=LOYALTY_KINDS,
            delivery=Delivery.SENT,
            sent_at__gte=timezone.now() - timedelta(days=7),
        )
        .values_list("customer_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    tiers = Tier.objects.in_bulk()
    for message in messages:
        message.account = accounts.get(message.customer_id)
        message.unsubscribed = message.to_email in unsubscribed
        message.sent_this_week = sent_this_week.get(message.customer_id, 0)
        message.tiers = tiers


@reason_check(*LOYALTY_KINDS)
def _loyalty_email_still_wanted(message: Message) -> str | None:
    customer = message.customer
    if customer is None or message.account is None:
        return "the customer or their account is gone"
    if not customer.marketing_consent:
        return "the customer withdrew marketing consent"
    if message.unsubscribed:
        return "the address unsubscribed"
    if message.sent_this_week >= settings.LOYALTY_EMAILS_PER_WEEK:
        return f"contact-fatigue cap: {settings.LOYALTY_EMAILS_PER_WEEK} loyalty emails this week already"
    message.sent_this_week += 1  # the chunk's next email to the same customer counts this one
    return None


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
