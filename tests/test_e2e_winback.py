"""A win-back campaign end to end with the real processes: a manager presses "Send" in
the admin (gunicorn); beat's sweep writes the emails in batches; the worker delivers each
customer's offer, in their language and with their own code, to the SMTP sink, once."""

import http.cookiejar
import re
import urllib.parse
import urllib.request

import pytest
from django.contrib.auth.models import Group, User

from customers.models import Customer
from insights.models import CampaignStatus, Segment, WinBackCampaign, WinBackRecipient
from loyalty.models import Redemption, Reward, RewardKind

from .live import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def admin_session(base: str, username: str, password: str):
    """A logged-in opener for the admin (its login form, with its CSRF token)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/admin/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"}
    ).encode()
    opener.open(urllib.request.Request(f"{base}/admin/login/", form, headers={"Referer": f"{base}/admin/login/"}))
    return opener


def test_a_campaign_sent_from_the_admin_reaches_each_customer_once(stack, sink):
    manager = User.objects.create_user("boss", password="correct horse battery", is_staff=True)
    manager.groups.add(Group.objects.get(name="Support manager"))
    for number in range(12):
        Customer.objects.create(
            name=f"Kim {number}", email=f"kim{number}@example.com", locale="ko" if number % 2 else "en",
            marketing_consent=number != 11,
        )  # fmt: skip
    reward = Reward.objects.create(kind=RewardKind.DISCOUNT, names={"en": "15 % off", "ko": "15% 할인"}, cost=100)
    campaign = WinBackCampaign.objects.create(
        name="Come back",
        segment=Segment.objects.create(name="Everyone", rules={}),
        reward=reward,
        subjects={"en": "We miss you", "ko": "보고 싶어요"},
        bodies={"en": "Dear {name}, come back.", "ko": "{name}님, 다시 오세요."},
    )

    base = stack.env["SITE_URL"]
    opener = admin_session(base, "boss", "correct horse battery")
    listing = opener.open(f"{base}/admin/insights/winbackcampaign/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', listing).group(1)
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "action": "send", "_selected_action": str(campaign.pk)}
    ).encode()
    url = f"{base}/admin/insights/winbackcampaign/"
    opener.open(urllib.request.Request(url, form, headers={"Referer": url}))

    offers = wait_for(lambda: len(sink.of_kind("win_back")) >= 11 and sink.of_kind("win_back"), 90, "11 offers")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT and (campaign.emailed, campaign.skipped) == (11, 1)
    assert len({offer.to for offer in offers}) == 11  # each customer once
    korean = next(offer for offer in offers if offer.to == "kim1@example.com")
    code = WinBackRecipient.objects.get(customer__email="kim1@example.com").code
    assert korean.subject == "보고 싶어요" and "Kim 1님, 다시 오세요." in korean.text and code in korean.text
    assert Redemption.objects.filter(given=True, points=0).count() == 11
