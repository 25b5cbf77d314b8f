"""Every write of the survey feature: who may be asked (the contact rules), invitations
and their emails, the sweep that sends scheduled ones, the periodic selection, the
customer's answer, and closing the loop on an unhappy one.

The admin, the API, the customer pages, the ticket services and beat call these.
"""

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.core.exceptions import EmptyResultSet, ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db import connection, transaction
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import Customer, Delivery, Message, Order, OrderStatus, Unsubscribe
from customers.outbox import email, emails_write
from retention_crm.db import Rows, insert_unless_taken_sql, mark_inserted, row_source, rows_together
from retention_crm.errors import Conflict

from ..models import ACTIVE_STATUSES, Priority, Ticket, TicketChannel, TicketKind
from .models import (
    SCORED_QUESTIONS,
    InvitationSource,
    InvitationStatus,
    Question,
    QuestionType,
    Survey,
    SurveyCampaign,
    SurveyInvitation,
    SurveyKind,
    SurveyMonth,
    SurveyResponse,
    SurveyTrigger,
    TriggerKind,
    invitation_mac,
    new_token_salt,
    parse_token,
)
from .selectors import month_rows_from_responses

logger = logging.getLogger(__name__)

INVITATION_KIND = "survey_invitation"
PAID_STATUSES = (OrderStatus.PAID, OrderStatus.FULFILLED)


# --- Who may be asked ------------------------------------------------------------------


class ContactRefused(Conflict):
    """A contact rule forbids asking this customer now (HTTP 409, naming the rule)."""

    def __init__(self, rule: str, message: str):
        super().__init__(message, code=rule)
        self.rule = rule


# The rules in the order they are reported; each message says why, for staff and the API.
RULE_MESSAGES = {
    "no_email": gettext_lazy("The customer has no email address."),
    "no_consent": gettext_lazy("The customer has not agreed to surveys."),
    "unsubscribed": gettext_lazy("The customer's address unsubscribed from surveys and offers."),
    "recent_survey": gettext_lazy("The customer was sent a survey in the last %(days)d days."),
    "already_scheduled": gettext_lazy("A survey invitation to the customer is already waiting to be sent."),
    "open_complaint": gettext_lazy("The customer has an open complaint."),
    "recent_complaint": gettext_lazy("The customer complained in the last %(days)d days."),
}


def rule_message(rule: str) -> str:
    days = settings.SURVEY_COMPLAINT_QUIET_DAYS if rule == "recent_complaint" else settings.SURVEY_FATIGUE_DAYS
    return str(RULE_MESSAGES[rule]) % {"days": days}


def _rules(
    *, now: datetime, prefix: str, customer, about_ticket, asking_again: bool, scheduling: bool
) -> dict[str, object]:
    """Each contact rule as a condition that is true when it blocks, written against a
    query whose rows reach the customer's fields through `prefix` ("" on customers,
    "customer__" on invitations) and its id through `customer` (an OuterRef's name).

    `about_ticket` (an expression) is a ticket the survey is about: the CSAT after a
    complaint is not held back by that same complaint. `asking_again` (the re-survey
    after a recovery ticket) is exempt from the recent-survey rule: asking again is the
    point. `scheduling` adds the rule against a second pending invitation.
    """
    quiet_since = now - timedelta(days=settings.SURVEY_COMPLAINT_QUIET_DAYS)
    complaints = Ticket.objects.filter(customer=OuterRef(customer), kind=TicketKind.COMPLAINT).exclude(
        pk=Coalesce(about_ticket, Value(0))
    )
    rules = {
        "no_email": Q(**{f"{prefix}email__isnull": True}),
        "no_consent": Q(**{f"{prefix}survey_consent": False}),
        "unsubscribed": Exists(Unsubscribe.objects.filter(email=Lower(OuterRef(f"{prefix}email")))),
    }
    if not asking_again:
        since = now - timedelta(days=settings.SURVEY_FATIGUE_DAYS)
        rules["recent_survey"] = Exists(
            SurveyInvitation.objects.filter(customer=OuterRef(customer), sent_at__gte=since)
        )
        if scheduling:
            rules["already_scheduled"] = Exists(
                SurveyInvitation.objects.filter(customer=OuterRef(customer), status=InvitationStatus.SCHEDULED)
            )
    rules["open_complaint"] = Exists(complaints.filter(status__in=ACTIVE_STATUSES))
    rules["recent_complaint"] = Exists(
        complaints.filter(Q(created_at__gte=quiet_since) | Q(resolved_at__gte=quiet_since))
    )
    return rules


def _customer_rules(*, now: datetime, about_ticket_id: int | None = None, asking_again=False, scheduling=True):
    """The rules written against the customers table itself."""
    return _rules(
        now=now,
        prefix="",
        customer="pk",
        about_ticket=Value(about_ticket_id or 0),
        asking_again=asking_again,
        scheduling=scheduling,
    )


def _flags(rules: dict[str, object]) -> dict[str, ExpressionWrapper]:
    """Each rule as a boolean annotation `rule_<name>`, to read them all in one query."""
    return {f"rule_{name}": ExpressionWrapper(rule, output_field=BooleanField()) for name, rule in rules.items()}


