"""The ticket deadline sweep as set-based SQL, for PostgreSQL and the tickets whose
policy has no business calendar (plain time: a deadline minus a duration is SQL
arithmetic). Tickets under a calendar go through the Python sweep
(sweeps._act_on_deadlines), which is the reference: a property test holds the two to
the same result on random ticket states, field by field and email by email.

Why: acting on a thousand due tickets one Python object at a time took 0.7 s, most of
it building objects; here a batch is one statement (claim, update, and insert the
follow-ups) and the staff digests, whatever its size.
"""

from datetime import datetime, timedelta
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from customers.outbox import emails_write, message_id_domain, queue_delivery, sender_address

from ..models import ACTIVE_STATUSES, Team
from . import emails

# One statement claims due tickets (SKIP LOCKED), works out what is due for each and
# writes the new state, returning what the emails need. Each step mirrors
# sweeps._act_on_deadlines and sla.schedule; the comments name the Python it follows.
ACT = """
WITH due AS (
    SELECT t.id FROM feedback_ticket t JOIN feedback_slapolicy p ON p.id = t.policy_id
    WHERE t.sla_due_at <= %(now)s AND p.calendar_id IS NULL
    ORDER BY t.sla_due_at LIMIT %(batch)s
    FOR UPDATE OF t SKIP LOCKED
), v AS (
    SELECT t.id, t.acknowledge_by, t.resolve_by AS old_resolve_by, p.warn_before AS wb,
        t.status = ANY(%(active)s) AS active,
        ans.pending AS answer_pending,
        -- the first answer: warn once before it is due, record a miss
        ans.pending AND NOT t.response_warned AND ans.warn_at IS NOT NULL AND ans.warn_at <= %(now)s
            AND %(now)s < t.acknowledge_by AS response_warning,
        t.response_warned OR (ans.pending AND (ans.warn_at IS NULL OR ans.warn_at <= %(now)s)) AS response_warned,
        t.first_response_breached OR (ans.pending AND t.acknowledge_by <= %(now)s) AS first_response_breached,
        -- the resolution: warn once before it is due; missed, a follow-up with a new date
        res.pending AND NOT t.resolution_warned AND res.warn_at IS NOT NULL AND res.warn_at <= %(now)s
            AND %(now)s < t.resolve_by AS resolution_warning,
        res.breach,
        CASE WHEN res.breach THEN t.escalation_level + 1 ELSE t.escalation_level END AS escalation_level,
        t.resolution_breached OR res.breach AS resolution_breached,
        CASE WHEN res.breach THEN %(now)s + p.follow_up_every ELSE t.resolve_by END AS resolve_by,
        CASE WHEN res.breach THEN %(now)s + p.follow_up_every ELSE t.told_resolve_by END AS told_resolve_by,
        -- set_resolution_deadline: a warning is owed if it would come after now, i.e. if
        -- (now + follow_up_every) - warn_before > now
        CASE WHEN res.breach THEN NOT (p.warn_before > interval '0' AND p.follow_up_every > p.warn_before)
             ELSE t.resolution_warned OR (res.pending AND (res.warn_at IS NULL OR res.warn_at <= %(now)s))
        END AS resolution_warned
    FROM feedback_ticket t
    JOIN due USING (id)
    JOIN feedback_slapolicy p ON p.id = t.policy_id
    CROSS JOIN LATERAL (
        SELECT t.first_responded_at IS NULL AND t.acknowledge_by IS NOT NULL AS pending,
            CASE WHEN p.warn_before > interval '0' THEN t.acknowledge_by - p.warn_before END AS warn_at
    ) ans
    CROSS JOIN LATERAL (
        SELECT t.resolve_by IS NOT NULL AS pending,
            t.resolve_by IS NOT NULL AND t.resolve_by <= %(now)s AS breach,
            CASE WHEN p.warn_before > interval '0' THEN t.resolve_by - p.warn_before END AS warn_at
    ) res
), updated AS (
UPDATE feedback_ticket t SET
    response_warned = v.response_warned,
    first_response_breached = v.first_response_breached,
    escalation_level = v.escalation_level,
    resolution_breached = v.resolution_breached,
    resolve_by = v.resolve_by,
    told_resolve_by = v.told_resolve_by,
    resolution_warned = v.resolution_warned,
    -- sla.schedule: the next warning or breach, and the deadline the queue shows
    sla_due_at = CASE WHEN NOT v.active THEN NULL ELSE LEAST(
        CASE WHEN v.answer_pending AND NOT v.response_warned AND v.wb > interval '0' THEN v.acknowledge_by - v.wb END,
        CASE WHEN v.answer_pending AND NOT v.first_response_breached THEN v.acknowledge_by END,
        CASE WHEN v.resolve_by IS NOT NULL AND NOT v.resolution_warned AND v.wb > interval '0'
            THEN v.resolve_by - v.wb END,
        v.resolve_by) END,
    next_deadline_at = CASE WHEN NOT v.active THEN NULL
        ELSE LEAST(CASE WHEN v.answer_pending THEN v.acknowledge_by END, v.resolve_by) END,
    updated_at = %(now)s
FROM v WHERE t.id = v.id
RETURNING t.id, t.customer_id, t.language, t.assignee_id, t.team_id, t.escalation_level, t.resolve_by,
    v.acknowledge_by, v.old_resolve_by, v.response_warning, v.resolution_warning, v.breach
), followed AS (
-- The customers' follow-ups, as emails.follow_up and the outbox write them (the same
-- key, context and hourly cap; the cap does not count other follow-ups of this batch).
INSERT INTO customers_message (customer_id, ticket_id, entry, kind, channel, author_id, automatic, from_email,
    to_email, subject, body, body_html, context, language, key, delivery, attempts, next_attempt_at, sent_at,
    last_error, message_id, in_reply_to, occurred_at, created_at)
SELECT u.customer_id, u.id, 'outbound', 'ticket_follow_up', 'email', NULL, true, %(sender)s,
    lower(c.email), '', '', '', jsonb_build_object('resolve_by', u.resolve_by), u.language,
    'ticket:' || u.id || ':follow_up:' || u.escalation_level,
    CASE WHEN capped.sent >= %(cap)s THEN 'suppressed' ELSE 'pending' END, 0,
    CASE WHEN capped.sent >= %(cap)s THEN NULL ELSE %(now)s + %(requeue)s END, NULL,
    CASE WHEN capped.sent >= %(cap)s THEN 'hourly cap of automatic emails to this address reached' ELSE '' END,
    '<' || replace(gen_random_uuid()::text, '-', '') || '@' || %(domain)s || '>', '', %(now)s, %(now)s
FROM updated u
-- A lookup per row by key (the planner cannot know how few rows `updated` holds and
-- would otherwise hash the whole customers table).
CROSS JOIN LATERAL (SELECT email FROM customers_customer WHERE id = u.customer_id) c
CROSS JOIN LATERAL (
    SELECT count(*) AS sent FROM customers_message m
    WHERE m.automatic AND m.to_email = lower(c.email) AND m.created_at >= %(now)s - interval '1 hour'
) capped
WHERE u.breach AND c.email IS NOT NULL AND c.email <> ''
ON CONFLICT DO NOTHING
RETURNING id, delivery
)
-- The pending follow-ups' ids, once: on the batch's first row only.
SELECT u.*, f.ids
FROM updated u
LEFT JOIN (
    SELECT (SELECT min(id) FROM updated) AS first,
        (SELECT coalesce(array_agg(id) FILTER (WHERE delivery = 'pending'), '{}') FROM followed) AS ids
) f ON f.first = u.id
"""


