"""seed_demo: deterministic, realistic, and through the same import as real data."""

from datetime import date

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.metrics import period_validate, rebuild
from customers.metrics.aggregates import cohorts_fast, retention_figures_fast
from customers.metrics.plain import cohorts_plain, retention_figures_plain
from customers.models import Customer, Order

pytestmark = pytest.mark.django_db

UNTIL = "2026-06-30"


def seed(*extra):
    call_command("seed_demo", "--customers", "300", "--until", UNTIL, *extra, verbosity=0)


def fingerprint():
    from feedback.models import Ticket

    return (
        list(Customer.objects.order_by("external_id").values_list("external_id", "email", "locale", "first_seen")),
        list(Order.objects.order_by("external_id").values_list("external_id", "placed_at", "total", "status")),
        list(Ticket.objects.order_by("id").values_list("customer__external_id", "kind", "priority", "description")),
    )


def test_the_same_seed_gives_the_same_data():
    seed("--seed", "7")
    first = fingerprint()
    from feedback.models import Ticket

    Ticket.objects.all().delete()
    Order.objects.all().delete()
    Customer.objects.all().delete()
    from customers.models import Product

    Product.objects.all().delete()
    rebuild()
    seed("--seed", "7")
    assert fingerprint() == first


def test_the_demo_has_repeat_buyers_lapsed_ones_channels_and_locales():
    seed()
    customers = Customer.objects.all()
    assert customers.count() == 300
    assert customers.values("locale").distinct().count() == 5
    assert customers.values("acquisition_channel").distinct().count() >= 5
    order_counts = [c.orders.count() for c in customers]
    assert sum(1 for n in order_counts if n == 1) > 50  # one-time buyers
    assert sum(1 for n in order_counts if n >= 5) > 20  # loyal ones
    period = period_validate(start=date(2026, 4, 1), end=date(2026, 6, 30))
    figures = retention_figures_fast(period)
    assert figures == retention_figures_plain(period)
    assert 0 < figures.retention_rate < 100  # some lapse, some stay
    assert cohorts_fast(period) == cohorts_plain(period)


def test_if_empty_leaves_existing_data_alone_and_the_login_works(settings):
    settings.DEBUG = True
    seed("--with-login")
    orders = Order.objects.count()
    seed("--if-empty", "--with-login")
    assert Order.objects.count() == orders
    user = authenticate(username="demo", password="demo")
    assert user is not None and user.has_perm("customers.change_order")


def test_the_demo_login_is_refused_outside_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG only"):
        seed("--with-login")


def test_the_demo_has_tickets_in_the_customers_languages():
    from feedback.models import SurveyResponse, Ticket

    seed()
    recovery = SurveyResponse.objects.filter(recovery_ticket__isnull=False).values("recovery_ticket")
    tickets = Ticket.objects.select_related("customer").exclude(pk__in=recovery)
    assert tickets.count() == 40
    assert all(ticket.language == ticket.customer.locale for ticket in tickets)
    assert tickets.values("kind").distinct().count() >= 3


def test_the_demos_emails_are_its_history_written_out_not_sent_at_the_first_start():
    """The first start's worker sent every demo email into var/mail/: acknowledgments of
    tickets opened days ago, promising dates already past."""
    from customers.models import Delivery, Message

    seed()
    emails = Message.objects.exclude(kind="")
    assert emails.filter(kind="ticket_ack").count() >= 40
    assert not emails.exclude(delivery=Delivery.SENT).exists()
    assert not emails.filter(body="").exists()
    ack = emails.filter(kind="ticket_ack").select_related("ticket").first()
    assert ack.ticket.reference in ack.subject and ack.sent_at == ack.occurred_at


def test_the_demo_has_survey_answers_and_scores():
    from feedback.models import SurveyResponse
    from feedback.selectors import service_period
    from feedback.surveys.selectors import survey_scores

    seed()
    responses = SurveyResponse.objects.all()
    assert responses.count() > 60
    assert responses.filter(recovery_ticket__isnull=False).exists()  # the loop, closed
    until = responses.latest("submitted_at").submitted_at.date()
    scores = survey_scores(service_period(start=until.replace(year=until.year - 1), end=until))
    assert -100 < scores["nps"]["nps"] < 100 and 0 < scores["csat"]["csat"] < 100
    assert len(scores["trend"]) >= 12


def test_the_demo_has_scores_segments_and_a_campaign_to_launch():
    """The at-risk queue, the dashboard and the segments show something on the first
    start, not after the first night."""
    from insights.models import CampaignStatus, CustomerScore, Segment, WinBackCampaign
    from insights.segments import segment_customers

    seed()
    assert CustomerScore.objects.count() == 300
    assert CustomerScore.objects.filter(churn_risk__gt=0).exists()
    assert Segment.objects.count() == 2
    lapsed = Segment.objects.get(name="Lapsed repeat buyers")
    assert segment_customers(lapsed.rules).count() > 10
    campaign = WinBackCampaign.objects.get()
    assert campaign.status == CampaignStatus.DRAFT and campaign.segment == lapsed
    assert set(campaign.subjects) == set(campaign.bodies) == {"en", "da", "ru", "ko", "zh-hans"}