def contact_refusal(
    customer: Customer,
    *,
    now: datetime,
    about_ticket_id: int | None = None,
    asking_again: bool = False,
    scheduling: bool = True,
) -> ContactRefused | None:
    """The first contact rule that forbids asking this customer now, or None. One query."""
    rules = _flags(
        _customer_rules(now=now, about_ticket_id=about_ticket_id, asking_again=asking_again, scheduling=scheduling)
    )
    flags = Customer.objects.filter(pk=customer.pk).annotate(**rules).values(*rules).first()
    if flags is None:
        return ContactRefused("no_email", rule_message("no_email"))
    for flag in rules:
        if flags[flag]:
            name = flag.removeprefix("rule_")
            return ContactRefused(name, rule_message(name))
    return None


def contactable_customers(*, now: datetime):
    """Customers every contact rule lets us ask now (set-based: the periodic selection
    and campaigns start from this)."""
    queryset = Customer.objects.all()
    for rule in _customer_rules(now=now).values():
        queryset = queryset.filter(~rule)
    return queryset


# --- Invitations -----------------------------------------------------------------------


def _require_active(survey: Survey) -> None:
    if not survey.active:
        raise Conflict(_("The survey “%(survey)s” is switched off.") % {"survey": survey.name})


def survey_invite(
    *,
    survey: Survey,
    customer: Customer,
    source: str,
    send_at: datetime | None = None,
    ticket=None,
    order: Order | None = None,
    recovery_of: SurveyResponse | None = None,
    key: str | None = None,
    by_email: bool = True,
    now: datetime | None = None,
) -> SurveyInvitation:
    """Invite the customer to answer the survey: at once (the email is written in this
    transaction), or at `send_at` (the sweep sends it then, checking the rules again).
    Without `by_email` (a survey shown on the shop's own page) no email is written.

    Raises ContactRefused when a contact rule forbids it. A `key` that was used already
    returns that invitation: the same cause never invites twice.
    """
    now = now or timezone.now()
    _require_active(survey)
    with transaction.atomic():
        # One invitation decision per customer at a time: two requests at once cannot
        # both find no recent survey and both invite.
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        if key:
            existing = SurveyInvitation.objects.filter(key=key).first()
            if existing is not None:
                return existing
        refusal = contact_refusal(
            customer,
            now=now,
            about_ticket_id=ticket.pk if ticket is not None else None,
            asking_again=recovery_of is not None,
        )
        if refusal is not None:
            raise refusal
        invitation = SurveyInvitation.objects.create(
            survey=survey,
            customer=customer,
            source=source,
            ticket=ticket,
            order=order,
            recovery_of=recovery_of,
            key=key,
            language=customer.locale,
            status=InvitationStatus.SCHEDULED,
            send_at=send_at or now,
            created_at=now,
        )
        if invitation.send_at <= now:
            invitation.customer = customer
            invitation.survey = survey
            _send([invitation], now, by_email=by_email)
    return invitation


def _send(invitations: list[SurveyInvitation], now: datetime, *, by_email: bool = True) -> None:
    """Mark the invitations sent and write their emails (one INSERT for all)."""
    messages = []
    for invitation in invitations:
        invitation.status = InvitationStatus.SENT
        invitation.sent_at = now
        invitation.send_at = None
        invitation.expires_at = now + timedelta(days=invitation.survey.link_days)
        if not by_email:
            continue
        messages.append(
            email(
                kind=INVITATION_KIND,
                to_email=invitation.customer.email,
                language=invitation.language,
                key=f"survey:{invitation.pk}:invitation",
                context={"invitation": invitation.pk},
                customer=invitation.customer,
                ticket=invitation.ticket,
            )
        )
    SurveyInvitation.objects.bulk_update(invitations, ["status", "sent_at", "send_at", "expires_at"])
    emails_write(messages)


