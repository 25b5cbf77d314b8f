"""The dashboard in a real browser: a manager opens it in English and in Simplified
Chinese and every chart is drawn (screenshots kept as test artifacts); an agent sees the
service figures only."""

import pytest

from insights.tests.test_dashboard import PERIOD, build_shop

from .conftest import ARTIFACTS
from .live import PrivateRedis, SmtpSink, Stack
from .test_browser_pages import browser  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PASSWORD = "correct horse battery"


@pytest.fixture
def web(tmp_path):
    """gunicorn alone: the dashboard needs no worker."""
    sink = SmtpSink()
    redis = PrivateRedis(tmp_path)
    redis.start()
    stack = Stack(tmp_path, sink, redis)
    try:
        stack.start_web()
        yield stack.env["SITE_URL"]
    finally:
        stack.stop()
        redis.stop()


def logged_in(browser, base: str, username: str, locale: str):  # noqa: F811
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}/admin/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.goto(f"{base}/admin/?start={PERIOD['start']}&end={PERIOD['end']}")
    return page, errors


def test_a_manager_sees_every_chart_in_two_languages_and_an_agent_only_the_service_part(
    web,
    browser,  # noqa: F811
    manager,
    agent,
):
    ARTIFACTS.mkdir(exist_ok=True)
    build_shop()

    page, errors = logged_in(browser, web, "manager", "en-GB")
    assert page.locator("#card-retention_rate .value").inner_text() == "75.00 %"
    assert page.locator("#card-revenue .value").inner_text() == "170.00"
    for chart in ("retention", "nps", "tickets", "tiers"):
        svg = page.locator(f"#chart-{chart} svg")
        box = svg.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100, (chart, box)
    # The NPS bars were drawn: pygal gives each bar a rect of its own.
    assert page.locator("#chart-nps svg rect.rect").count() >= 3
    assert page.locator("#cohorts td.heat-10").count() >= 4  # month 0 of every cohort is 100 %
    page.screenshot(path=str(ARTIFACTS / "dashboard-en.png"), full_page=True)

    page, errors_zh = logged_in(browser, web, "manager", "zh-CN")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.locator("#card-retention_rate .label").inner_text() == "留存率"
    assert "按月留存趋势" in page.locator("#chart-retention figcaption").inner_text()
    assert page.locator("#chart-nps svg").get_attribute("aria-label") == "NPS 趋势：推荐者、被动者和贬损者"
    page.screenshot(path=str(ARTIFACTS / "dashboard-zh-hans.png"), full_page=True)

    page, errors_agent = logged_in(browser, web, "agent", "en-GB")
    assert page.locator("#card-nps").is_visible()
    assert page.locator("#card-retention_rate").count() == 0
    assert page.locator("#chart-retention").count() == 0 and page.locator("#cohorts").count() == 0
    page.screenshot(path=str(ARTIFACTS / "dashboard-agent.png"), full_page=True)
    assert errors == errors_zh == errors_agent == []
