"""The loyalty emails and the bonuses behind them: the thank-you after a first order,
referrals (and their abuse), birthdays in several time zones, expiring points, tier
changes, and the contact rules delivery applies."""

from datetime import UTC, date, datetime, timedelta

import pytest

from customers.models import Customer, Delivery, Message, Unsubscribe
from customers.outbox import message_deliver, outbox_sweep
from loyalty.models import Account, Entry, EntryKind, Program, Redemption, Referral
from loyalty.notices import account_for_token
from loyalty.services import (
    birthday_sweep,
    expiring_points_notify,
    forget_rules,
    pending_release_sweep,
    points_adjust,
    referral_reward_sweep,
    referrer_points,
    tiers_evaluate,
)

pytestmark = pytest.mark.django_db


def emails(kind: str) -> list[Message]:
    return list(Message.objects.filter(kind=kind).order_by("id"))


def send(message: Message) -> str:
    return message_deliver(message.pk)


# --- The first order ---------------------------------------------------------------------


def test_the_first_paid_order_is_thanked_half_an_hour_later_with_the_welcome_code(
    clock, customer, buy, reward, program, mailoutbox
):
    program.welcome_reward = reward
    program.save()
    buy(customer, "42")
    buy(customer, "10")  # a second order thanks nobody again
    (thanks,) = emails("first_purchase_thanks")
    assert thanks.next_attempt_at == datetime.now(UTC) + timedelta(minutes=30)
    assert outbox_sweep() == 0  # not before its time
    welcome = Redemption.objects.get(given=True)
    assert welcome.points == 0 and thanks.context["welcome_code"] == welcome.code
    clock.shift(timedelta(minutes=31))
    assert outbox_sweep() == 1
    assert send(thanks) == "sent"
    (sent,) = mailoutbox
    assert sent.extra_headers["X-CRM-Kind"] == "first_purchase_thanks"
    assert welcome.code in sent.body and "42 points" in sent.body
    assert "/loyalty/" in sent.body


def test_the_thanks_goes_out_in_the_customers_language(clock, customer, buy, mailoutbox):
    customer.locale = "da"
    customer.save()
    buy(customer, "42")
    clock.shift(timedelta(minutes=31))
    send(emails("first_purchase_thanks")[0])
    assert "Tak for din første ordre" in mailoutbox[0].subject


def test_no_consent_no_loyalty_email_but_the_points_all_the_same(clock, customer, buy):
    customer.marketing_consent = False
    customer.save()
    buy(customer, "42")
    assert not emails("first_purchase_thanks")
    assert Account.objects.get(customer=customer).pending == 42


def test_an_imported_order_of_last_year_brings_no_thanks(clock, customer, buy):
    buy(customer, "42", placed_at=datetime(2025, 5, 1, tzinfo=UTC))
    assert not emails("first_purchase_thanks")


# --- Referrals ---------------------------------------------------------------------------


@pytest.fixture
def referrer(clock, buy, program):
    friend = Customer.objects.create(external_id="REF-1", email="ref@example.com", marketing_consent=True)
    buy(friend, "10")
    return Account.objects.get(customer=friend)


def test_a_referral_rewards_both_sides_once(clock, customer, buy, referrer, program, mailoutbox):
    buy(customer, "30", discount_code=referrer.referral_code.lower())
    account = Account.objects.get(customer=customer)
    assert Entry.objects.get(account=account, kind=EntryKind.REFERRAL).points == program.referee_points
    assert referral_reward_sweep() == 1
    assert Entry.objects.get(account=referrer, kind=EntryKind.REFERRAL).points == program.referrer_points
    assert referral_reward_sweep() == 0
    buy(customer, "30", discount_code=referrer.referral_code)  # not a first order: nothing
    assert Referral.objects.count() == 1
    assert Entry.objects.filter(kind=EntryKind.REFERRAL).count() == 2
    (reward_email,) = emails("referral_reward")
    assert reward_email.customer_id == referrer.pk


