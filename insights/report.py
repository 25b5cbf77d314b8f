"""The weekly report: every Monday, each manager (whoever may see the dashboard's
retention figures) gets last week's headline figures against the week before, the
changes that matter first. A staff email through the outbox, one per manager and week
(its key), in STAFF_LANGUAGE."""

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.metrics.period import metrics_zone
from customers.models import Entry, Message
from customers.outbox import email, emails_write, name_kinds, renderer

from .dashboard import Card, DashboardPeriod, loyalty_cards, retention_cards, service_cards

WEEKLY_REPORT = "weekly_report"
name_kinds({WEEKLY_REPORT: _("Weekly report (to staff)")})


def last_week(today: date) -> DashboardPeriod:
    """The last whole week, Monday to Sunday, before `today`."""
    monday = today - timedelta(days=today.weekday() + 7)
    return DashboardPeriod(monday, monday + timedelta(days=6))


def managers():
    """Active staff with an address who may see the dashboard's retention figures."""
    allowed = Q(groups__permissions__codename="view_dashboard", groups__permissions__content_type__app_label="insights")
    allowed |= Q(user_permissions__codename="view_dashboard", user_permissions__content_type__app_label="insights")
    allowed |= Q(is_superuser=True)
    return get_user_model().objects.filter(allowed, is_active=True, is_staff=True).exclude(email="").distinct()


def _stored(value) -> str | None:
    return None if value is None else str(value)


def weekly_report_send(*, now: datetime | None = None) -> int:
    """Write last week's report for every manager (again: nothing, the key is taken)."""
    now = now or timezone.now()
    period = last_week(now.astimezone(metrics_zone()).date())
    before = period.before()
    cards = [*retention_cards(period, before), *service_cards(period, before), *loyalty_cards(period, before)]
    rows = [
        {
            "key": card.key,
            "unit": card.unit,
            "value": _stored(card.value),
            "previous": _stored(card.previous),
            "higher_is_better": card.higher_is_better,
        }
        for card in cards
    ]
    context = {"start": period.start.isoformat(), "end": period.end.isoformat(), "cards": rows}
    messages = [
        email(
            kind=WEEKLY_REPORT,
            to_email=user.email,
            language=settings.STAFF_LANGUAGE,
            key=f"weekly:{period.start.isoformat()}:{user.pk}",
            context=context,
            entry=Entry.STAFF,
            automatic=False,
        )
        for user in managers()
    ]
    return sum(message.written for message in emails_write(messages))


def _card(row: dict) -> Card:
    def number(value):
        return None if value is None else Decimal(value)

    return Card(row["key"], number(row["value"]), number(row["previous"]), row["unit"], row["higher_is_better"])


@renderer(WEEKLY_REPORT)
def _write_out(message: Message) -> dict:
    cards = [_card(row) for row in message.context["cards"]]
    period = DashboardPeriod(date.fromisoformat(message.context["start"]), date.fromisoformat(message.context["end"]))
    # What changed: the figures that moved, the unwelcome first.
    changed = sorted((card for card in cards if card.verdict != "neutral"), key=lambda card: card.verdict != "bad")
    query = f"?start={period.start.isoformat()}&end={period.end.isoformat()}"
    return {
        "period": period,
        "before": period.before(),
        "cards": cards,
        "changed": changed,
        "dashboard_url": settings.SITE_URL + reverse("admin:index") + query,
    }
