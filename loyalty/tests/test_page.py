"""The customer's loyalty page: in their language, strict headers, the whole picture,
redeeming with one press (CSRF), a history a page at a time, one page for bad links."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from loyalty.models import Account, Entry, EntryKind, Redemption
from loyalty.notices import page_token
from loyalty.services import pending_release_sweep, points_adjust

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(clock, customer, buy, manager, tiers, reward):
    buy(customer, "600")  # Silver; 900 points pending
    clock.shift(timedelta(days=31))
    pending_release_sweep()
    points_adjust(customer=customer, points=50, reason="Sorry for the delay", author=manager)
    return Account.objects.get(customer=customer)


def path_for(account) -> str:
    return f"/loyalty/{page_token(account, now=datetime.now(UTC))}/"


def test_the_page_shows_balance_tier_rewards_history_and_referral_code(client, member):
    response = client.get(path_for(member))
    assert response.status_code == 200
    page = response.content.decode()
    assert "950" in page and "Silver" in page
    assert member.referral_code in page
    assert "Order O-" in page and "Sorry for the delay" in page
    assert "Redeem" in page
    assert "Spend 1,400.00 EUR more in 12 months to reach Gold." in page
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "same-origin" and response["Cache-Control"] == "no-store"


def test_the_page_speaks_the_customers_language(client, member, manager):
    member.customer.locale = "ru"
    member.customer.save()
    points_adjust(customer=member.customer, points=12_000, reason="Big", author=manager)
    page = client.get(path_for(member)).content.decode()
    assert "Ваши баллы" in page and "Обменять" in page
    # Numbers grouped as the reader writes them: "12950" was hard to read.
    assert '<dd class="balance"><strong>12\xa0950</strong></dd>' in page and "+12\xa0000" in page


def test_redeeming_from_the_page_shows_the_code(client, member, reward):
    response = client.post(path_for(member), {"reward": reward.pk})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    code = Redemption.objects.get(given=False).code
    assert code in page
    member.refresh_from_db()
    assert member.balance == 850


def test_a_redeem_button_pressed_twice_redeems_once(client, member, reward):
    """A double click, or a retry after a slow answer, spent the points twice."""
    page = client.get(path_for(member)).content.decode()
    submission = re.search(r'name="submission" value="(\w+)"', page).group(1)
    first = client.post(path_for(member), {"reward": reward.pk, "submission": submission})
    again = client.post(path_for(member), {"reward": reward.pk, "submission": submission})
    assert first.status_code == again.status_code == 302 and first["Location"] == again["Location"]
    member.refresh_from_db()
    assert Redemption.objects.filter(given=False).count() == 1 and member.balance == 850
    fresh = re.search(r'name="submission" value="(\w+)"', client.get(path_for(member)).content.decode()).group(1)
    assert fresh != submission  # the next page load may redeem again
    client.post(path_for(member), {"reward": reward.pk, "submission": fresh})
    assert Redemption.objects.filter(given=False).count() == 2


def test_too_few_points_on_the_page_is_said_plainly(client, member, reward):
    reward.cost = 5000
    reward.save()
    response = client.post(path_for(member), {"reward": reward.pk})
    assert response.status_code == 409
    assert "Not enough points: 950 available, 5000 needed." in response.content.decode()
    assert not Redemption.objects.exists()


@pytest.mark.parametrize("bad", ["", "abc", "999999", "²", "99999999999999999999999"])
def test_an_unknown_reward_is_refused(client, member, bad):
    """ "²" is a digit to str.isdigit, and int() refused it: a 500."""
    response = client.post(path_for(member), {"reward": bad})
    assert response.status_code == 409
    assert not Redemption.objects.exists()
    assert client.get(path_for(member), {"before": bad}).status_code == 200


def test_redeeming_needs_csrf(member, reward):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(path_for(member), {"reward": reward.pk}).status_code == 403
    assert not Redemption.objects.exists()


@pytest.mark.parametrize("token", ["1.zzzz.short", "nonsense", "1.2.3.4", f"1².zzzz.{'A' * 43}", f"1.٣.{'A' * 43}"])
def test_bad_links_show_the_same_friendly_page(client, member, token):
    response = client.get(f"/loyalty/{token}/")
    assert response.status_code == 404
    assert "This link does not work" in response.content.decode()


def test_an_expired_link_shows_the_same_page(client, member, clock, settings):
    path = path_for(member)
    clock.shift(timedelta(days=settings.LOYALTY_LINK_DAYS + 1))
    assert client.get(path).status_code == 404


def test_the_history_comes_a_page_at_a_time_with_a_fixed_number_of_queries(
    client, member, manager, django_assert_num_queries
):
    for n in range(60):
        points_adjust(customer=member.customer, points=1, reason=f"step {n}", author=manager)
    path = path_for(member)
    client.get(path)  # warm the rules cache
    with django_assert_num_queries(6):
        first = client.get(path).content.decode()
    assert "step 59" in first and "step 30" not in first
    before = Entry.objects.filter(account=member, kind=EntryKind.ADJUST).order_by("-id")[24].id
    second = client.get(f"{path}?before={before}").content.decode()
    assert "step 34" in second and "step 35" not in second