def test_self_referral_by_the_same_phone_is_refused(clock, buy, referrer, program):
    # (The same email cannot belong to two customers: the database refuses it.)
    Customer.objects.filter(pk=referrer.pk).update(phone="+45 12 34 56 78")
    same_phone = Customer.objects.create(external_id="SELF-3", email="other@example.com", phone="+4512345678")
    buy(same_phone, "30", discount_code=referrer.referral_code)
    assert not Referral.objects.exists()
    assert not Entry.objects.filter(kind=EntryKind.REFERRAL).exists()


def test_a_customer_cannot_use_their_own_code(clock, customer, buy, program):
    account = Account.objects.create(customer=customer, referral_code="OWNCODE2")  # a member before buying
    buy(customer, "30", discount_code="owncode2")
    assert not Referral.objects.filter(referee=account).exists()
    assert not Entry.objects.filter(kind=EntryKind.REFERRAL).exists()


def test_an_unknown_code_is_simply_a_discount_code(clock, customer, buy):
    buy(customer, "30", discount_code="SUMMER10")
    assert not Referral.objects.exists()


def test_the_referrers_reward_grows_with_successful_referrals(program):
    program.referrer_points, program.referral_bonus_every, program.referral_bonus_points = 500, 3, 100
    assert [referrer_points(program, before) for before in (0, 2, 3, 5, 6)] == [500, 500, 600, 600, 700]


# --- Birthdays ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "utc_moment", "due"),
    [
        ("Europe/Copenhagen", datetime(2026, 6, 15, 7, 0, tzinfo=UTC), True),  # 09:00 there
        ("Europe/Copenhagen", datetime(2026, 6, 15, 6, 59, tzinfo=UTC), False),  # 08:59 there
        ("Asia/Seoul", datetime(2026, 6, 15, 0, 0, tzinfo=UTC), True),  # 09:00 there
        ("America/Los_Angeles", datetime(2026, 6, 15, 15, 59, tzinfo=UTC), False),  # 08:59
        ("America/Los_Angeles", datetime(2026, 6, 16, 6, 0, tzinfo=UTC), True),  # 23:00 on the 15th
        ("Asia/Seoul", datetime(2026, 6, 15, 15, 0, tzinfo=UTC), False),  # already the 16th there
    ],
)
def test_the_birthday_bonus_comes_on_the_day_in_the_customers_time_zone(program, zone, utc_moment, due):
    customer = Customer.objects.create(
        external_id="B-1", email="b@example.com", birthday=date(1990, 6, 15), time_zone=zone, marketing_consent=True
    )
    Account.objects.create(customer=customer, referral_code="BDAY0001")
    assert birthday_sweep(now=utc_moment) == int(due)
    assert Entry.objects.filter(kind=EntryKind.BIRTHDAY).count() == int(due)
    assert len(emails("birthday")) == int(due)


def test_the_birthday_bonus_comes_once_a_year_whatever_reruns(program):
    customer = Customer.objects.create(external_id="B-2", email="b2@example.com", birthday=date(1990, 6, 15))
    Account.objects.create(customer=customer, referral_code="BDAY0002")
    for hour in range(7, 24):
        birthday_sweep(now=datetime(2026, 6, 15, hour, 0, tzinfo=UTC))
    assert birthday_sweep(now=datetime(2027, 6, 15, 10, 0, tzinfo=UTC)) == 1
    assert list(Entry.objects.filter(kind=EntryKind.BIRTHDAY).values_list("key", flat=True).order_by("id")) == [
        f"birthday:{customer.pk}:2026",
        f"birthday:{customer.pk}:2027",
    ]


def test_29_february_is_celebrated_on_the_28th_in_other_years(program):
    customer = Customer.objects.create(external_id="B-3", email="b3@example.com", birthday=date(2000, 2, 29))
    Account.objects.create(customer=customer, referral_code="BDAY0003")
    assert birthday_sweep(now=datetime(2027, 2, 28, 12, tzinfo=UTC)) == 1
    assert birthday_sweep(now=datetime(2027, 3, 1, 12, tzinfo=UTC)) == 0
    assert birthday_sweep(now=datetime(2028, 2, 28, 12, tzinfo=UTC)) == 0  # a leap year: the 29th
    assert birthday_sweep(now=datetime(2028, 2, 29, 12, tzinfo=UTC)) == 1


