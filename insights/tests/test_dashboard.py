"""The dashboard: every figure against a value worked out by hand on a small data set,
what an agent may not see, and a number of queries that does not grow with the data."""

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.tests.factories import CustomerFactory, OrderFactory
from feedback.models import SlaPolicy, Survey, SurveyInvitation, SurveyResponse, Ticket
from feedback.surveys.services import survey_months_rebuild
from loyalty.models import Account, Entry
from loyalty.rollup import ledger_days_rebuild

pytestmark = pytest.mark.django_db

PERIOD = {"start": "2026-05-01", "end": "2026-05-31"}  # against 2026-03-31 – 2026-04-30


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(at("2026-06-15"), tick=False):
        yield


@pytest.fixture
def shop(clock):
    return build_shop()


def build_shop() -> dict:
    """Five customers (window 365 days):
    - Ann: 2025-12-10 (50), 2026-05-10 (70)   - Bo: 2026-01-05 (30)
    - Cy: 2026-05-20 (100), new in May        - Dee: 2026-04-15 (40), new in April; a
      cancelled May order (200) that counts nowhere
    - Eve: 2025-05-15 (60): active on 1 May, lapsed by 1 June.
    May: S = 4 (Ann, Bo, Dee, Eve), E = 4 (Ann, Bo, Cy, Dee), N = 1 → retention 75 %,
    churn 25 %, returning 1/4 (Ann), repeat 1/5 (Ann), 2 orders, revenue 170, AOV 85,
    CLV 170 / 4 / 0.25 = 170.
    April: S = 3 (Ann, Bo, Eve), E = 4, N = 1 (Dee) → retention 100 %, churn 0 (CLV
    unknown), returning 0 %, 1 order of 40."""
    people = {name: CustomerFactory(name=name) for name in ("Ann", "Bo", "Cy", "Dee", "Eve")}
    for name, day, total, status in (
        ("Ann", "2025-12-10", "50", "paid"),
        ("Ann", "2026-05-10", "70", "paid"),
        ("Bo", "2026-01-05", "30", "paid"),
        ("Cy", "2026-05-20", "100", "paid"),
        ("Dee", "2026-04-15", "40", "paid"),
        ("Dee", "2026-05-25", "200", "cancelled"),
        ("Eve", "2025-05-15", "60", "paid"),
    ):
        OrderFactory(customer=people[name], placed_at=at(day), total=Decimal(total), status=status)

    # Service in May: one complaint resolved in a day within its promise, one still open.
    policy = SlaPolicy.objects.get(is_default=True)
    Ticket.objects.create(
        customer=people["Ann"], kind="complaint", status="resolved", subject="Late", description="Late",
        policy=policy, created_at=at("2026-05-05"), first_resolved_at=at("2026-05-06"),
        resolved_at=at("2026-05-06"), resolution_seconds=86400, promise_kept=True,
    )  # fmt: skip
    Ticket.objects.create(
        customer=people["Bo"], kind="question", status="open", subject="Where?", description="Where?",
        policy=policy, created_at=at("2026-05-10"),
    )  # fmt: skip

    # Answers in May: NPS 10, 9, 7, 3 → (2 − 1) / 4 = 25.0; CSAT 5, 2 → 50 %; CLI 4.33
    # and 5.00 → 4.67 (4.665 rounded half up).
    for number, (kind, score) in enumerate(
        [("nps", "10"), ("nps", "9"), ("nps", "7"), ("nps", "3"), ("csat", "5"), ("csat", "2"), ("cli", "4.33"),
         ("cli", "5.00")]
    ):  # fmt: skip
        survey = Survey.objects.get(kind=kind)
        customer = people["Ann"]
        invitation = SurveyInvitation.objects.create(survey=survey, customer=customer, source="api", key=f"i{number}")
        SurveyResponse.objects.create(
            invitation=invitation, survey=survey, customer=customer, score=Decimal(score),
            submitted_at=at("2026-05-12"),
        )  # fmt: skip
    survey_months_rebuild()

    # Points: Ann earned 50 in December and 70 in May, and redeemed 20 in May. May:
    # redemption 20 / 70 = 28.57 %; held at the end of May 100, at the end of April 50.
    account = Account.objects.create(customer=people["Ann"], referral_code="ANN00001", balance=100)
    for key, kind, points, day in (
        ("e1", "earn", 50, "2025-12-10"),
        ("e2", "earn", 70, "2026-05-10"),
        ("r1", "redeem", -20, "2026-05-20"),
    ):
        Entry.objects.create(account=account, kind=kind, points=points, key=key, created_at=at(day))
    ledger_days_rebuild()  # the nightly days; the dashboard reads them
    return people


def cards(response) -> dict:
    board = response.context["board"]
    return {card.key: card for card in [*board.retention, *board.service, *board.loyalty]}