def survey_invitation_sweep(*, now: datetime | None = None, batch: int = 500) -> int:
    """Send the scheduled invitations that are due (beat, every minute): claimed with
    SKIP LOCKED, the contact rules checked again for the whole batch in the same query
    (a complaint may have come in since), sent or marked not sent in one transaction.
    Returns how many were handled."""
    now = now or timezone.now()
    rules = _rules(
        now=now,
        prefix="customer__",
        customer="customer_id",
        about_ticket=OuterRef("ticket_id"),
        asking_again=False,
        scheduling=False,
    )
    recovery_exempt = {"recent_survey"}
    with transaction.atomic():
        due = list(
            SurveyInvitation.objects.due(now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("customer", "survey")
            .annotate(**_flags(rules))
            .order_by("send_at")[:batch]
        )
        to_send, skipped = [], []
        for invitation in due:
            broken = [
                name
                for name in rules
                if getattr(invitation, f"rule_{name}") and not (invitation.recovery_of_id and name in recovery_exempt)
            ]
            if broken or not invitation.survey.active:
                invitation.status = InvitationStatus.SKIPPED
                invitation.send_at = None
                invitation.skip_reason = (rule_message(broken[0]) if broken else _("The survey is switched off."))[:200]
                skipped.append(invitation)
            else:
                to_send.append(invitation)
        if skipped:
            SurveyInvitation.objects.bulk_update(skipped, ["status", "send_at", "skip_reason"])
        if to_send:
            _send(to_send, now)
    return len(due)


def next_send_moment(now: datetime, zone: str, customer_id: int) -> datetime:
    """The weekday morning an invitation scheduled now goes out: today if the morning has
    not begun in the customer's time zone and today is a weekday, else the next weekday;
    spread over SURVEY_SEND_HOURS by the customer's id so that not everybody is mailed
    at 9:00. (SCHEDULE_SQL computes the same in PostgreSQL.)"""
    first_hour, last_hour = settings.SURVEY_SEND_HOURS
    local = timezone.localtime(now, ZoneInfo(zone))
    day = local.date() if local.hour < first_hour else local.date() + timedelta(days=1)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    minutes = (customer_id * 7919) % ((last_hour - first_hour) * 60)
    # Wall-clock minutes after the first hour, in the customer's zone, then the instant.
    wall = datetime.combine(day, time(first_hour)) + timedelta(minutes=minutes)
    return wall.replace(tzinfo=ZoneInfo(zone)).astimezone(ZoneInfo("UTC"))


def _due_for_periodic(trigger: SurveyTrigger, now: datetime, *, since: datetime | None = None):
    """Customers due for the trigger's survey now (a queryset; contact rules included).

    With `since`, only customers whose due moment may have come since then are looked
    at (see `_candidates`), so an hourly run reads what changed, not every customer."""
    recent = now - timedelta(days=trigger.every_days)
    active_since = now - timedelta(days=settings.RETENTION_WINDOW_DAYS)
    counted = Order.objects.counted().filter(customer=OuterRef("pk"))
    queryset = contactable_customers(now=now).filter(
        Exists(counted.filter(placed_at__gte=active_since)),
        ~Exists(
            SurveyInvitation.objects.filter(
                customer=OuterRef("pk"), survey__kind=trigger.survey.kind, created_at__gte=recent
            ).exclude(status=InvitationStatus.SKIPPED)
        ),
    )
    if since is not None:
        queryset = queryset.filter(_candidates(trigger, now, since))
    if trigger.kind == TriggerKind.NPS_PERIODIC:
        first_paid_before = now - timedelta(days=trigger.first_after_days)
        return queryset.filter(
            Exists(
                Order.objects.filter(
                    customer=OuterRef("pk"), status__in=PAID_STATUSES, placed_at__lte=first_paid_before
                )
            )
        )
    # Repeat customers: a counted order besides their first one.
    first = (
        Order.objects.counted().filter(customer=OuterRef(OuterRef("pk"))).order_by("placed_at", "pk").values("pk")[:1]
    )
    return queryset.filter(Exists(counted.exclude(pk=Subquery(first))))


def _candidates(trigger: SurveyTrigger, now: datetime, since: datetime) -> Q:
    """The customers whose due moment may lie in [since, now): the survey's interval
    ran out for them (their last invitation of this kind is that old), their first paid
    order became old enough, or they ordered (a customer who came back, or became a
    repeat customer). Three index range scans, read first as a list of ids: given the
    union as a subquery (or an OR of the three), the planner still reads every customer
    before it, and runs without parallel workers inside the INSERT."""
    every = timedelta(days=trigger.every_days)
    kind_surveys = Survey.objects.filter(kind=trigger.survey.kind).values("pk")
    interval_ran_out = SurveyInvitation.objects.filter(
        survey__in=kind_surveys, created_at__gte=since - every, created_at__lt=now - every
    ).values("customer_id")
    ordered = Order.objects.counted().filter(placed_at__gte=since, placed_at__lt=now).values("customer_id")
    sets = [interval_ran_out, ordered]
    if trigger.kind == TriggerKind.NPS_PERIODIC:
        old_enough = timedelta(days=trigger.first_after_days)
        sets.append(
            Order.objects.filter(
                status__in=PAID_STATUSES, placed_at__gte=since - old_enough, placed_at__lt=now - old_enough
            ).values("customer_id")
        )
    return Q(pk__in=list(sets[0].union(*sets[1:]).values_list("customer_id", flat=True)))


ANALYZE_AFTER_ROWS = 10_000

SCHEDULE_SQL = """
INSERT INTO {table} (survey_id, customer_id, campaign_id, source, key, token_salt, language, status,
                     skip_reason, send_at, created_at)
SELECT %(survey)s, due.id, %(campaign)s, %(source)s, %(prefix)s || due.id || %(suffix)s,
       md5(gen_random_uuid()::text || gen_random_uuid()::text), due.locale, 'scheduled', '',
       CASE WHEN %(morning)s THEN
           ((morning.day + make_interval(hours => %(first_hour)s,
                                         mins => ((due.id * 7919) %% %(span)s)::int))::timestamp
            AT TIME ZONE due.time_zone)
       ELSE %(now)s END,
       %(now)s
FROM ({due}) AS due
CROSS JOIN LATERAL (
    SELECT (CASE WHEN extract(hour FROM local_now) < %(first_hour)s THEN local_now::date
                 ELSE local_now::date + 1 END) AS candidate
    FROM (SELECT (%(now)s AT TIME ZONE due.time_zone) AS local_now) AS clock
) AS today
CROSS JOIN LATERAL (
    SELECT today.candidate + CASE extract(isodow FROM today.candidate)
                                 WHEN 6 THEN 2 WHEN 7 THEN 1 ELSE 0 END AS day
) AS morning
ON CONFLICT (key) DO NOTHING
"""


def _schedule_invitations(
    due,
    *,
    survey: Survey,
    source: str,
    key: tuple[str, str],
    now: datetime,
    morning: bool,
    campaign_id: int | None = None,
) -> int:
    """Insert a scheduled invitation for every customer of `due` (a customer queryset),
    keyed `key[0] + <customer id> + key[1]` so that a second run adds nobody twice;
    sent at `now`, or on the customer's next weekday morning. One INSERT … SELECT on
    PostgreSQL; elsewhere (SQLite under `make run`) rows from Python. Returns how many."""
    rows = due.values("id", "locale", "time_zone")
    prefix, suffix = key
    if connection.vendor != "postgresql":
        invitations = [
            SurveyInvitation(
                survey_id=survey.pk,
                customer_id=row["id"],
                campaign_id=campaign_id,
                source=source,
                key=f"{prefix}{row['id']}{suffix}",
                language=row["locale"],
                status=InvitationStatus.SCHEDULED,
                send_at=next_send_moment(now, row["time_zone"], row["id"]) if morning else now,
                created_at=now,
            )
            for row in rows.iterator(chunk_size=2000)
        ]
        return len(SurveyInvitation.objects.bulk_create(invitations, ignore_conflicts=True, batch_size=1000))
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:  # nobody can be due (no candidates this hour)
        return 0
    first_hour, last_hour = settings.SURVEY_SEND_HOURS
    named = {
        "survey": survey.pk,
        "campaign": campaign_id,
        "source": source,
        "prefix": prefix,
        "suffix": suffix,
        "now": now,
        "morning": morning,
        "first_hour": first_hour,
        "span": (last_hour - first_hour) * 60,
    }
    # The inner query's %s placeholders become named ones, for one call.
    named.update({f"p{index}": value for index, value in enumerate(params)})
    inner = sql.replace("%s", "%({})s").format(*(f"p{index}" for index in range(len(params))))
    with connection.cursor() as cursor:
        cursor.execute(SCHEDULE_SQL.format(table=SurveyInvitation._meta.db_table, due=inner), named)
        made = cursor.rowcount
        if made > ANALYZE_AFTER_ROWS:
            # A first run can add hundreds of thousands of scheduled invitations; until
            # autovacuum notices, the planner believes there are none and the next runs
            # read all of them instead of probing per customer.
            cursor.execute(f"ANALYZE {SurveyInvitation._meta.db_table}")
        return made


def surveys_schedule(*, now: datetime | None = None) -> int:
    """Choose who gets the periodic NPS and CLI invitations (beat, hourly; the sweep
    sends each on its weekday morning). Set-based: one INSERT … SELECT per trigger on
    PostgreSQL; idempotent by a key per customer and day. Returns how many were made.

    A run looks at the customers whose due moment may have come since the trigger's
    last run, less SURVEY_SCHEDULE_CATCHUP_DAYS (so someone held back by a contact rule
    a few days ago is looked at again); the first run, or one after beat was down
    longer than that, looks at every customer."""
    now = now or timezone.now()
    made = 0
    triggers = SurveyTrigger.objects.filter(
        enabled=True, kind__in=(TriggerKind.NPS_PERIODIC, TriggerKind.CLI_REPEAT), survey__active=True
    ).select_related("survey")
    for trigger in triggers:
        source = (
            InvitationSource.NPS_PERIODIC if trigger.kind == TriggerKind.NPS_PERIODIC else InvitationSource.CLI_REPEAT
        )
        catch_up = timedelta(days=settings.SURVEY_SCHEDULE_CATCHUP_DAYS)
        since = None
        if trigger.last_run_at is not None and trigger.last_run_at > now - catch_up:
            since = trigger.last_run_at - catch_up
        with transaction.atomic():
            SurveyTrigger.objects.filter(pk=trigger.pk).update(last_run_at=now)
            made += _schedule_invitations(
                _due_for_periodic(trigger, now, since=since),
                survey=trigger.survey,
                source=source,
                key=(f"{trigger.survey.kind}:", f":{timezone.localdate(now).isoformat()}"),
                now=now,
                morning=True,
            )
    return made


# --- Campaigns ------------------------------------------------------------------------


def campaign_audience(customers, *, now: datetime | None = None) -> dict:
    """How many of the chosen customers a campaign would invite, and how many each
    contact rule holds back (a customer held back by several counts under each): one
    aggregate query, for the manager to see before sending."""
    rules = _customer_rules(now=now or timezone.now())
    allowed = Q()
    for rule in rules.values():
        allowed &= ~Q(rule)
    counts = Customer.objects.filter(pk__in=customers.values("pk")).aggregate(
        selected=Count("pk"),
        invited=Count("pk", filter=allowed),
        **{name: Count("pk", filter=Q(rule)) for name, rule in rules.items()},
    )
    return {
        "selected": counts.pop("selected"),
        "invited": counts.pop("invited"),
        "held_back": [(rule_message(name), count) for name, count in counts.items() if count],
    }


def survey_campaign_send(
    *, survey: Survey, customers, name: str, author=None, morning: bool = False, now: datetime | None = None
) -> SurveyCampaign:
    """Invite the chosen customers whom the contact rules allow: now (the sweep sends
    them within a minute) or on each one's next weekday morning. Set-based; the sweep
    checks the rules again when each falls due."""
    now = now or timezone.now()
    _require_active(survey)
    with transaction.atomic():
        campaign = SurveyCampaign.objects.create(
            name=name[:200], survey=survey, created_by=author, created_at=now, selected=customers.count()
        )
        campaign.invited = _schedule_invitations(
            contactable_customers(now=now).filter(pk__in=customers.values("pk")),
            survey=survey,
            source=InvitationSource.CAMPAIGN,
            key=(f"campaign:{campaign.pk}:", ""),
            now=now,
            morning=morning,
            campaign_id=campaign.pk,
        )
        campaign.save(update_fields=["invited"])
    return campaign


def invitation_for_ticket_resolved(*, ticket, now: datetime) -> SurveyInvitation | None:
    """Called by ticket_resolve in its transaction: a recovery ticket's customer is asked
    the survey again (closing the loop); any other ticket's customer gets the CSAT
    survey after the trigger's delay, if managers switched it on. A contact rule that
    forbids it means no invitation, quietly: resolving never fails for it."""
    recovered = SurveyResponse.objects.filter(recovery_ticket=ticket).select_related("survey").first()
    trigger = SurveyTrigger.objects.filter(kind=TriggerKind.CSAT_AFTER_TICKET).select_related("survey").first()
    if recovered is not None:
        # Asked again after the CSAT's delay, whether or not the CSAT itself is on.
        delay = trigger.delay if trigger else timedelta(hours=1)
        survey, source, key = recovered.survey, InvitationSource.RECOVERY, f"recovery:{recovered.pk}"
    else:
        if trigger is None or not trigger.enabled:
            return None
        delay, survey, source, key = (
            trigger.delay,
            trigger.survey,
            InvitationSource.CSAT_AFTER_TICKET,
            f"csat:ticket:{ticket.pk}",
        )
    try:
        return survey_invite(
            survey=survey,
            customer=ticket.customer,
            source=source,
            send_at=now + delay,
            ticket=ticket,
            order=ticket.order,
            recovery_of=recovered,
            key=key,
            now=now,
        )
    except Conflict as refusal:
        logger.info("No survey after %s: %s", ticket.reference, " ".join(refusal.messages))
        return None


# --- Answering -------------------------------------------------------------------------


class LinkInvalid(Exception):
    """An unknown, forged, used or expired link: the customer sees one friendly page."""


def invitation_for_token(token: str, *, now: datetime) -> SurveyInvitation:
    """The invitation a link's token opens (with its survey and customer), or LinkInvalid."""
    invitation_id, mac = _parsed(token)
    invitation = SurveyInvitation.objects.select_related("survey", "customer").filter(pk=invitation_id).first()
    return _usable(invitation, mac, now=now)


def _parsed(token: str) -> tuple[int, str]:
    parsed = parse_token(token or "")
    if parsed is None:
        raise LinkInvalid
    return parsed


def _usable(
    invitation: SurveyInvitation | None, mac: str, *, now: datetime, answered_too: bool = False
) -> SurveyInvitation:
    if invitation is None or not hmac.compare_digest(mac, invitation_mac(invitation.pk, invitation.token_salt)):
        raise LinkInvalid
    usable = [InvitationStatus.SENT, InvitationStatus.OPENED]
    if answered_too:
        usable.append(InvitationStatus.ANSWERED)
    if invitation.status not in usable or invitation.is_expired(now):
        raise LinkInvalid
    return invitation


def _invitation_with_questions(
    token: str, *, now: datetime, answered_too: bool = False
) -> tuple[SurveyInvitation, list[Question]]:
    """`invitation_for_token` and the survey's questions, in one round trip; with
    `answered_too`, an answered invitation as well."""
    invitation_id, mac = _parsed(token)
    table = connection.ops.quote_name(SurveyInvitation._meta.db_table)
    survey_id = f"(SELECT survey_id FROM {table} WHERE id = %s)"
    customer_id = f"(SELECT customer_id FROM {table} WHERE id = %s)"
    invitations, surveys, customers, questions = rows_together(
        Rows(SurveyInvitation, "id = %s", [invitation_id]),
        Rows(Survey, f"id = {survey_id}", [invitation_id]),
        Rows(Customer, f"id = {customer_id}", [invitation_id]),
        Rows(Question, f"survey_id = {survey_id}", [invitation_id], order_by="position, id"),
    )
    invitation = _usable(next(iter(invitations), None), mac, now=now, answered_too=answered_too)
    invitation.survey, invitation.customer = surveys[0], customers[0]
    by_id = {question.pk: question for question in questions}
    for question in questions:
        question.survey = invitation.survey
        if question.show_if_question_id in by_id:
            question.show_if_question = by_id[question.show_if_question_id]
    return invitation, questions


def invitation_opened(invitation: SurveyInvitation, *, now: datetime) -> None:
    """Record that the link was opened (never an answer: mail scanners open links too)."""
    if invitation.status == InvitationStatus.SENT:
        SurveyInvitation.objects.filter(pk=invitation.pk, status=InvitationStatus.SENT).update(
            status=InvitationStatus.OPENED, opened_at=now
        )


def headline_score(kind: str, answers: dict) -> Decimal | None:
    """The survey kind's score of one response: NPS and CSAT the "score" answer, CLI the
    mean of its three answers (2 decimals); None for custom surveys."""
    if kind in (SurveyKind.NPS, SurveyKind.CSAT):
        value = answers.get("score")
        return Decimal(value) if value is not None else None
    if kind == SurveyKind.CLI:
        values = [answers.get(key) for key in CLI_KEYS]
        if any(value is None for value in values):
            return None
        return (Decimal(sum(values)) / 3).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return None


CLI_KEYS = tuple(SCORED_QUESTIONS[SurveyKind.CLI])


def is_unhappy(kind: str, score: Decimal | None) -> bool:
    """An NPS detractor (0–6), a CSAT of 1–2, a CLI below 3."""
    if score is None:
        return False
    return {SurveyKind.NPS: score <= 6, SurveyKind.CSAT: score <= 2, SurveyKind.CLI: score < 3}.get(kind, False)


def is_promoter(kind: str, score: Decimal | None) -> bool:
    return kind == SurveyKind.NPS and score is not None and score >= 9


def clean_answers(questions: list[Question], raw: dict) -> dict:
    """Check raw answers (strings, lists of strings) against the questions; return them
    typed (scales as int). Raises ValidationError with a message per question key.
    A question that does not apply (its condition unmet) is dropped."""
    errors: dict[str, list[str]] = {}
    answers: dict = {}
    for question in questions:
        if not question.shown_for(answers):
            continue
        value = raw.get(question.key)
        if question.type == QuestionType.MULTIPLE:
            values = (
                [str(item) for item in (value or [])]
                if isinstance(value, list | tuple)
                else ([str(value)] if value not in (None, "") else [])
            )
            unknown = [item for item in values if item not in question.choice_values()]
            if unknown:
                errors[question.key] = [_("Choose from the options given.")]
            elif values:
                answers[question.key] = values
            elif question.required:
                errors[question.key] = [_("Please answer this question.")]
            continue
        text = "" if value is None else str(value).strip()
        if not text:
            if question.required:
                errors[question.key] = [_("Please answer this question.")]
            continue
        if "\x00" in text:  # PostgreSQL refuses it in the answers' JSON: said here, not a 500
            errors[question.key] = [ProhibitNullCharactersValidator.message]
            continue
        if question.type == QuestionType.TEXT:
            limit = min(question.max_length, settings.SURVEY_TEXT_MAX)
            if len(text) > limit:
                errors[question.key] = [
                    _("Keep it under %(limit)d characters (it has %(length)d).") % {"limit": limit, "length": len(text)}
                ]
            else:
                answers[question.key] = text
        elif text not in question.choice_values():
            if question.type == QuestionType.SCALE:
                errors[question.key] = [
                    _("Choose a number from %(low)d to %(high)d.")
                    % {"low": question.scale_min, "high": question.scale_max}
                ]
            else:
                errors[question.key] = [_("Choose from the options given.")]
        else:
            answers[question.key] = int(text) if question.type == QuestionType.SCALE else text
    if errors:
        raise ValidationError(errors)
    return answers


@dataclass(frozen=True)
class Submitted:
    response: SurveyResponse
    promoter_link: str


def survey_response_submit(*, token: str, answers: dict, language: str = "", now: datetime | None = None) -> Submitted:
    """The customer's answer, stored once. Counts it in the month's scores and, for an
    unhappy one, opens a recovery ticket (kind feedback, priority high; the customer gets
    the usual acknowledgment) with the answer in it. Raises ValidationError for answers
    that do not fit the questions, its messages in `language` (the one the customer
    chose), else in the invitation's; LinkInvalid for a link that is not (or no longer)
    open.

    The invitation is read without a lock: the write that stores the answer takes the
    invitation only while it is still open (sent or opened), so of two submissions at
    once the second finds it answered. A happy answer is then that one statement, a
    transaction on its own; an unhappy one is stored in a transaction with its ticket.

    The same answers sent again (a double click on "Send", a retry after a slow answer,
    even at the same moment) return the stored response instead of LinkInvalid: the
    customer sees the thanks page, not "this link does not work". Other answers to an
    answered invitation are refused as before."""
    now = now or timezone.now()
    invitation, questions = _invitation_with_questions(token, now=now, answered_too=True)
    survey = invitation.survey
    language = language or invitation.language
    with translation.override(language):
        cleaned = clean_answers(questions, answers)
    if invitation.status == InvitationStatus.ANSWERED:
        return _the_same_answer_again(invitation, cleaned)
    score = headline_score(survey.kind, cleaned)
    response = SurveyResponse(
        invitation=invitation,
        survey=survey,
        customer=invitation.customer,
        ticket_id=invitation.ticket_id,
        order_id=invitation.order_id,
        score=score,
        answers=cleaned,
        language=language,
        unhappy=is_unhappy(survey.kind, score),
        submitted_at=now,
    )
    try:
        if not response.unhappy:
            _response_store(response, now=now, count_in_month=True)
        else:
            with transaction.atomic():
                _response_store(response, now=now, count_in_month=False)
                response.recovery_ticket = _open_recovery_ticket(response, questions, now)
                response.save(update_fields=["recovery_ticket"])
                # Last in the transaction: the month's row lock is held only until the commit.
                _count_in_month(survey.kind, score, now)
    except LinkInvalid:
        # Answered (or expired) since it was read: by this same submission sent twice at once?
        return _the_same_answer_again(invitation, cleaned)
    link = survey.promoter_link if is_promoter(survey.kind, score) else ""
    return Submitted(response=response, promoter_link=link)


def _the_same_answer_again(invitation: SurveyInvitation, cleaned: dict) -> Submitted:
    """The stored response when these are its answers; else LinkInvalid (a second,
    different submission is refused)."""
    stored = SurveyResponse.objects.filter(invitation_id=invitation.pk).select_related("survey").first()
    if stored is None or stored.answers != cleaned:
        raise LinkInvalid
    link = stored.survey.promoter_link if is_promoter(stored.survey.kind, stored.score) else ""
    return Submitted(response=stored, promoter_link=link)


def _open_recovery_ticket(response: SurveyResponse, questions: list[Question], now: datetime):
    from ..services import ticket_open  # the ticket services import this module: imported when used

    survey = response.survey
    lines = [
        _("An unhappy answer to the survey “%(survey)s” (score %(score)s).")
        % {"survey": survey.name, "score": score_text(response.score)},
        "",
    ]
    for question in questions:
        if question.key in response.answers:
            value = response.answers[question.key]
            shown = ", ".join(value) if isinstance(value, list) else str(value)
            lines.append(f"{question.text_in('en') or question.key}: {shown}")
    if response.ticket_id:
        lines += ["", _("About ticket %(reference)s.") % {"reference": Ticket(pk=response.ticket_id).reference}]
    return ticket_open(
        customer=response.customer,
        description="\n".join(lines),
        subject=_("Unhappy survey answer: %(survey)s") % {"survey": survey.name},
        kind=TicketKind.FEEDBACK,
        channel=TicketChannel.WEB_FORM,
        priority=Priority.HIGH,
        language=response.language,
        now=now,
    )


def score_text(score: Decimal | None) -> str:
    """A score as people write it: 9, 3.67, 3.5 (not 9.00, nor Decimal's 1E+1 for 10)."""
    if score is None:
        return "—"
    if score == score.to_integral_value():
        return str(int(score))
    return f"{score.normalize():f}"


def _response_store(response: SurveyResponse, *, now: datetime, count_in_month: bool) -> None:
    """Take the invitation if it is still open (sent or opened, not expired), marking it
    answered; store the response and, if asked, count it in its month's row. All or
    nothing: on PostgreSQL one statement (a data-modifying WITH, each part conditional on
    the invitation taken; a submission is one of the busiest writes), elsewhere in a
    transaction. LinkInvalid (nothing written) when the invitation is no longer open: a
    second submission, or the link expired meanwhile."""
    open_statuses = [InvitationStatus.SENT, InvitationStatus.OPENED]
    if connection.vendor != "postgresql":
        with transaction.atomic():
            taken = (
                SurveyInvitation.objects.filter(pk=response.invitation_id, status__in=open_statuses)
                .exclude(expires_at__lte=now)
                .update(status=InvitationStatus.ANSWERED, answered_at=now)
            )
            if not taken:
                raise LinkInvalid
            response.save(force_insert=True)
            if count_in_month:
                _count_in_month(response.survey.kind, response.score, now)
        return
    table = connection.ops.quote_name(SurveyInvitation._meta.db_table)
    insert, params = insert_unless_taken_sql(response, "invitation", when="EXISTS (SELECT 1 FROM taken)")
    sql = (
        f"WITH taken AS (UPDATE {table} SET status = %s, answered_at = %s"
        "  WHERE id = %s AND status = ANY(%s) AND (expires_at IS NULL OR expires_at > %s) RETURNING id),"
        f" response AS ({insert})"
    )
    params = [InvitationStatus.ANSWERED, now, response.invitation_id, open_statuses, now, *params]
    if count_in_month:
        month_sql, month_params = _month_count_sql(
            response.survey.kind, response.score, now, when="EXISTS (SELECT 1 FROM response)"
        )
        sql += f", month AS ({month_sql})"
        params += month_params
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} SELECT id FROM response", params)
        if not mark_inserted(response, cursor.fetchone()):
            raise LinkInvalid  # no longer open: nothing was written


