"""Staff pages in a real browser where layout or JavaScript is the point: the ticket
queue on a laptop's screen, the survey builder's fields for each question type."""

import pytest

from feedback.models import TicketKind
from feedback.services.tickets import ticket_open

from .conftest import ARTIFACTS
from .test_browser_dashboard import PASSWORD, web  # noqa: F401 (the fixture)
from .test_browser_pages import browser  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def logged_in(browser, base: str, locale: str):  # noqa: F811
    context = browser.new_context(locale=locale, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/admin/login/")
    page.locator("#id_username").fill("manager")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    return context, page


def test_the_ticket_queue_shows_each_deadline_on_a_laptop_screen_in_russian(
    web,  # noqa: F811
    browser,  # noqa: F811
    manager,
):
    """At 1366 px with the navigation open a list has about 700 px; Django keeps column
    headings and dates on one line, and the queue's deadline column (its last) was out
    of view. It is second now, and headings and dates wrap."""
    for number in range(3):
        ticket_open(
            email=f"kunde{number}@example.com",
            name="Анастасия Константинопольская",
            subject="Заказ пришёл неполным, не хватает двух упаковок чая улун",
            description="Не хватает двух упаковок.",
            kind=TicketKind.COMPLAINT,
        )
    context, page = logged_in(browser, web, "ru-RU")
    page.goto(f"{web}/admin/feedback/ticket/")
    results = page.locator("#changelist .results").bounding_box()
    deadlines = page.locator("#result_list td.field-time_left_display")
    assert deadlines.count() == 3
    for index in range(3):
        cell = deadlines.nth(index).bounding_box()
        assert cell["x"] + cell["width"] <= results["x"] + results["width"], (cell, results)
    # Wrapping headings: the whole list is much narrower than one line per heading made it
    # (1,077 px for this list in Russian before).
    width = page.evaluate("document.querySelector('#changelist .results').scrollWidth")
    assert width < 1050, width
    page.screenshot(path=str(ARTIFACTS / "ticket-queue-ru-1366.png"))
    context.close()


def test_the_survey_builder_shows_each_question_the_fields_of_its_type(
    web,  # noqa: F811
    browser,  # noqa: F811
    manager,
):
    """Every question showed a scale's range and labels, a choice list and a longest
    answer, whatever its type: the NPS survey's page was 4,500 px of mostly empty boxes."""
    from feedback.surveys.models import Survey

    nps = Survey.objects.get(kind="nps")  # score (a scale), then reason (free text)
    context, page = logged_in(browser, web, "en-GB")
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{web}/admin/feedback/survey/{nps.pk}/change/")

    def shown(index: int) -> set[str]:
        fields = ("scale_min", "scale_max", "low_label__en", "high_label__ko", "choices__en", "choices__da")
        fields += ("max_length",)
        return {name for name in fields if page.locator(f"#questions-{index} .field-{name}").is_visible()}

    assert shown(0) == {"scale_min", "scale_max", "low_label__en", "high_label__ko"}
    assert shown(1) == {"max_length"}
    page.select_option("#id_questions-1-type", "multiple")
    assert shown(1) == {"choices__en", "choices__da"}
    page.locator(".inline-group .add-row a").click()  # a new question starts as a scale
    assert shown(2) == {"scale_min", "scale_max", "low_label__en", "high_label__ko"}
    # The preview is one click from the builder.
    assert page.locator(".object-tools a", has_text="Preview").get_attribute("href") == (
        f"/admin/feedback/survey/{nps.pk}/preview/"
    )
    assert errors == []
    context.close()