def act_in_sql(moment: datetime, batch: int) -> int:
    """One batch of calendar-free tickets, in the caller's transaction. Returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            ACT,
            {
                "now": moment,
                "batch": batch,
                "active": [str(status) for status in ACTIVE_STATUSES],
                "sender": sender_address(),
                "cap": settings.AUTOMATIC_EMAILS_PER_ADDRESS_PER_HOUR,
                "requeue": timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS),
                "domain": message_id_domain(),
            },
        )
        rows = cursor.fetchall()
    if not rows:
        return 0
    queue_delivery(next(row[-1] for row in rows if row[-1] is not None))  # the pending follow-ups
    _write_digests([row[:-1] for row in rows])
    return len(rows)


def _write_digests(rows) -> None:
    """Warnings and escalations, to the same people as the Python sweep tells."""
    wanted = [row for row in rows if row[9] or row[10] or row[11]]
    if not wanted:
        return
    users = get_user_model().objects.in_bulk({row[3] for row in wanted} - {None})
    teams = Team.objects.in_bulk({row[4] for row in wanted} - {None})
    digests = emails.StaffDigests()
    for pk, _customer, _language, assignee, team, level, resolve_by, acknowledge_by, old_resolve_by, *flags in wanted:
        response_warning, resolution_warning, breach = flags
        ticket = SimpleNamespace(
            pk=pk,
            assignee_id=assignee,
            assignee=users.get(assignee),
            team_id=team,
            team=teams.get(team),
            # Warnings come before a breach in the same sweep: they carry the level before it.
            escalation_level=level - 1 if breach else level,
            resolve_by=resolve_by,
        )
        if response_warning:
            digests.warn(ticket, which="response", deadline=acknowledge_by)
        if resolution_warning:
            digests.warn(ticket, which="resolution", deadline=old_resolve_by)
        if breach:
            ticket.escalation_level = level
            digests.escalate(ticket)
    emails_write(digests.emails())