def _count_in_month(kind: str, score: Decimal | None, now: datetime) -> None:
    """Add one response to its month's row (last in the transaction: the row lock is held
    only until the commit that follows)."""
    with connection.cursor() as cursor:
        cursor.execute(*_month_count_sql(kind, score, now))


def _month_count_sql(kind: str, score: Decimal | None, now: datetime, *, when: str = "") -> tuple[str, list]:
    """The month's row counted (an upsert); with `when`, only if that condition holds."""
    month = timezone.localdate(now).replace(day=1)
    values = [
        kind,
        month,
        1,
        int(score is not None),
        score or 0,
        int(is_promoter(kind, score)),
        int(kind == SurveyKind.NPS and is_unhappy(kind, score)),  # a detractor
        int(kind == SurveyKind.CSAT and score is not None and score >= 4),
    ]
    table = SurveyMonth._meta.db_table
    return (
        f"INSERT INTO {table} (kind, month, responses, scored, score_sum, promoters, detractors, satisfied)"
        + row_source(len(values), when=when)
        + " ON CONFLICT (kind, month) DO UPDATE SET"
        f" responses = {table}.responses + excluded.responses,"
        f" scored = {table}.scored + excluded.scored,"
        f" score_sum = {table}.score_sum + excluded.score_sum,"
        f" promoters = {table}.promoters + excluded.promoters,"
        f" detractors = {table}.detractors + excluded.detractors,"
        f" satisfied = {table}.satisfied + excluded.satisfied",
        values,
    )


