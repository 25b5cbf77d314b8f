"""Parsing one cell of an import file. Each parser returns the value or raises
CellError with a message that tells the user what to write instead."""

import re
import zoneinfo
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import EARLIEST_DAY, known_time_zones

MAX_MONEY = Decimal("9999999999.99")
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "t", "x"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "n", "f"})
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CellError(ValueError):
    def __init__(self, column: str, message: str):
        super().__init__(f"{column}: {message}")
        self.column = column
        self.message = message


def unescape_formula(value: str) -> str:
    """Undo the exports' guard against spreadsheet formulas ('=SUM… -> =SUM…)."""
    if len(value) > 1 and value[0] == "'" and value[1] in "=+-@":
        return value[1:]
    return value


def text(column: str, value: str, *, max_length: int, required: bool = False) -> str:
    value = unescape_formula(value.strip())
    if required and not value:
        raise CellError(column, _("is required."))
    if "\x00" in value:  # no database stores it in text; better said here than failed at the end
        raise CellError(column, _("contains a NUL character: is this a text file?"))
    if len(value) > max_length:
        raise CellError(column, _("is longer than %(max)d characters.") % {"max": max_length})
    return value


class MomentParser:
    """Dates and times as METRICS.md reads them: a date alone is midnight of that day in
    settings.TIME_ZONE, a time without an offset is local to that zone, and an offset
    (or Z) is taken as given. Moments more than a day in the future are refused."""

    def __init__(self) -> None:
        self.zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
        self.latest = timezone.now() + timedelta(days=1)

    def __call__(self, column: str, value: str, *, required: bool = True) -> datetime | None:
        value = value.strip()
        if not value:
            if required:
                raise CellError(column, _("is required."))
            return None
        try:
            if DATE_ONLY.match(value):
                moment = datetime.combine(date.fromisoformat(value), time(), tzinfo=self.zone)
            else:
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=self.zone)
        except ValueError:
            raise CellError(
                column,
                _("%(value)r is not a date or time (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, optionally with +HH:MM).")
                % {"value": value[:40]},
            ) from None
        if moment > self.latest:
            raise CellError(column, _("%(value)s is in the future.") % {"value": value})
        if moment.date() < EARLIEST_DAY:
            raise CellError(column, _("%(value)s is before 1900.") % {"value": value})
        return moment


def day(column: str, value: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CellError(column, _("%(value)r is not a date (use YYYY-MM-DD).") % {"value": value[:40]}) from None


def money(column: str, value: str) -> Decimal:
    value = value.strip()
    if not value:
        raise CellError(column, _("is required."))
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise CellError(
            column,
            _("%(value)r is not an amount (use digits and a decimal point, e.g. 1234.50).") % {"value": value[:40]},
        ) from None
    if not amount.is_finite() or amount < 0:
        raise CellError(column, _("must be zero or more."))
    if amount > MAX_MONEY:
        raise CellError(column, _("is larger than %(max)s.") % {"max": MAX_MONEY})
    if amount.as_tuple().exponent < -2:
        raise CellError(column, _("has more than two decimals."))
    return amount


def choice(column: str, value: str, choices: dict[str, str], *, default: str) -> str:
    """`choices` maps the accepted lower-case spellings to stored values."""
    value = value.strip().lower()
    if not value:
        return default
    try:
        return choices[value]
    except KeyError:
        raise CellError(
            column,
            _("%(value)r is not one of: %(choices)s.") % {"value": value[:40], "choices": ", ".join(sorted(choices))},
        ) from None


def boolean(column: str, value: str) -> bool:
    value = value.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise CellError(column, _("%(value)r is not yes or no (use true/false, yes/no or 1/0).") % {"value": value[:40]})


def currency(column: str, value: str) -> str:
    value = value.strip().upper()
    if not value:
        return settings.DEFAULT_CURRENCY
    if len(value) != 3 or not value.isalpha() or not value.isascii():
        raise CellError(column, _("%(value)r is not a three-letter currency code such as EUR.") % {"value": value[:40]})
    return value


@lru_cache(maxsize=65536)
def _email_ok(value: str) -> bool:
    # Cached: an orders file repeats each customer's address on every order.
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def email(column: str, value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if len(value) > 254 or not _email_ok(value):
        raise CellError(column, _("%(value)r is not an email address.") % {"value": value[:60]})
    return value


def time_zone(column: str, value: str) -> str:
    value = value.strip()
    if not value:
        return settings.TIME_ZONE
    if value not in known_time_zones():
        raise CellError(
            column, _("%(value)r is not a known time zone (e.g. Europe/Copenhagen).") % {"value": value[:60]}
        )
    return value