def test_every_card_against_the_hand_computed_value(manager_client, shop):
    response = manager_client.get("/admin/", PERIOD)
    assert response.status_code == 200
    figures = cards(response)

    expected = {
        "retention_rate": (Decimal("75.00"), Decimal("100.00")),
        "churn_rate": (Decimal("25.00"), Decimal("0.00")),
        "returning_customer_rate": (Decimal("25.00"), Decimal("0.00")),
        "repeat_purchase_rate": (Decimal("20.00"), Decimal("0.00")),  # by April 30 nobody had two
        "average_order_value": (Decimal("85.00"), Decimal("40.00")),
        "revenue": (Decimal("170.00"), Decimal("40.00")),
        "clv": (Decimal("170.00"), None),
        "nps": (25.0, None),
        "csat": (50.0, None),
        "cli": (4.67, None),
        "open_tickets": (1, 0),
        "sla_compliance": (100.0, None),
        "promise_kept": (100.0, None),
        "resolution_time": (24.0, None),
        "points_outstanding": (100, 50),
        "redemption_rate": (Decimal("28.57"), None),
    }
    assert {key: (card.value, card.previous) for key, card in figures.items()} == expected
    assert figures["retention_rate"].verdict == "bad" and figures["churn_rate"].verdict == "bad"
    assert figures["revenue"].verdict == "good"
    assert response.context["board"].open_now == 1

    page = response.content.decode()
    assert 'id="card-retention_rate"' in page and "75.00 %" in page and "−25.00 pp" not in page
    assert "-25.00 pp" in page  # the change, in percentage points
    assert page.count('<svg role="img"') == 4  # retention trend, NPS trend, tickets, tiers
    dashboard = page[page.index('id="dashboard"') : page.index("</section>")]
    assert "<script" not in dashboard  # pygal's inline configuration is left out


def test_the_charts_hold_the_months(manager_client, shop):
    board = manager_client.get("/admin/", PERIOD).context["board"]
    assert [f"{month:%Y-%m}" for month in board.trend_months][-1] == "2026-05"
    assert len(board.trend_months) == 12
    may = board.nps_trend[-1]
    assert (may["promoters"], may["passives"], may["detractors"], may["answers"]) == (50.0, 25.0, 25.0, 4)
    assert board.tickets[-1]["created"] == 2 and board.tickets[-1]["resolution_mean_seconds"] == 86400
    # May's own retention: S = 4, E = 4, N = 1 (the monthly trend is the period's month).
    assert board.retention_trend[-1] == Decimal("75.00")
    assert [cohort.month.isoformat() for cohort in board.cohorts] == ["2025-12-01", "2026-01-01", "2026-04-01",
                                                                      "2026-05-01"]  # fmt: skip
    december = board.cohorts[0]
    assert december.retention[5] == Decimal("100.00")  # Ann ordered again in May
    assert board.tiers == [("No tier", 1)]


def test_an_agent_sees_the_service_figures_but_not_the_managers_part(agent_client, shop):
    response = agent_client.get("/admin/", PERIOD)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="card-nps"' in page and 'id="card-sla_compliance"' in page
    for hidden in ("card-retention_rate", "card-revenue", "card-clv", "card-points_outstanding", "cohorts"):
        assert f'id="{hidden}"' not in page
    assert page.count('<svg role="img"') == 2  # NPS and tickets only


def test_a_bad_period_is_refused_with_a_clear_message(manager_client, clock):
    page = manager_client.get("/admin/", {"start": "2026-05-31", "end": "2026-05-01"}).content.decode()
    assert "The period ends before it starts." in page
    page = manager_client.get("/admin/", {"start": "2024-01-01", "end": "2026-05-01"}).content.decode()
    assert "Choose a period of at most 365 days" in page
    page = manager_client.get("/admin/", {"start": "yesterday", "end": "2026-05-01"}).content.decode()
    assert "Enter a valid date." in page
    assert "No data yet" in page  # an empty shop: the charts say so


@pytest.mark.parametrize("language", ["en", "da", "ru", "ko", "zh-hans"])
def test_the_period_fields_hold_their_dates_in_every_language(manager_client, clock, language):
    """A browser's date picker takes YYYY-MM-DD only; the default period in the locale's
    format (01.11.2026) left the fields empty."""
    html = manager_client.get("/admin/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert re.search(r'type="date" name="start" value="\d{4}-\d{2}-\d{2}"', html)
    assert re.search(r'type="date" name="end" value="\d{4}-\d{2}-\d{2}"', html)


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/", PERIOD).status_code == 200
    return len(queries.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_data(manager_client, shop):
    _queries(manager_client)  # the loyalty rules are read once, then cached
    before = _queries(manager_client)
    for number in range(30):
        customer = CustomerFactory()
        OrderFactory(customer=customer, placed_at=at(f"2026-0{1 + number % 5}-1{number % 9}"))
        Account.objects.create(customer=customer, referral_code=f"MORE{number:04d}")
    assert _queries(manager_client) == before
    # Pinned: the admin's own (session, user, permissions, the app list) and the
    # dashboard's — retention 2 × 2 and 12 × 2 for the monthly trend, cohorts 1, service
    # 2 × 4, surveys 2 + 1, tickets 2 + 1, points 4, tiers 1, customer value 2.
    assert before == 67, before


def test_the_cards_through_the_api(manager_api, agent_api, shop):
    response = manager_api.get("/api/metrics/dashboard/", PERIOD)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["start"], body["end"], body["before"]) == (
        "2026-05-01",
        "2026-05-31",
        {"start": "2026-03-31", "end": "2026-04-30"},
    )
    cards = {card["key"]: card for card in body["cards"]}
    assert cards["retention_rate"] == {
        "key": "retention_rate",
        "unit": "percent",
        "value": 75.0,
        "previous": 100.0,
        "change": -25.0,
    }
    assert cards["clv"]["previous"] is None and cards["redemption_rate"]["value"] == 28.57
    refused = manager_api.get("/api/metrics/dashboard/", {"start": "2026-05-31", "end": "2026-05-01"})
    assert refused.status_code == 400 and "ends before it starts" in refused.content.decode()
    assert agent_api.get("/api/metrics/dashboard/", PERIOD).status_code == 403