def survey_months_rebuild() -> int:
    """Recompute the monthly rows from the responses (after changing TIME_ZONE)."""

    with transaction.atomic():
        SurveyMonth.objects.all().delete()
        rows = month_rows_from_responses()
        SurveyMonth.objects.bulk_create(rows)
    return len(rows)


# --- On the shop's own pages ----------------------------------------------------------------

EMBED_SALT = "feedback.survey.embed"


def embed_token_issue(*, survey: Survey, customer: Customer, now: datetime | None = None) -> str:
    """A signed token, valid SURVEY_EMBED_TOKEN_SECONDS, that opens `survey` for
    `customer` in an iframe on the shop's page (the shop's server asks the API for it
    and puts it in the script tag). The contact rules are checked now (a refusal is
    ContactRefused) and again when the survey is shown."""
    now = now or timezone.now()
    _require_active(survey)
    refusal = contact_refusal(customer, now=now)
    if refusal is not None:
        raise refusal
    return signing.dumps({"s": survey.pk, "c": customer.pk}, salt=EMBED_SALT)


def invitation_for_embed(token: str, *, now: datetime | None = None) -> SurveyInvitation:
    """The invitation an embed token opens: made (without an email) the first time the
    shop's page shows it, the same one on a reload. LinkInvalid for a forged or expired
    token; ContactRefused when a rule forbids asking now."""
    try:
        payload = signing.loads(token, salt=EMBED_SALT, max_age=settings.SURVEY_EMBED_TOKEN_SECONDS)
        survey = Survey.objects.get(pk=payload["s"])
        customer = Customer.objects.get(pk=payload["c"])
    except (signing.BadSignature, KeyError, TypeError, Survey.DoesNotExist, Customer.DoesNotExist) as exc:
        raise LinkInvalid from exc
    key = "embed:" + hashlib.sha256(token.encode()).hexdigest()[:40]
    existing = SurveyInvitation.objects.filter(key=key).first()
    if existing is not None:
        return existing
    try:
        return survey_invite(
            survey=survey, customer=customer, source=InvitationSource.EMBED, key=key, by_email=False, now=now
        )
    except ContactRefused as refusal:
        refusal.language = customer.locale  # the page that says so speaks the customer's language
        raise


