"""The survey prompt on a shop's own page, in a real browser: the shop (served from
http://localhost:<port>, another site than the CRM at 127.0.0.1) puts the script tag
with a token its server got from the API; the survey opens in an iframe, is answered
there without any cookie of ours, and the answer is stored once."""

import http.server
import threading

import pytest
from django.db import connections

from customers.models import Customer
from feedback.models import Survey, SurveyResponse

from .conftest import ARTIFACTS
from .live import Browserless, Stack, free_port, wait_for
from .test_browser_pages import browser, open_page  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


class ShopPage(http.server.BaseHTTPRequestHandler):
    html = b""

    def do_GET(self):  # the name http.server calls
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args):
        pass


@pytest.fixture
def shop():
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), ShopPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{port}"
    server.shutdown()


@pytest.fixture
def embed_stack(tmp_path, sink, private_redis, shop):
    stack = Stack(tmp_path, sink, private_redis, SURVEY_EMBED_ORIGINS=shop)
    try:
        stack.start_web()
        yield stack
    finally:
        stack.stop()


def test_a_shop_shows_the_survey_in_an_iframe_and_the_answer_is_stored(embed_stack, shop, browser, api_token):  # noqa: F811
    Customer.objects.create(external_id="s-1", email="sofie@example.com", locale="da", survey_consent=True)
    status, body = Browserless(embed_stack.env["SITE_URL"]).post_json(
        "/api/survey-embeds/", {"survey": Survey.objects.get(kind="nps").pk, "customer_id": "s-1"}, api_token
    )
    assert status == 201, body
    ShopPage.html = f"<!DOCTYPE html><html><body><h1>Tea shop</h1>{body['script']}</body></html>".encode()

    page, problems = open_page(browser, "en-US")
    page.goto(shop + "/checkout/done")
    survey = page.frame_locator("iframe")
    survey.locator("h1").wait_for()
    assert survey.locator("h1").inner_text() == "Vil du anbefale os?"
    survey.locator("#id_score_9").click()
    survey.get_by_label("Hvad er den vigtigste grund til din vurdering?").fill("God te.")
    page.screenshot(path=str(ARTIFACTS / "survey-embedded-da.png"))
    survey.get_by_role("button", name="Send mit svar").click()
    survey.locator("h1", has_text="Tak").wait_for()
    response = wait_for(lambda: SurveyResponse.objects.first(), 10, "the response")
    assert response.score == 9 and response.answers["reason"] == "God te." and response.invitation.source == "embed"
    assert problems == [], problems
    page.locator("button[aria-label=Close]").click()
    assert page.locator("iframe").count() == 0
    connections.close_all()
