"""The loyalty API: accounts, adjustments, rewards, redemptions with Idempotency-Key,
referral lookups, and clear errors for bad input."""

from datetime import timedelta

import pytest

from loyalty.models import Entry, EntryKind, IdempotentRequest, Redemption, Reward
from loyalty.services import pending_release_sweep, points_adjust

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(clock, customer, manager, program):
    points_adjust(customer=customer, points=250, reason="Welcome", author=manager)
    return customer


def test_an_account_by_the_shops_customer_id(agent_api, customer, buy, clock):
    buy(customer, "40")
    clock.shift(timedelta(days=31))
    pending_release_sweep()
    buy(customer, "10")
    response = agent_api.get("/api/loyalty/accounts/C-1/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["balance"], body["pending"], body["customer_id"]) == (40, 10, "C-1")
    assert body["tier"] is None
    assert body["referral_code"] and body["referral_url"].endswith(body["referral_code"])
    assert agent_api.get("/api/loyalty/accounts/nobody/").status_code == 404
    assert agent_api.get("/api/loyalty/accounts/C\x00-1/").status_code == 404  # PostgreSQL refuses NUL: was a 500


def test_only_managers_adjust_and_a_reason_is_required(agent_api, manager_api, customer, program):
    payload = {"customer_id": "C-1", "points": 20, "reason": "Parcel late"}
    assert agent_api.post("/api/loyalty/entries/", payload, format="json").status_code == 403
    response = manager_api.post("/api/loyalty/entries/", payload, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["kind"] == "adjust" and response.json()["points"] == 20
    assert manager_api.post("/api/loyalty/entries/", {**payload, "reason": ""}, format="json").status_code == 400


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"points": 1.5}, 400, "points"),
        ({"points": "2.5"}, 400, "points"),
        ({"points": 0}, 400, "points"),
        ({"points": "many"}, 400, "points"),
        ({"customer_id": "nobody"}, 400, "customer_id"),
        ({"points": -1000}, 409, None),
    ],
)
def test_bad_adjustments_are_refused_clearly(manager_api, customer, program, change, status, field):
    payload = {"customer_id": "C-1", "points": 20, "reason": "x", **change}
    response = manager_api.post("/api/loyalty/entries/", payload, format="json")
    assert response.status_code == status, response.json()
    if field:
        assert field in response.json()
    else:
        assert "Not enough points" in response.json()["detail"]
    assert not Entry.objects.exists()


