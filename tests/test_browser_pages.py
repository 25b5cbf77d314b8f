"""The pages customers use, in a real browser (Debian's Chromium driven by Playwright):
the contact form in two languages and a language switch, errors a person can find,
the thanks page, and the ticket page behind the personal link. No request may be
refused by the Content-Security-Policy (the console would say so)."""

import os
import re
import shutil

import pytest
from django.db import connections

from customers.models import Message
from feedback.models import Ticket

from .conftest import ARTIFACTS
from .live import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Playwright's synchronous API runs an event loop of its own; the database reads this
# test makes between browser steps are ordinary synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser():
    """Chromium under Playwright. Database reads made while it runs use a connection of
    their own (Playwright's greenlets are a context of their own): closed at the end, so
    the test database can be flushed."""
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is needed for the browser tests: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()
            connections.close_all()


def open_page(browser, locale: str):
    context = browser.new_context(locale=locale, viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    problems = []  # what the Content-Security-Policy refused, and script errors

    def on_console(message):
        if message.type == "error" and ("Content Security Policy" in message.text or "Refused to" in message.text):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page, problems


def test_a_customer_writes_to_us_in_their_language_and_follows_the_ticket(stack, sink, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    base = stack.env["SITE_URL"]
    page, problems = open_page(browser, "da-DK")
    page.goto(f"{base}/support/")
    assert page.locator("h1").inner_text() == "Kontakt os"

    # A mistake is explained, and the summary links to the field.
    page.get_by_label("Dit navn").fill("Ann Archer")
    page.get_by_label("Din e-mailadresse").fill("not-an-address")
    page.get_by_label("Din besked").fill("Pakken kom i stykker.")
    page.get_by_role("button", name="Send").click()
    assert page.locator(".error-summary").is_visible()
    assert page.get_by_label("Din e-mailadresse").input_value() == "not-an-address"  # nothing typed is lost

    # Switching language keeps working without JavaScript: a form and a button.
    page.get_by_label("Sprog").select_option("ko")
    page.get_by_role("button", name="Skift").click()
    assert page.locator("h1").inner_text() == "문의하기"

    page.get_by_label("이름").fill("Ann Archer")
    page.get_by_label("이메일 주소").fill("ann@example.com")
    page.get_by_label("불만").check()
    page.get_by_label("메시지").fill("상자가 부서져서 도착했습니다.")
    page.screenshot(path=str(ARTIFACTS / "support-form-ko.png"), full_page=True)
    page.get_by_role("button", name="보내기").click()
    ticket = wait_for(lambda: Ticket.objects.first(), 10, "the ticket")
    assert ticket.language == "ko" and ticket.kind == "complaint"
    assert ticket.reference in page.locator(".reference").inner_text()
    page.screenshot(path=str(ARTIFACTS / "support-thanks-ko.png"), full_page=True)

    # The personal link from the acknowledgment opens the ticket, in Korean, in a
    # browser that never saw the form.
    (ack,) = wait_for(lambda: sink.of_kind("ticket_ack"), 10, "the acknowledgment")
    assert "문의해 주셔서 감사합니다" in ack.text
    link = re.search(r"http://\S+/support/t/[\w-]+/", ack.text).group(0)
    other, other_problems = open_page(browser, "en-GB")
    other.goto(link)
    assert ticket.reference in other.content()
    assert "상자가 부서져서 도착했습니다." in other.locator(".conversation").inner_text()
    other.get_by_label("메시지 추가").fill("사진을 보냅니다.")
    other.get_by_role("button", name="보내기").click()
    assert other.locator(".notice").is_visible()
    assert Message.objects.filter(ticket=ticket, body="사진을 보냅니다.").exists()
    # A long address in a message wraps: the page stays as wide as the phone (WCAG reflow).
    other.get_by_label("메시지 추가").fill("사진: https://photos.example.com/" + "a1b2c3d4" * 20)
    other.get_by_role("button", name="보내기").click()
    assert other.locator(".notice").is_visible()
    assert other.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    other.screenshot(path=str(ARTIFACTS / "ticket-page-ko.png"), full_page=True)
    assert problems == [] and other_problems == [], problems + other_problems
    connections.close_all()


def test_the_form_works_with_the_keyboard_alone_and_hides_the_trap(stack, browser):
    page, problems = open_page(browser, "en-US")
    page.goto(f"{stack.env['SITE_URL']}/support/")
    trap = page.locator("#id_website")
    assert trap.get_attribute("tabindex") == "-1"
    assert page.locator(".trap").get_attribute("aria-hidden") == "true"
    box = trap.bounding_box()
    assert box is None or box["x"] + box["width"] <= 0  # off screen, not merely transparent
    # Tab from the top: the skip link first, then the language switch, then the form.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    focused = []
    for _ in range(6):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.name || document.activeElement.id"))
    assert focused[:4] == ["language", "", "name", "email"]
    assert "website" not in focused
    page.keyboard.type("ann@example.com")
    assert problems == []
