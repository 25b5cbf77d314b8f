"""Surveys at scale, each figure against a ceiling measured in the same run:

1. Survey submissions under gunicorn (token check, response, invitation marked used,
   the month's row, a recovery ticket for every tenth answer, a detractor) at 16
   clients, against a Django view that validates a CSRF form and inserts one row.
2. NPS per month for three years over a million responses: the monthly rows against
   plain SQL over the responses and pandas with the responses in memory.
3. Choosing today's NPS invitations among the data set's million customers with every
   contact rule (set-based), rolled back afterwards.

The million responses stay between runs (bench_meta says so); what runs 1 and 3 make
is removed.
"""

import os
import signal
import time
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction

from customers.models import Customer
from feedback.models import Survey, SurveyInvitation, SurveyResponse, SurveyTrigger, Ticket
from feedback.surveys.models import invitation_mac
from feedback.surveys.selectors import monthly_trend
from feedback.surveys.services import (
    _due_for_periodic,
    survey_campaign_send,
    survey_months_rebuild,
    surveys_schedule,
)

from .api_orders import free_port, start_gunicorn
from .common import best_of
from .loadgen import post_form_load
from .support import complaint, csrf_pair

CONCURRENCY = 16
SECONDS = 20.0
INVITATIONS = 40_000  # 23 s (warm-up included) at up to 1,700 posts a second: the fast machines ran 12,000 out
RESPONSES = 1_000_000
RESPONSES_VERSION = f"v1:{RESPONSES}"


# --- 1. Submissions ---------------------------------------------------------------------------


def _invitations(run_id: str) -> list[str]:
    """INVITATIONS customers with consent and a sent NPS invitation each (untimed set-up,
    through a campaign, then marked sent without emails); their links' paths."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO customers_customer (external_id, email, name, phone, locale, time_zone,"
            " acquisition_channel, marketing_consent, survey_consent, first_seen, created_at, updated_at)"
            " SELECT NULL, 'survey' || %s || '.' || g || '@bench.example', 'Survey ' || g, '',"
            " (ARRAY['en', 'da', 'ru', 'ko', 'zh-hans'])[1 + g %% 5], 'UTC', 'organic', false, true,"
            " now(), now(), now() FROM generate_series(1, %s) AS g",
            [run_id, INVITATIONS],
        )
    chosen = Customer.objects.filter(email__startswith=f"survey{run_id}.")
    campaign = survey_campaign_send(survey=Survey.objects.get(kind="nps"), customers=chosen, name=f"bench {run_id}")
    SurveyInvitation.objects.filter(campaign=campaign).update(
        status="sent", sent_at=datetime.now(UTC), send_at=None, expires_at=datetime(2100, 1, 1, tzinfo=UTC)
    )
    rows = SurveyInvitation.objects.filter(campaign=campaign).order_by("pk").values_list("pk", "token_salt")
    return [f"/s/{pk}.{invitation_mac(pk, salt)}/" for pk, salt in rows]


def _clean_submissions(run_id: str) -> int:
    customers = Customer.objects.filter(email__startswith=f"survey{run_id}.")
    responses = SurveyResponse.objects.filter(customer__in=customers)
    count = responses.count()
    recovery = list(responses.exclude(recovery_ticket=None).values_list("recovery_ticket", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM customers_message WHERE customer_id IN"
            " (SELECT id FROM customers_customer WHERE email LIKE %s)",
            [f"survey{run_id}.%"],
        )
    responses.delete()
    Ticket.objects.filter(pk__in=recovery).delete()
    SurveyInvitation.objects.filter(customer__in=customers).delete()
    customers.delete()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE bench_ping")
    survey_months_rebuild()
    return count


def run_submissions(report) -> None:
    report.say(f"\n## Survey submissions under gunicorn (4 sync workers, {CONCURRENCY} clients, {SECONDS:.0f} s)")
    run_id = f"{int(time.time())}"
    paths = _invitations(run_id)
    report.say(f"  {len(paths):,} invitations ready; every tenth answer is a detractor (a recovery ticket)")
    used = iter(paths)
    port = free_port()
    server = start_gunicorn(port)

    def answer(number: int) -> dict:
        return {"score": "3" if number % 10 == 0 else "9", "reason": "Bench answer."}

    try:
        cookie, token = csrf_pair(port, "/support/")
        ceiling_cookie, ceiling_token = csrf_pair(port, "/bench/form-insert/")
        fields = complaint(run_id)
        post_form_load("127.0.0.1", port, lambda n: next(used), answer, cookie=cookie, token=token, seconds=3)
        post_form_load(
            "127.0.0.1", port, "/bench/form-insert/", fields, cookie=ceiling_cookie, token=ceiling_token, seconds=3
        )
        ours = post_form_load(
            "127.0.0.1", port, lambda n: next(used), answer, cookie=cookie, token=token, seconds=SECONDS
        )
        ceiling = post_form_load(
            "127.0.0.1",
            port,
            "/bench/form-insert/",
            fields,
            cookie=ceiling_cookie,
            token=ceiling_token,
            seconds=SECONDS,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    for label, result in (("/s/<token>/", ours), ("CSRF form, one INSERT (ceiling)", ceiling)):
        report.say(
            f"  {label}: {result['requests_per_second']:.0f} posts/s, p50 {result['p50_ms']:.0f} ms,"
            f" p99 {result['p99_ms']:.0f} ms, statuses {result['statuses']}"
        )
    ratio = ours["requests_per_second"] / ceiling["requests_per_second"]
    report.figure("survey_submit_ratio", ratio, f"  ratio: {ratio:.2f} (goal ≥ 0.50, p99 < 50 ms)")
    report.figures["survey_submit_rps"] = ours["requests_per_second"]
    report.figures["survey_submit_p99_ms"] = ours["p99_ms"]
    report.figures["survey_submit_ceiling_rps"] = ceiling["requests_per_second"]
    report.say(f"  removed the {_clean_submissions(run_id):,} responses the run made")


# --- 2. The NPS trend -------------------------------------------------------------------------

RESPONSES_SQL = """
WITH chosen AS (
    SELECT c.id AS customer_id, g,
           '2023-01-01 00:00+00'::timestamptz + random() * interval '1095 days' AS at,
           floor(random() * 11)::int AS score
    FROM generate_series(1, %(n)s) AS g
    JOIN customers_customer c ON c.external_id = 'B' || lpad((1 + (g - 1) %% 1000000)::text, 7, '0')
), invited AS (
    INSERT INTO feedback_surveyinvitation (survey_id, customer_id, source, key, token_salt, language, status,
        skip_reason, sent_at, answered_at, expires_at, created_at)
    SELECT %(survey)s, customer_id, 'staff', 'bench:' || g, md5(g::text), 'en', 'answered', '',
           at, at, at + interval '30 days', at
    FROM chosen
    RETURNING id, customer_id, created_at
)
INSERT INTO feedback_surveyresponse (invitation_id, survey_id, customer_id, score, answers, language, unhappy,
    submitted_at)