def test_redeeming_returns_a_code_and_the_new_balance(agent_api, funded, reward):
    response = agent_api.post("/api/loyalty/redemptions/", {"customer_id": "C-1", "reward": reward.pk}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["code"] and body["balance"] == 150 and body["points"] == 100
    assert Redemption.objects.get().code == body["code"]


def test_redeeming_too_much_is_a_409_with_a_message(agent_api, customer, reward, program):
    response = agent_api.post("/api/loyalty/redemptions/", {"customer_id": "C-1", "reward": reward.pk}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == "Not enough points: 0 available, 100 needed."


def test_an_unknown_reward_is_a_404_and_an_unknown_customer_a_400(agent_api, funded, reward):
    response = agent_api.post("/api/loyalty/redemptions/", {"customer_id": "C-1", "reward": 999999}, format="json")
    assert response.status_code == 404
    response = agent_api.post("/api/loyalty/redemptions/", {"customer_id": "X", "reward": reward.pk}, format="json")
    assert response.status_code == 400 and "customer_id" in response.json()
    response = agent_api.post("/api/loyalty/redemptions/", {"customer_id": "C-1", "reward": "one"}, format="json")
    assert response.status_code == 400 and "reward" in response.json()


def test_a_replay_with_the_same_key_returns_the_first_answer(agent_api, funded, reward):
    payload = {"customer_id": "C-1", "reward": reward.pk}
    first = agent_api.post("/api/loyalty/redemptions/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = agent_api.post("/api/loyalty/redemptions/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Redemption.objects.count() == 1
    assert Entry.objects.filter(kind=EntryKind.REDEEM).count() == 1


def test_the_same_key_with_another_body_is_refused(agent_api, funded, reward, program):

    other = Reward.objects.create(kind="gift", names={"en": "Mug"}, cost=50)
    agent_api.post(
        "/api/loyalty/redemptions/",
        {"customer_id": "C-1", "reward": reward.pk},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    response = agent_api.post(
        "/api/loyalty/redemptions/", {"customer_id": "C-1", "reward": other.pk}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 422
    assert "another request" in response.json()["detail"]
    assert Redemption.objects.count() == 1


def test_a_409_is_replayed_too_and_a_400_is_not_stored(agent_api, customer, reward, program):
    payload = {"customer_id": "C-1", "reward": reward.pk}
    first = agent_api.post("/api/loyalty/redemptions/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-409")
    assert first.status_code == 409
    assert IdempotentRequest.objects.filter(key="k-409", status_code=409).exists()
    bad = agent_api.post(
        "/api/loyalty/redemptions/", {"customer_id": "C-1"}, format="json", HTTP_IDEMPOTENCY_KEY="k-400"
    )
    assert bad.status_code == 400
    assert not IdempotentRequest.objects.filter(key="k-400").exists()


def test_referral_lookup(agent_api, customer, buy, clock):
    buy(customer, "10")
    code = customer.loyalty.referral_code
    response = agent_api.get(f"/api/loyalty/referrals/{code.lower()}/")
    assert response.status_code == 200 and response.json()["valid"] is True
    assert agent_api.get("/api/loyalty/referrals/NOSUCHCODE/").status_code == 404


def test_referral_lookups_are_rate_limited(agent_api, customer, settings):
    from django.core.cache import cache

    cache.clear()
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    statuses = [agent_api.get("/api/loyalty/referrals/ABCDEFGH/").status_code for _n in range(61)]
    assert statuses[:60] == [404] * 60
    assert statuses[60] == 429


def test_liability_report(manager_api, agent_api, funded, program):
    response = manager_api.get("/api/loyalty/liability/")
    assert response.status_code == 200
    body = response.json()
    assert body["points_available"] == 250 and body["value"] == "2.50"
    assert agent_api.get("/api/loyalty/liability/").status_code == 403


def test_listing_accounts_and_entries_takes_a_fixed_number_of_queries(
    manager_api, manager, program, django_assert_num_queries
):
    from customers.models import Customer

    for n in range(5):
        customer = Customer.objects.create(external_id=f"L{n}", email=f"l{n}@example.com")
        points_adjust(customer=customer, points=10 + n, reason="x", author=manager)
    manager_api.get("/api/loyalty/accounts/")  # warm the permission cache
    with django_assert_num_queries(1):
        assert len(manager_api.get("/api/loyalty/accounts/").json()["results"]) == 5
    with django_assert_num_queries(1):
        assert len(manager_api.get("/api/loyalty/entries/").json()["results"]) == 5


def test_a_partial_refund_through_the_order_api_takes_back_its_share(manager_api, customer, buy, clock):
    order = buy(customer, "100")
    response = manager_api.patch(f"/api/orders/{order.pk}/", {"refunded_total": "40.00"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["refunded_total"] == "40.00"
    assert Entry.objects.get(kind=EntryKind.CLAWBACK).points == -40
    customer.loyalty.refresh_from_db()
    assert customer.loyalty.pending == 60
    too_much = manager_api.patch(f"/api/orders/{order.pk}/", {"refunded_total": "100.01"}, format="json")
    assert too_much.status_code == 400


@pytest.mark.parametrize(
    "names, message",
    [
        (None, "This field may not be null."),
        (2.5, "Give a text per language"),
        (["Mug"], "Give a text per language"),
        ({"xx": "Mug"}, "Unknown language(s) xx"),
        ({"en": 5}, "Each text is a string"),
        ({"da": "Krus"}, "The English text is required."),
        ({"en": "Mug\x00"}, "Null characters are not allowed."),  # PostgreSQL refuses it: was a 500
    ],
)
def test_a_reward_names_is_a_text_per_language_or_a_400(manager_api, names, message):
    """The names are shown on every page and email that names the reward: a name the API
    took as any JSON (a number, a list) made the admin's reward list a 500
    (tests/test_api_fuzz.py found it)."""
    payload = {"kind": "gift", "names": {"en": "Mug", "da": "Krus"}, "cost": 50}
    created = manager_api.post("/api/loyalty/rewards/", payload, format="json")
    assert created.status_code == 201
    rewards = Reward.objects.count()
    response = manager_api.post("/api/loyalty/rewards/", {**payload, "names": names}, format="json")
    assert response.status_code == 400 and message in response.json()["names"][0]
    assert Reward.objects.count() == rewards
    reward = Reward.objects.get(pk=created.json()["id"])
    response = manager_api.patch(f"/api/loyalty/rewards/{reward.pk}/", {"descriptions": names}, format="json")
    reward.refresh_from_db()
    if message == "The English text is required.":  # a name must have English, a description need not
        assert response.status_code == 200 and reward.descriptions == names
    else:
        assert response.status_code == 400 and message in response.json()["descriptions"][0]
        assert reward.descriptions == {}
    assert reward.names == {"en": "Mug", "da": "Krus"}


def test_a_reward_code_valid_for_ten_years_at_most(manager_api, funded, agent_api):
    """The API took up to 2,147,483,647 days; from about 2,900,000 on, redeeming such a
    reward failed (a code expiring past the year 9999) with a 500, on the customer's
    page as in the API."""
    payload = {"kind": "gift", "names": {"en": "Mug"}, "cost": 50, "code_valid_days": 3_000_000}
    response = manager_api.post("/api/loyalty/rewards/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["code_valid_days"] == ["Ensure this value is less than or equal to 3650."]
    created = manager_api.post("/api/loyalty/rewards/", {**payload, "code_valid_days": 3650}, format="json")
    assert created.status_code == 201
    redeemed = agent_api.post(
        "/api/loyalty/redemptions/", {"customer_id": "C-1", "reward": created.json()["id"]}, format="json"
    )
    assert redeemed.status_code == 201


def test_a_null_name_in_a_form_post_is_a_400_not_a_conflict(manager_api):
    """A form post's JSON fields are parsed from text: "null" became a name of None, and
    the database's NOT NULL made it a 409 that blamed "the current data"."""
    payload = {"kind": "gift", "names": "null", "cost": 5}
    response = manager_api.post("/api/loyalty/rewards/", payload, format="multipart")
    assert response.status_code == 400 and "Give a text per language" in response.json()["names"][0]


def test_an_order_earning_more_points_than_a_postgresql_integer_holds_is_booked(manager_api, customer, tiers, clock):
    """Points are the total times the rate and the tier's multiplier: a 9,999,999,999.99
    order at one point per euro passed PostgreSQL's integer, and its post was a 500."""
    payload = {
        "order_id": "BIG-1",
        "customer_id": "C-1",
        "placed_at": "2026-03-01T10:00:00Z",
        "total": "9999999999.99",
        "currency": "EUR",
        "status": "paid",
    }
    response = manager_api.post("/api/orders/", payload, format="json")
    assert response.status_code == 201, response.content
    # The order makes the customer Gold at once, and Gold doubles (rounded down).
    assert Entry.objects.get(kind=EntryKind.EARN).points == 19_999_999_999
    account = manager_api.get("/api/loyalty/accounts/C-1/").json()
    assert account["pending"] == 19_999_999_999 and account["tier"] == "Gold"
    response = manager_api.post("/api/orders/", {**payload, "order_id": "BIG-2"}, format="json")
    assert response.status_code == 201
    assert manager_api.get("/api/loyalty/accounts/C-1/").json()["pending"] == 39_999_999_998
