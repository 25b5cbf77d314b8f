"""Survey scores, computed by the database.

Definitions (METRICS.md; docs/architecture.md, "Survey scores", says the same):
- NPS: answers 0–10; promoters 9–10, passives 7–8, detractors 0–6;
  NPS = %promoters − %detractors, −100…100, 1 decimal.
- CSAT: answers 1–5; the share (%) of 4 and 5, 2 decimals.
- CLI: a response's CLI is the mean of its three 1–6 answers; the period's CLI is the
  mean over responses, 2 decimals.
- A period is two dates, both included, with the day boundaries of TIME_ZONE; a
  response counts in the period it was submitted in. A figure over no responses is null.
- Response rate of a survey: of the invitations sent in the period, the share answered
  (whenever).
- Recovery rate: of the unhappy answers in the period (NPS 0–6, CSAT 1–2, CLI < 3),
  the share followed later by an answer of the same customer to a survey of the same
  kind with a higher score.
"""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth

from ..selectors import ServicePeriod
from .models import InvitationStatus, SurveyInvitation, SurveyKind, SurveyMonth, SurveyResponse

SEGMENTS = {
    "acquisition_channel": "customer__acquisition_channel",
    "locale": "customer__locale",
}


def _percent(part, whole, places: str = "0.01") -> float | None:
    if not whole:
        return None
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal(places), rounding=ROUND_HALF_UP))