SELECT i.id, %(survey)s, i.customer_id, s.score, jsonb_build_object('score', s.score), 'en', s.score <= 6,
       i.created_at
FROM invited i JOIN chosen s ON s.customer_id = i.customer_id
"""

PLAIN_TREND = """
SELECT date_trunc('month', r.submitted_at AT TIME ZONE %s) AS month,
       count(*) FILTER (WHERE r.score >= 9) * 100.0 / count(*) - count(*) FILTER (WHERE r.score <= 6) * 100.0 / count(*)
FROM feedback_surveyresponse r JOIN feedback_survey s ON s.id = r.survey_id
WHERE s.kind = 'nps' AND r.score IS NOT NULL AND r.submitted_at >= %s AND r.submitted_at < %s
GROUP BY 1 ORDER BY 1
"""


def _ensure_responses(report) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM bench_meta WHERE key = 'survey_responses'")
        row = cursor.fetchone()
    if row and row[0] == RESPONSES_VERSION:
        report.say(f"  {RESPONSES:,} NPS responses present")
        return
    started = time.perf_counter()
    survey = Survey.objects.get(kind="nps")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM feedback_surveyresponse WHERE invitation_id IN"
            " (SELECT id FROM feedback_surveyinvitation WHERE key LIKE 'bench:%')"
        )
        cursor.execute("DELETE FROM feedback_surveyinvitation WHERE key LIKE 'bench:%'")
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(RESPONSES_SQL, {"n": RESPONSES, "survey": survey.pk})
        cursor.execute(
            "INSERT INTO bench_meta VALUES ('survey_responses', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [RESPONSES_VERSION],
        )
    survey_months_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE feedback_surveyresponse, feedback_surveyinvitation, feedback_surveymonth")
    report.say(f"  made {RESPONSES:,} NPS responses over 2023-2025 in {time.perf_counter() - started:.0f} s")


def run_trend(report) -> None:
    report.say("\n## NPS per month for three years over 1,000,000 responses")
    _ensure_responses(report)
    start, end = date(2023, 1, 1), date(2025, 12, 31)
    since, until = datetime(2023, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)

    ours, trend = best_of(lambda: monthly_trend(start, end), 20)

    def plain():
        with connection.cursor() as cursor:
            cursor.execute(PLAIN_TREND, ["UTC", since, until])
            return cursor.fetchall()

    plain_seconds, rows = best_of(plain, 3)
    import pandas

    # The same three years as the others read (a run stopped halfway leaves today's answers).
    frame = pandas.read_sql_query(
        "SELECT r.submitted_at, r.score FROM feedback_surveyresponse r JOIN feedback_survey s ON s.id = r.survey_id"
        " WHERE s.kind = 'nps' AND r.score IS NOT NULL AND r.submitted_at >= %s AND r.submitted_at < %s",
        connection.connection,
        params=(since, until),
    )

    def in_memory():
        months = frame["submitted_at"].dt.tz_convert("UTC").dt.to_period("M")
        grouped = frame.assign(month=months).groupby("month")["score"]
        return (grouped.apply(lambda s: (s >= 9).mean() * 100 - (s <= 6).mean() * 100)).round(1)

    pandas_seconds, by_month = best_of(in_memory, 3)
    assert len(trend) == len(rows) == len(by_month) == 36, (len(trend), len(rows), len(by_month))
    for month, (_at, plain_nps) in zip(trend, rows, strict=True):
        assert abs(month["nps"]["nps"] - float(plain_nps)) < 0.051, (month, plain_nps)
    report.figure("nps_trend_ms", ours * 1000, f"  monthly rows (ours): {ours * 1000:.1f} ms (goal < 30 ms)")
    report.figure(
        "nps_trend_plain_ms", plain_seconds * 1000, f"  plain SQL over the responses: {plain_seconds * 1000:.0f} ms"
    )
    report.figure("nps_trend_pandas_ms", pandas_seconds * 1000, f"  pandas, in memory: {pandas_seconds * 1000:.0f} ms")
    report.say("  the 36 monthly NPS figures agree with the plain SQL")


# --- 3. Choosing today's NPS invitations ------------------------------------------------------------


class _Rollback(Exception):
    pass


def run_selection(report) -> None:
    report.say("\n## Choosing today's NPS invitations among 1,000,000 customers (every contact rule, set-based)")
    # The data set's orders end with 2025: choose as in the first days of 2026, when most
    # customers are still active and the responses above make the recent-survey rule bite.
    now = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    trigger = SurveyTrigger.objects.select_related("survey").get(kind="nps_periodic")
    SurveyTrigger.objects.filter(pk=trigger.pk).update(enabled=True, last_run_at=None)
    try:
        with transaction.atomic():
            count_seconds, due = best_of(lambda: _due_for_periodic(trigger, now).count(), 1)
            started = time.perf_counter()
            first = surveys_schedule(now=now)
            full_seconds = time.perf_counter() - started
            report.figure(
                "nps_selection_full_seconds",
                full_seconds,
                f"  the first run looks at every customer: {first:,} invitations made in {full_seconds:.1f} s"
                f" (choosing them alone, a COUNT of the same query: {count_seconds:.1f} s for {due:,})",
            )
            hourly = []
            for hour in (1, 2, 3):
                with transaction.atomic():
                    started = time.perf_counter()
                    made = surveys_schedule(now=now + timedelta(hours=hour))
                    hourly.append((time.perf_counter() - started, made))
            seconds = min(took for took, _made in hourly)
            report.figure(
                "nps_selection_seconds",
                seconds,
                f"  the hourly runs after it: {', '.join(f'{took:.2f} s ({made:,} new)' for took, made in hourly)}"
                " (goal < 5 s)",
            )
            raise _Rollback
    except _Rollback:
        report.say("  rolled back")
    SurveyTrigger.objects.filter(pk=trigger.pk).update(last_run_at=None)


def run(report) -> None:
    run_trend(report)
    run_selection(report)
    run_submissions(report)
