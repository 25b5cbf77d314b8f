"""Twenty clients redeem one balance at once over HTTP, against gunicorn with four
worker processes: exactly one gets its code, the others a 409, and the balance ends at 0.
The same with one Idempotency-Key: one redemption, twenty identical answers."""

import threading

import pytest
from django.contrib.auth.models import User

from customers.models import Customer
from loyalty.models import Account, Redemption, Reward, RewardKind
from loyalty.services import points_adjust

from .live import Browserless, PrivateRedis, SmtpSink, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def web(tmp_path):
    sink = SmtpSink()
    controller = sink.start()
    redis = PrivateRedis(tmp_path)
    redis.start()
    stack = Stack(tmp_path, sink, redis)
    try:
        stack.start_web(workers=4)
        yield stack
    finally:
        stack.stop()
        redis.stop()
        controller.stop()


def post_at_once(browser: Browserless, count: int, body: dict, token: str, headers: dict | None = None) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def post(i):
        barrier.wait()
        results[i] = browser.post_json("/api/loyalty/redemptions/", body, token, headers=headers)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.fixture
def member(api_token):
    customer = Customer.objects.create(external_id="RACE-1", email="race@example.com")
    points_adjust(customer=customer, points=500, reason="Start", author=User.objects.get(username="integration"))
    return customer


def test_twenty_http_clients_redeem_one_balance(web, api_token, member):
    reward = Reward.objects.create(kind=RewardKind.GIFT, names={"en": "All of it"}, cost=500)
    browser = Browserless(web.env["SITE_URL"])
    results = post_at_once(browser, 20, {"customer_id": "RACE-1", "reward": reward.pk}, api_token)
    statuses = sorted(status for status, _body in results)
    assert statuses == [201] + [409] * 19, statuses
    assert all("Not enough points" in body["detail"] for status, body in results if status == 409)
    assert Account.objects.get(customer=member).balance == 0
    assert Redemption.objects.count() == 1


def test_twenty_http_retries_with_one_key_redeem_once(web, api_token, member):
    reward = Reward.objects.create(kind=RewardKind.GIFT, names={"en": "Mug"}, cost=100)
    browser = Browserless(web.env["SITE_URL"])
    results = post_at_once(
        browser, 20, {"customer_id": "RACE-1", "reward": reward.pk}, api_token, headers={"Idempotency-Key": "same"}
    )
    assert {status for status, _body in results} == {201}
    assert len({body["code"] for _status, body in results}) == 1
    assert Redemption.objects.count() == 1
    assert Account.objects.get(customer=member).balance == 400
