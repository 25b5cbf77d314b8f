"""Loyalty end to end with the real processes and a real browser: an order posted to
the API earns points; the worker sends the first-purchase thanks (in Simplified
Chinese) to the SMTP sink; its link opens the customer's page in Chromium, where a
reward is redeemed with one press and its code shown. Nothing may be refused by the
Content-Security-Policy."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from customers.models import Customer
from loyalty.models import Account, Redemption, Reward, RewardKind
from loyalty.services import points_adjust

from .conftest import ARTIFACTS
from .live import Browserless, PrivateRedis, SmtpSink, Stack, wait_for
from .test_browser_pages import browser, open_page  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def loyalty_stack(request, tmp_path):
    sink = SmtpSink()
    controller = sink.start()
    redis = PrivateRedis(tmp_path)
    redis.start()
    stack = Stack(tmp_path, sink, redis, LOYALTY_THANKS_DELAY_MINUTES="0")
    try:
        stack.start_web()
        stack.start_worker()
        stack.start_beat()
        yield stack, sink
    finally:
        stack.stop()
        redis.stop()
        controller.stop()
        report = getattr(request.node, "report_call", None)
        if report is None or report.failed:
            for name in ("web", "worker", "beat"):
                print(f"----- {name} -----\n{stack.log(name)[-6000:]}")


def test_an_order_earns_the_thanks_email_links_the_page_and_a_reward_is_redeemed(
    loyalty_stack,
    browser,  # noqa: F811
    api_token,
):
    stack, sink = loyalty_stack
    ARTIFACTS.mkdir(exist_ok=True)
    # The shop's integration may record orders.
    User.objects.get(username="integration").user_permissions.add(Permission.objects.get(codename="add_order"))
    customer = Customer.objects.create(
        external_id="zh-1", email="li@example.com", name="李娜", locale="zh-hans", marketing_consent=True
    )
    points_adjust(customer=customer, points=400, reason="Welcome", author=User.objects.get(username="integration"))
    Reward.objects.update(active=False)  # the standard rewards: only ours is offered
    reward = Reward.objects.create(
        kind=RewardKind.FREE_SHIPPING, names={"en": "Free shipping", "zh-hans": "免运费"}, cost=300
    )

    status, body = Browserless(stack.env["SITE_URL"]).post_json(
        "/api/orders/",
        {
            "order_id": "ZH-O-1",
            "customer_id": "zh-1",
            "placed_at": timezone.now().isoformat(),
            "total": "88.00",
            "status": "paid",
        },
        api_token,
    )
    assert status == 201, body
    (email,) = wait_for(lambda: sink.of_kind("first_purchase_thanks"), 20, "the first-purchase thanks")
    assert "感谢您的首笔订单" in email.subject
    assert "88" in email.text
    link = re.search(r"http://\S+/loyalty/[\w.-]+/", email.text).group(0)

    page, problems = open_page(browser, "en-US")  # the customer's language wins over the browser's
    page.goto(link)
    assert page.locator("h1").inner_text() == "我的积分"
    assert "400" in page.locator(".balance").inner_text()
    page.screenshot(path=str(ARTIFACTS / "loyalty-zh.png"), full_page=True)
    page.get_by_role("button", name="兑换：免运费").click()
    page.wait_for_url(re.compile(r"redeemed="))
    code = page.locator(".codes .code").first.inner_text()
    assert "100" in page.locator(".balance").inner_text()
    assert not problems, problems

    assert Redemption.objects.get(reward=reward).code == code
    account = Account.objects.get(customer=customer)
    assert (account.balance, account.pending) == (100, 88)
    assert timezone.now() - account.created_at < timedelta(minutes=5)
