"""Surveys in a real browser (Debian's Chromium driven by Playwright), from invitations
caught at the SMTP sink: an NPS answered in Korean and a CSAT in Russian, each opened
from a score button in the email, confirmed with one press, and counted in the scores.
Nothing may be refused by the Content-Security-Policy."""

import re
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from customers.models import Customer
from feedback.models import Survey, SurveyResponse
from feedback.selectors import service_period
from feedback.surveys.selectors import survey_scores

from .conftest import ARTIFACTS
from .live import Browserless, wait_for
from .test_browser_pages import browser, open_page  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def scores():
    today = timezone.localdate()
    return survey_scores(service_period(start=today - timedelta(days=1), end=today + timedelta(days=1)))


def invite(stack, api_token, customer_id: str, kind: str) -> None:
    status, body = Browserless(stack.env["SITE_URL"]).post_json(
        "/api/survey-invitations/",
        {"survey": Survey.objects.get(kind=kind).pk, "customer_id": customer_id},
        api_token,
    )
    assert status == 201, body


def test_an_nps_in_korean_and_a_csat_in_russian_answered_from_the_email(stack, sink, browser, api_token):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    Customer.objects.create(external_id="k-1", email="minji@example.com", name="민지", locale="ko", survey_consent=True)
    Customer.objects.create(external_id="r-1", email="ivan@example.com", name="Иван", locale="ru", survey_consent=True)
    before = scores()
    assert before["nps"]["nps"] is None and before["csat"]["csat"] is None

    # NPS, in Korean: the "3" button of the email opens the form with 3 chosen.
    invite(stack, api_token, "k-1", "nps")
    (email,) = wait_for(lambda: sink.of_kind("survey_invitation"), 15, "the NPS invitation")
    assert "저희를 친구나 동료에게 추천할 가능성은 얼마나 됩니까?" in email.text
    button = re.search(r"http://\S+/s/[\w.-]+/\?score=3", email.text).group(0)
    page, problems = open_page(browser, "en-US")  # the email's language wins over the browser's
    page.goto(button)
    assert page.locator("h1").inner_text() == "저희를 추천하시겠습니까?"
    assert page.locator("#id_score_3").is_checked()
    assert not SurveyResponse.objects.exists()  # opening records nothing
    page.get_by_label("그 점수를 주신 주된 이유는 무엇입니까?").fill("배송이 늦었어요.")
    page.screenshot(path=str(ARTIFACTS / "survey-nps-ko.png"), full_page=True)
    page.get_by_role("button", name="답변 보내기").click()
    page.wait_for_url(re.compile(r"/s/thanks/"))
    assert "답변이 저장되었습니다" in page.content()
    (response,) = wait_for(lambda: list(SurveyResponse.objects.all()), 10, "the NPS response")
    assert response.score == 3 and response.answers["reason"] == "배송이 늦었어요." and response.language == "ko"
    # A detractor: a recovery ticket, acknowledged in Korean like any other.
    (ack,) = wait_for(lambda: sink.of_kind("ticket_ack"), 15, "the recovery ticket's acknowledgment")
    assert ack.to == "minji@example.com" and "문의해 주셔서 감사합니다" in ack.text

    # CSAT, in Russian, on a phone: the "5" button, then one press.
    invite(stack, api_token, "r-1", "csat")
    wait_for(lambda: len(sink.of_kind("survey_invitation")) == 2, 15, "the CSAT invitation")
    email = sink.of_kind("survey_invitation")[1]
    assert "Насколько вы довольны полученной помощью?" in email.text
    button = re.search(r"http://\S+/s/[\w.-]+/\?score=5", email.text).group(0)
    other, other_problems = open_page(browser, "ru-RU")
    other.goto(button)
    assert other.locator("#id_score_5").is_checked()
    other.screenshot(path=str(ARTIFACTS / "survey-csat-ru.png"), full_page=True)
    other.get_by_role("button", name="Отправить ответ").click()
    other.wait_for_url(re.compile(r"/s/thanks/"))
    assert "Ваш ответ сохранён" in other.content()
    # The same link again: the friendly page, nothing stored twice.
    other.goto(button)
    assert other.locator("h1").inner_text() == "Эта ссылка не работает"

    after = scores()
    assert after["nps"] == {"responses": 1, "promoters": 0, "passives": 0, "detractors": 1, "nps": -100.0}
    assert after["csat"] == {"responses": 1, "satisfied": 1, "csat": 100.0}
    assert problems == [] and other_problems == [], problems + other_problems
    connections.close_all()


def test_the_scale_is_answered_with_the_keyboard_alone(stack, sink, browser, api_token):  # noqa: F811
    Customer.objects.create(external_id="a-1", email="ann@example.com", locale="en", survey_consent=True)
    invite(stack, api_token, "a-1", "csat")
    (email,) = wait_for(lambda: sink.of_kind("survey_invitation"), 15, "the invitation")
    link = re.search(r"http://\S+/s/[\w.-]+/(?=\s)", email.text).group(0)
    page, problems = open_page(browser, "en-GB")
    page.goto(link)
    page.locator("#id_score_1").focus()
    page.keyboard.press("ArrowRight")  # radio buttons move with the arrow keys
    page.keyboard.press("ArrowRight")
    assert page.locator("#id_score_3").is_checked()
    page.locator("#id_comment").focus()
    page.keyboard.type("Fine.")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the submit button
    page.wait_for_url(re.compile(r"/s/thanks/"))
    assert wait_for(lambda: SurveyResponse.objects.first(), 10, "the response").score == 3
    assert problems == []
    connections.close_all()
