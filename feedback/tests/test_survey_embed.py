"""The survey on the shop's own pages: a signed, expiring token from the API, the page
embed.js frames (only from the configured origins), answers without a CSRF cookie."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client, override_settings
from django.utils import timezone

from customers.models import Customer, Message
from feedback.models import Survey, SurveyInvitation, SurveyResponse
from feedback.surveys import services

pytestmark = pytest.mark.django_db
SHOP = "https://shop.example.com"


@pytest.fixture
def customer(db):
    return Customer.objects.create(external_id="c-9", email="ann@example.com", survey_consent=True, locale="da")


def token_for(customer, kind="nps") -> str:
    return services.embed_token_issue(survey=Survey.objects.get(kind=kind), customer=customer)


def test_the_api_gives_a_token_and_a_script_tag_to_copy(agent_api, customer):
    response = agent_api.post(
        "/api/survey-embeds/", {"survey": Survey.objects.get(kind="nps").pk, "customer_id": "c-9"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["url"].endswith(f"/s/embed/{body['token']}/")
    assert re.fullmatch(
        r'<script src="http\S+/static/public/embed\.js" data-token="[^"]+" async></script>', body["script"]
    )
    assert not SurveyInvitation.objects.exists()  # nothing until the page shows it


def test_the_api_refuses_with_the_rule_like_invitations(agent_api, customer):
    Customer.objects.filter(pk=customer.pk).update(survey_consent=False)
    response = agent_api.post(
        "/api/survey-embeds/", {"survey": Survey.objects.get(kind="nps").pk, "customer_id": "c-9"}, format="json"
    )
    assert response.status_code == 409 and response.json()["rule"] == "no_consent"


@override_settings(SURVEY_EMBED_ORIGINS=[SHOP])
def test_the_embedded_survey_may_be_framed_by_the_shop_only_and_sends_no_email(client, customer):
    token = token_for(customer)
    response = client.get(f"/s/embed/{token}/")
    assert response.status_code == 302 and response["Location"].endswith("?embed=1")
    again = client.get(f"/s/embed/{token}/")  # a reload: the same invitation
    assert again["Location"] == response["Location"]
    invitation = SurveyInvitation.objects.get()
    assert invitation.source == "embed" and invitation.status == "sent"
    assert not Message.objects.filter(kind="survey_invitation").exists()
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert f"frame-ancestors {SHOP}" in page["Content-Security-Policy"]
    assert "X-Frame-Options" not in page
    assert 'class="site"' not in page.content.decode()  # no header in the small frame
    plain = client.get(response["Location"].replace("?embed=1", ""))
    assert "frame-ancestors 'none'" in plain["Content-Security-Policy"] and plain["X-Frame-Options"] == "DENY"


def test_the_embedded_form_is_answered_without_a_csrf_cookie(customer):
    client = Client(enforce_csrf_checks=True)
    location = client.get(f"/s/embed/{token_for(customer)}/")["Location"]
    page = client.get(location).content.decode()
    action = re.search(r'action="([^"]+/embedded/)"', page).group(1)
    response = Client(enforce_csrf_checks=True).post(action, {"score": "8"})  # a third-party frame: no cookies
    assert response.status_code == 302
    assert SurveyResponse.objects.get().score == 8
    assert Client().post(action, {"score": "2"}).status_code == 404  # once
    plain = location.replace("?embed=1", "")
    assert Client(enforce_csrf_checks=True).post(plain, {"score": "2"}).status_code == 403  # CSRF stays elsewhere


def test_an_expired_or_forged_embed_token_shows_the_friendly_page(client, customer):
    token = token_for(customer)
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert client.get(f"/s/embed/{token}/").status_code == 404
    assert client.get(f"/s/embed/{token[:-2]}xx/").status_code == 404
    assert not SurveyInvitation.objects.exists()


def test_rules_are_checked_again_when_the_page_shows_it(client, customer, open_ticket):
    token = token_for(customer)
    open_ticket(email=customer.email, kind="complaint")
    response = client.get(f"/s/embed/{token}/")
    assert response.status_code == 200 and "Der er ikke noget" in response.content.decode()
