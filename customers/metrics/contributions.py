"""What one customer's counted orders contribute to the aggregates, in Python.

The same definition as the CONTRIBUTE SQL in aggregates.py, which does the work for
many customers at once (imports, rebuilds); this one serves the common case of one
order for one customer, where a handful of rows in Python beat planning a large query.
The property tests hold the two to the same result (incremental == rebuild).
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import groupby

ONE_DAY = timedelta(days=1)
# Daily counters, in the column order of customers_dailyactivity(pending)
DAILY_COUNTERS = ("orders", "revenue", "first_orders", "second_orders", "activations", "deactivations")


@dataclass
class Contributions:
    daily: defaultdict = field(default_factory=lambda: defaultdict(lambda: [0, Decimal(0), 0, 0, 0, 0]))
    gaps: Counter = field(default_factory=Counter)  # (day, gap) -> customers
    cohorts: Counter = field(default_factory=Counter)  # (cohort month, month) -> customers

    def minus(self, other: "Contributions") -> "Contributions":
        """self - other, without the keys where nothing changed."""
        delta = Contributions()
        for day in self.daily.keys() | other.daily.keys():
            values = [a - b for a, b in zip(self.daily.get(day, [0] * 6), other.daily.get(day, [0] * 6), strict=True)]
            if any(values):
                delta.daily[day] = values
        for target, mine, theirs in ((delta.gaps, self.gaps, other.gaps), (delta.cohorts, self.cohorts, other.cohorts)):
            for key in mine.keys() | theirs.keys():
                if mine[key] != theirs[key]:
                    target[key] = mine[key] - theirs[key]
        return delta

    def is_empty(self) -> bool:
        return not (self.daily or self.gaps or self.cohorts)


def contributions(orders: Iterable[tuple[int, date, Decimal]], window: int) -> Contributions:
    """`orders`: (customer id, local day, total) of counted orders, sorted by customer
    and then by moment (placed_at, id)."""
    result = Contributions()
    daily = result.daily
    for _customer, rows in groupby(orders, key=lambda row: row[0]):
        days: list[date] = []
        for number, (_id, day, total) in enumerate(rows, start=1):
            counters = daily[day]
            counters[0] += 1
            counters[1] += total
            if number <= 2:
                counters[1 + number] += 1  # first_orders or second_orders
            if not days or days[-1] != day:
                days.append(day)
        cohort = days[0].replace(day=1)
        for index, day in enumerate(days):
            back = (day - days[index - 1]).days if index else None
            forward = (days[index + 1] - day).days if index + 1 < len(days) else None
            if back is None or back > window:  # a spell of activity starts the next midnight
                daily[day + ONE_DAY][4] += 1
            if forward is None or forward > window:  # and ends W days after its last order
                daily[day + (window + 1) * ONE_DAY][5] += 1
            if back is not None and back < 2 * window:
                result.gaps[(day, back)] += 1
        for month in {day.replace(day=1) for day in days}:
            result.cohorts[(cohort, month)] += 1
    return result