# --- Unsubscribing ----------------------------------------------------------------------


def unsubscribe(*, email_address: str, now: datetime | None = None) -> bool:
    """No more surveys or offers to this address; pending ones are cancelled. True when
    it is new. Idempotent: a second press changes nothing."""
    address = email_address.strip().lower()
    with transaction.atomic():
        _row, created = Unsubscribe.objects.get_or_create(email=address, defaults={"created_at": now or timezone.now()})
        Message.objects.filter(to_email=address, kind__in=OPTIONAL_KINDS, delivery=Delivery.PENDING).update(
            delivery=Delivery.CANCELLED, next_attempt_at=None, last_error="the address unsubscribed"
        )
        SurveyInvitation.objects.filter(
            customer__in=Customer.objects.with_email(address), status=InvitationStatus.SCHEDULED
        ).update(status=InvitationStatus.SKIPPED, send_at=None, skip_reason=rule_message("unsubscribed")[:200])
    return created


# Emails a customer may say no to (surveys now; offers and win-back campaigns later).
OPTIONAL_KINDS = (INVITATION_KIND,)


def survey_data_erase(*, customer_id: int, now: datetime) -> None:
    """The customer's personal data is being erased (customers.services.customer_erase):
    invitations waiting to go are not sent, the links already sent stop working (a new
    salt: no MAC made before verifies), and free-text answers go. Scores and choices
    stay: they say nothing about who answered, and the survey figures are made of them."""
    SurveyInvitation.objects.filter(customer_id=customer_id, status=InvitationStatus.SCHEDULED).update(
        status=InvitationStatus.SKIPPED, send_at=None, skip_reason=rule_message("no_email")[:200]
    )
    invitations = list(SurveyInvitation.objects.filter(customer_id=customer_id).only("pk", "status", "expires_at"))
    for invitation in invitations:
        invitation.token_salt = new_token_salt()
        if invitation.status != InvitationStatus.ANSWERED:
            invitation.expires_at = now
    SurveyInvitation.objects.bulk_update(invitations, ["token_salt", "expires_at"])
    responses = list(SurveyResponse.objects.filter(customer_id=customer_id).only("pk", "survey_id", "answers"))
    free_text = {}
    for survey_id, key in Question.objects.filter(
        survey_id__in={response.survey_id for response in responses}, type=QuestionType.TEXT
    ).values_list("survey_id", "key"):
        free_text.setdefault(survey_id, set()).add(key)
    for response in responses:
        keys = free_text.get(response.survey_id, set())
        response.answers = {key: value for key, value in response.answers.items() if key not in keys}
    SurveyResponse.objects.bulk_update(responses, ["answers"])