# --- Expiring points and tiers -----------------------------------------------------------


def test_members_hear_of_points_expiring_within_30_days_once(clock, customer, manager, program):
    points_adjust(customer=customer, points=80, reason="x", author=manager)
    clock.shift(timedelta(days=330))
    assert expiring_points_notify() == 0  # 35 days left
    clock.shift(timedelta(days=10))
    assert expiring_points_notify() == 1
    assert expiring_points_notify() == 0
    (warning,) = emails("points_expiring")
    assert warning.context["points"] == 80


def test_a_tier_change_is_emailed(clock, customer, buy, tiers, mailoutbox):
    buy(customer, "600")
    (change,) = emails("tier_changed")  # straight to Silver: 600 qualifies
    send(change)
    assert "Welcome to Silver" in mailoutbox[-1].subject
    tiers_evaluate()
    assert len(emails("tier_changed")) == 1


# --- Contact rules at delivery -------------------------------------------------------------


def test_delivery_respects_unsubscribe_withdrawn_consent_and_the_weekly_cap(
    clock, customer, buy, program, settings, mailoutbox
):
    settings.LOYALTY_EMAILS_PER_WEEK = 1
    customers = []
    for n in range(3):
        customers.append(
            Customer.objects.create(external_id=f"N-{n}", email=f"n{n}@example.com", marketing_consent=True)
        )
        buy(customers[-1], "20")
    Unsubscribe.objects.create(email="n1@example.com")
    Customer.objects.filter(pk=customers[2].pk).update(marketing_consent=False)
    clock.shift(timedelta(minutes=31))
    outcomes = [send(message) for message in emails("first_purchase_thanks")]
    assert outcomes == ["sent", "cancelled", "cancelled"]
    # The cap: a second loyalty email to n0 the same week is cancelled.
    Program.objects.filter(id=1).update(birthday_points=5)
    forget_rules()
    Customer.objects.filter(pk=customers[0].pk).update(birthday=datetime.now(UTC).date())
    birthday_sweep(now=datetime.now(UTC).replace(hour=12))
    (greeting,) = emails("birthday")
    assert send(greeting) == "cancelled"
    greeting.refresh_from_db()
    assert greeting.delivery == Delivery.CANCELLED and "contact-fatigue cap" in greeting.last_error


# --- The page link ---------------------------------------------------------------------------


def test_page_links_expire_and_cannot_be_forged(clock, customer, buy, settings):
    from loyalty.notices import page_token

    buy(customer, "10")
    account = Account.objects.get(customer=customer)
    token = page_token(account, now=datetime.now(UTC))
    assert account_for_token(token, now=datetime.now(UTC)).pk == account.pk
    head, expiry, mac = token.split(".")
    assert account_for_token(f"{head}.{expiry}.{'A' * 43}", now=datetime.now(UTC)) is None
    other = Customer.objects.create(external_id="X-9", email="x9@example.com")
    assert account_for_token(f"{other.pk}.{expiry}.{mac}", now=datetime.now(UTC)) is None
    later = datetime.now(UTC) + timedelta(days=settings.LOYALTY_LINK_DAYS, seconds=1)
    assert account_for_token(token, now=later) is None
    Account.objects.filter(pk=account.pk).update(link_salt="rotated")
    assert account_for_token(token, now=datetime.now(UTC)) is None


def test_pending_points_and_release_keep_the_page_figures(clock, customer, buy):
    buy(customer, "10")
    clock.shift(timedelta(days=31))
    pending_release_sweep()
    assert Account.objects.get(customer=customer).balance == 10


def test_entering_the_lowest_tier_is_no_news(clock, customer, buy, tiers):
    buy(customer, "10")
    assert str(Account.objects.get(customer=customer).tier) == "Bronze"
    assert not emails("tier_changed")
