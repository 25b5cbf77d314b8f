"""How the dashboard writes its figures: by unit, in the staff member's language."""

from decimal import Decimal

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from insights.dashboard import hours

register = template.Library()


def _number(value, places: int) -> str:
    return number_format(Decimal(str(value)), places, use_l10n=True, force_grouping=True)


def _formatted(value, unit: str, *, signed: bool = False) -> str:
    sign = "+" if signed and value > 0 else ""
    if unit == "percent":
        text = _number(value, 2)
        return sign + (_("%(value)s pp") if signed else _("%(value)s %%")) % {"value": text}
    if unit == "money":
        return sign + _number(value, 2)
    if unit == "hours":
        return sign + _("%(value)s h") % {"value": _number(value, 1)}
    if unit == "score":
        return sign + _number(value, 2 if isinstance(value, Decimal) or value % 1 else 1)
    return sign + _number(value, 0)  # count, points


@register.filter
def figure(value, unit: str) -> str:
    """A card's value: "—" when there is none (a rate over nobody)."""
    return "—" if value is None else _formatted(value, unit)


@register.filter
def change(card) -> str:
    """A card's change against the period before, signed; percentages in points (pp)."""
    return "" if card.change is None else _formatted(card.change, card.unit, signed=True)


@register.filter
def heat(value) -> int:
    """A cohort cell's shade, 0–10."""
    return 0 if value is None else min(10, max(0, round(float(value) / 10)))


@register.filter(name="hours")
def hours_filter(seconds) -> str:
    """Seconds as hours with one decimal, "—" when there are none."""
    return figure(hours(seconds), "hours")


@register.filter
def before_full_stop(text) -> str:
    """A formatted date that ends a sentence, without a full stop of its own: Russian
    dates end in "г." and English times in "p.m.", and the sentence's own stop made
    "31 октября 2026 г.." of them."""
    text = str(text)
    return text[:-1] if text.endswith(".") else text