def nps_value(promoters: int, detractors: int, scored: int) -> float | None:
    if not scored:
        return None
    value = (Decimal(promoters) - Decimal(detractors)) * 100 / Decimal(scored)
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _mean(total, count) -> float | None:
    if not count:
        return None
    return float((Decimal(total) / Decimal(count)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _figures(kind: str, counts: dict) -> dict:
    """The score of one kind from its counts (scored, score_sum, promoters, detractors,
    satisfied)."""
    scored = counts["scored"]
    if kind == SurveyKind.NPS:
        return {
            "responses": scored,
            "promoters": counts["promoters"],
            "passives": scored - counts["promoters"] - counts["detractors"],
            "detractors": counts["detractors"],
            "nps": nps_value(counts["promoters"], counts["detractors"], scored),
        }
    if kind == SurveyKind.CSAT:
        return {"responses": scored, "satisfied": counts["satisfied"], "csat": _percent(counts["satisfied"], scored)}
    return {"responses": scored, "cli": _mean(counts["score_sum"] or 0, scored)}


COUNTS = {
    "scored": Count("pk"),
    "score_sum": Sum("score"),
    "promoters": Count("pk", filter=Q(score__gte=9)),
    "detractors": Count("pk", filter=Q(score__lte=6)),
    "satisfied": Count("pk", filter=Q(score__gte=4)),
}
SCORED_KINDS = (SurveyKind.NPS, SurveyKind.CSAT, SurveyKind.CLI)


def _responses(period: ServicePeriod) -> QuerySet:
    since, until = period.bounds
    return SurveyResponse.objects.filter(submitted_at__gte=since, submitted_at__lt=until, score__isnull=False)


def _grouped(queryset: QuerySet, *group_by: str) -> list[dict]:
    """Counts per survey kind (and per `group_by`), one aggregate query."""
    return list(queryset.values("survey__kind", *group_by).annotate(**COUNTS).order_by("survey__kind", *group_by))


def survey_totals(period: ServicePeriod) -> dict:
    """NPS, CSAT and CLI of the period (keys nps, csat, cli), in one aggregate query."""
    overall = {row["survey__kind"]: row for row in _grouped(_responses(period))}
    empty = dict.fromkeys(COUNTS, 0)
    return {kind.value: _figures(kind, overall.get(kind, empty)) for kind in SCORED_KINDS}


def survey_scores(period: ServicePeriod) -> dict:
    """Every survey figure of the period, as JSON-ready values (the API and the command)."""
    responses = _responses(period)
    result: dict = {"start": period.start.isoformat(), "end": period.end.isoformat(), **survey_totals(period)}
    result["trend"] = monthly_trend(period.start, period.end)
    result["segments"] = {
        name: [
            {"segment": row[path] or "", "kind": row["survey__kind"], **_figures(row["survey__kind"], row)}
            for row in _grouped(responses, path)
        ]
        for name, path in SEGMENTS.items()
    }
    csat = responses.filter(survey__kind=SurveyKind.CSAT, ticket__isnull=False)
    result["csat_per_agent"] = [
        {
            "agent_id": row["ticket__assignee"],
            "agent": row["ticket__assignee__username"] or "",
            **_figures(SurveyKind.CSAT, row),
        }
        for row in _grouped(csat, "ticket__assignee", "ticket__assignee__username")
    ]
    result["csat_per_ticket_kind"] = [
        {"ticket_kind": row["ticket__kind"], **_figures(SurveyKind.CSAT, row)} for row in _grouped(csat, "ticket__kind")
    ]
    result["response_rates"] = response_rates(period)
    result["recovery"] = recovery_rate(period)
    return result


def monthly_trend(start: date, end: date) -> list[dict]:
    """NPS, CSAT and CLI per calendar month from the months of `start` to `end`, read
    from the monthly rows kept as answers arrive (36 months read 108 rows at most)."""
    rows = SurveyMonth.objects.filter(month__gte=start.replace(day=1), month__lte=end).order_by("month", "kind")
    months: dict[date, dict] = {}
    for row in rows:
        counts = {
            "scored": row.scored,
            "score_sum": row.score_sum,
            "promoters": row.promoters,
            "detractors": row.detractors,
            "satisfied": row.satisfied,
        }
        months.setdefault(row.month, {"month": f"{row.month:%Y-%m}"})[row.kind] = _figures(row.kind, counts)
    return list(months.values())


def month_rows_from_responses() -> list[SurveyMonth]:
    """The monthly rows computed from scratch (a rebuild, and the tests' reference)."""
    rows = (
        SurveyResponse.objects.annotate(month=TruncMonth("submitted_at"))
        .values("survey__kind", "month")
        .annotate(responses=Count("pk"), **{key: value for key, value in COUNTS.items() if key != "scored"})
        .annotate(scored=Count("score"))
        .order_by()
    )
    return [
        SurveyMonth(
            kind=row["survey__kind"],
            month=row["month"].date() if hasattr(row["month"], "date") else row["month"],
            responses=row["responses"],
            scored=row["scored"],
            score_sum=row["score_sum"] or 0,
            promoters=row["promoters"] if row["survey__kind"] == SurveyKind.NPS else 0,
            detractors=row["detractors"] if row["survey__kind"] == SurveyKind.NPS else 0,
            satisfied=row["satisfied"] if row["survey__kind"] == SurveyKind.CSAT else 0,
        )
        for row in rows
    ]


def response_rates(period: ServicePeriod) -> list[dict]:
    since, until = period.bounds
    rows = (
        SurveyInvitation.objects.filter(sent_at__gte=since, sent_at__lt=until)
        .values("survey", "survey__name")
        .annotate(sent=Count("pk"), answered=Count("pk", filter=Q(status=InvitationStatus.ANSWERED)))
        .order_by("survey__name")
    )
    return [
        {
            "survey_id": row["survey"],
            "survey": row["survey__name"],
            "sent": row["sent"],
            "answered": row["answered"],
            "response_rate": _percent(row["answered"], row["sent"]),
        }
        for row in rows
    ]


def recovery_rate(period: ServicePeriod) -> dict:
    better_later = SurveyResponse.objects.filter(
        customer=OuterRef("customer"),
        survey__kind=OuterRef("survey__kind"),
        submitted_at__gt=OuterRef("submitted_at"),
        score__gt=OuterRef("score"),
    )
    counts = (
        _responses(period)
        .filter(unhappy=True)
        .aggregate(unhappy=Count("pk"), recovered=Count("pk", filter=Exists(better_later)))
    )
    return {**counts, "recovery_rate": _percent(counts["recovered"], counts["unhappy"])}
