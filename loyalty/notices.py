"""The loyalty emails as outbox rows (DESIGN.md, mechanism 2): written in the
transaction of their cause with a key that makes a second one impossible, and written
out at delivery in the customer's language (loyalty/emails.py).

Only customers with an address and marketing consent get them; delivery checks again,
with the unsubscribe list and the weekly cap (LOYALTY_EMAILS_PER_WEEK)."""

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils.http import base36_to_int, int_to_base36

from customers.models import Customer, Message
from customers.outbox import email, emails_write

from .models import Account, page_mac

FIRST_PURCHASE_THANKS = "first_purchase_thanks"
TIER_CHANGED = "tier_changed"
POINTS_EXPIRING = "points_expiring"
BIRTHDAY = "birthday"
REFERRAL_REWARD = "referral_reward"
LOYALTY_KINDS = (FIRST_PURCHASE_THANKS, TIER_CHANGED, POINTS_EXPIRING, BIRTHDAY, REFERRAL_REWARD)


def may_email(customer: Customer) -> bool:
    return bool(customer.email) and customer.marketing_consent


def loyalty_email(
    customer: Customer, *, kind: str, key: str, context: dict | None = None, send_at: datetime | None = None
) -> Message | None:
    return loyalty_emails([(customer, kind, key, context or {}, send_at)])[0]


def loyalty_emails(
    wanted: Iterable[tuple[Customer, str, str, dict, datetime | None]],
) -> list[Message | None]:
    """Write several loyalty emails in one statement; None for a customer we may not
    email. A key that exists already writes nothing (the same cause twice)."""
    wanted = list(wanted)
    messages = [
        email(
            kind=kind,
            to_email=customer.email,
            language=customer.locale,
            key=key,
            context=context,
            customer=customer,
            send_at=send_at,
        )
        for customer, kind, key, context, send_at in wanted
        if may_email(customer)
    ]
    written = iter(emails_write(messages))
    return [next(written) if may_email(customer) else None for customer, *_rest in wanted]


# --- The customer's page link -------------------------------------------------------------


def page_token(account: Account, *, now: datetime) -> str:
    """`<customer id>.<expiry, base 36>.<MAC>`: nothing stored, valid until the expiry,
    revoked all at once by changing the account's salt."""
    expires = int((now + timedelta(days=settings.LOYALTY_LINK_DAYS)).timestamp())
    return f"{account.pk}.{int_to_base36(expires)}.{page_mac(account.pk, account.link_salt, expires)}"


def page_url(account: Account, *, now: datetime) -> str:
    return settings.SITE_URL + reverse("loyalty-page", args=[page_token(account, now=now)])


def account_for_token(token: str, *, now: datetime) -> Account | None:
    """The account a page token opens, or None: unknown, forged and expired tokens alike."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    head, expiry, mac = parts
    # isascii: "²" is a digit to isdigit, and int() refuses it (a 500); "١" is alnum to isalnum
    if not (head.isascii() and head.isdigit()) or len(head) > 18 or not (expiry.isascii() and expiry.isalnum()):
        return None
    if len(expiry) > 10 or len(mac) != 43:
        return None
    try:
        expires = base36_to_int(expiry)
    except ValueError:
        return None
    if expires < now.timestamp():
        return None
    account = Account.objects.select_related("customer", "tier").filter(pk=int(head)).first()
    if account is None or not hmac.compare_digest(page_mac(account.pk, account.link_salt, expires), mac):
        return None
    return account


def token_digest(token: str) -> str:
    """A short, non-reversible name for a token in logs and rate limits."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]
