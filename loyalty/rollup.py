"""The ledger summed per day, rebuilt nightly, so that figures over long periods read a
row per day instead of every entry (loyalty.selectors.points_in_periods). Entries are
never changed or removed once written (only a credit's `remaining`, which no figure
here reads), so the days built up to an entry id stay right; entries written since,
whatever their date (an imported order's points are dated from the order), are added
live from the primary key."""

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from customers.metrics.period import metrics_zone

from .models import Entry, EntryKind, LedgerDay, LedgerRollup

FLOWS = {
    "earned": Sum("points", filter=Q(points__gt=0), default=0),
    "redeemed": Sum("points", filter=Q(kind=EntryKind.REDEEM), default=0),
    "expired": Sum("points", filter=Q(kind=EntryKind.EXPIRE), default=0),
    "net": Sum("points", default=0),
}


def ledger_days_rebuild() -> int:
    """Every day's sums anew, up to the newest entry now (one GROUP BY over the ledger,
    in a transaction: readers see the old days until it commits). Returns the days."""
    with transaction.atomic():
        LedgerRollup.objects.select_for_update().filter(id=1).first()  # one rebuild at a time
        through = Entry.objects.aggregate(last=Max("id"))["last"] or 0
        days = (
            Entry.objects.filter(id__lte=through)
            .annotate(day=TruncDate("created_at", tzinfo=metrics_zone()))
            .values("day")
            .annotate(**FLOWS)
            .order_by()
        )
        rows = [LedgerDay(**row) for row in days]
        LedgerDay.objects.all().delete()
        LedgerDay.objects.bulk_create(rows, batch_size=1000)
        LedgerRollup.objects.update_or_create(
            id=1,
            defaults={"through_entry": through, "time_zone": settings.TIME_ZONE, "built_at": timezone.now()},
        )
    return len(rows)


def rolled_up_through() -> int:
    """The last entry id the days hold; 0 when they hold nothing usable (never built, or
    built for another time zone)."""
    state = LedgerRollup.objects.filter(id=1).values("through_entry", "time_zone").first()
    if state is None or state["time_zone"] != settings.TIME_ZONE:
        return 0
    return state["through_entry"]
