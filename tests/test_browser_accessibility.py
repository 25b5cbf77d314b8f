"""Every page a customer sees, audited in a real browser by axe-core (the engine of
Deque's accessibility tools, bundled by axe-playwright-python) against WCAG 2.2 A and AA:
contrast, labels, landmarks, headings, language, names of buttons and links. The issue
asks for WCAG 2.2 AA as the aim; the browser tests elsewhere check keyboard use, which
an automatic audit cannot."""

from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone

from customers.models import Customer
from feedback.models import Survey
from feedback.services import ticket_open
from feedback.services.emails import ticket_link
from feedback.surveys.services import survey_invite
from loyalty.models import Account
from loyalty.notices import page_url
from loyalty.services import points_adjust

from .test_browser_pages import browser, open_page  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}}


def violations(page) -> list[str]:
    """What axe finds on the page, one line per rule and element."""
    found = Axe().run(page, options=WCAG).response["violations"]
    return [
        f"{rule['id']} ({rule['impact']}): {node['target']} {node['failureSummary']}"
        for rule in found
        for node in rule["nodes"]
    ]


def personal_pages(base: str) -> dict[str, str]:
    """The address of each page a customer can open from our emails: their ticket, their
    loyalty page, and a survey of each standard kind (each to a customer of its own: the
    contact rules refuse a second survey so soon)."""
    customer = Customer.objects.create(
        external_id="a11y-1", email="ann@example.com", name="Ann Archer", survey_consent=True, marketing_consent=True
    )
    ticket = ticket_open(email="ann@example.com", name="Ann Archer", subject="Broken lid", description="It broke.")
    points_adjust(customer=customer, points=500, reason="Welcome", author=None)
    pages = {
        "ticket": ticket_link(ticket),
        "loyalty": page_url(Account.objects.get(customer=customer), now=timezone.now()),
    }
    for kind in ("nps", "csat", "cli"):
        asked = Customer.objects.create(email=f"{kind}@example.com", survey_consent=True)
        invitation = survey_invite(survey=Survey.objects.get(kind=kind), customer=asked, source="api", by_email=False)
        pages[f"survey {kind}"] = invitation.url()
    return {name: base + urlsplit(url).path for name, url in pages.items()}


@pytest.mark.parametrize("locale", ["en-GB", "ko-KR"])
def test_the_customer_pages_pass_an_automatic_wcag_audit(stack, browser, locale):  # noqa: F811
    base = stack.env["SITE_URL"]
    page, _problems = open_page(browser, locale)
    found = {}

    assert page.goto(f"{base}/support/").status == 200
    found["contact form"] = violations(page)
    page.get_by_role("button").last.click()  # sent empty: the form with its errors
    found["contact form with errors"] = violations(page)

    assert page.goto(f"{base}/s/1.not-a-token/").status == 404
    found["a link that does not work"] = violations(page)

    pages = personal_pages(base)
    for name, url in pages.items():
        assert page.goto(url).status == 200, name
        found[name] = violations(page)
    page.goto(pages["survey nps"])
    page.locator("input[type=radio][value='10']").check()
    page.locator("form button[type=submit]").last.click()
    assert page.locator("input[type=radio]").count() == 0  # answered: the thank-you page
    found["survey thanks"] = violations(page)

    assert {name: lines for name, lines in found.items() if lines} == {}
    # The audit runs under the pages' Content-Security-Policy and finds what is there:
    # a button without a name and grey text on white, added to the last page.
    page.evaluate(
        "const main = document.querySelector('main');"
        "main.append(document.createElement('button'));"
        "const faint = document.createElement('p'); faint.textContent = 'Faint'; faint.style.color = '#bbb';"
        "main.append(faint);"
    )
    rules = {line.split(" ", 1)[0] for line in violations(page)}
    assert {"button-name", "color-contrast"} <= rules, rules
