"""Tickets (complaints, questions, feedback, requests) with SLA deadlines; the policies
and business calendars that set those deadlines; reminders staff schedule.

Facts about one row live here. Everything that changes a ticket is a service in
feedback/services/ (the admin, the API, the public pages, inbound email and the sweep
all call those); SLA arithmetic is feedback/business_time.py.

Deadlines are columns with partial indexes (DESIGN.md, mechanism 1): `sla_due_at` (the
next warning or breach the sweep must act on), `close_at` (a resolved ticket closes
itself), `Reminder.remind_at`. The sweep claims due rows with SKIP LOCKED and moves or
clears the deadline in the same transaction.
"""

import re
from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Order, validate_time_zone

from . import business_time

# --- Teams and calendars -----------------------------------------------------------


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    email = models.EmailField(
        _("team email"), blank=True, help_text=_("Warnings about the team's unassigned tickets go here.")
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="support_teams", verbose_name=_("members")
    )

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BusinessCalendar(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC", validators=[validate_time_zone])
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def as_calendar(self) -> business_time.Calendar:
        """The calendar for SLA arithmetic (cached per process until the calendar changes)."""
        key = (self.pk, self.updated_at)
        cached = _CALENDARS.get(key)
        if cached is None:
            hours: dict[int, list[tuple[time, time | None]]] = {}
            for row in self.hours.all():
                # 00:00 as a closing time means midnight at the end of the day.
                closes = None if row.closes == time(0) else row.closes
                hours.setdefault(row.weekday, []).append((row.opens, closes))
            cached = business_time.Calendar.build(
                self.time_zone, hours, frozenset(self.holidays.values_list("date", flat=True))
            )
            if len(_CALENDARS) > 100:  # old versions of edited calendars
                _CALENDARS.clear()
            _CALENDARS[key] = cached
        return cached


_CALENDARS: dict[tuple, business_time.Calendar] = {}


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class BusinessHours(models.Model):
    """One opening interval; a split shift is two rows for the same weekday."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"), help_text=_("00:00 means midnight at the end of the day."))

    class Meta:
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        ordering = ["weekday", "opens"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closes__gt=F("opens")) | Q(closes=time(0)), name="businesshours_closes_after_opens"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"

    def clean(self) -> None:
        if self.opens is not None and self.closes is not None and self.closes != time(0) and self.closes <= self.opens:
            raise ValidationError({"closes": _("Closing time must be after opening time (00:00 for midnight).")})


class Holiday(models.Model):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="holiday_unique_per_calendar")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


# --- Tickets ------------------------------------------------------------------------


class TicketKind(models.TextChoices):
    COMPLAINT = "complaint", _("Complaint")
    QUESTION = "question", _("Question")
    FEEDBACK = "feedback", _("Feedback")
    REQUEST = "request", _("Request")


class TicketChannel(models.TextChoices):
    WEB_FORM = "web", _("Web form")
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    CHAT = "chat", _("Chat")
    SOCIAL = "social", _("Social media")
    API = "api", _("API")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class TicketStatus(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    WAITING = "waiting", _("Waiting on customer")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


ACTIVE_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.WAITING)


# The longest time a policy may give (each of its four times). Deadlines are worked out
# from it for every ticket; a typo of a few more digits would put them past the year
# 9999 and make opening any ticket fail.
SLA_MAX_DURATION = timedelta(days=365)


class SlaPolicy(models.Model):
    """How fast tickets of some kind and priority are answered and resolved.

    Policies are tried in `position` order and the first that matches wins; the default
    policy (there is always exactly one) matches whatever no other policy does.
    """

    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(_("position"), default=100, help_text=_("Lower is tried first."))
    kind = models.CharField(
        _("ticket kind"), max_length=10, choices=TicketKind.choices, blank=True, help_text=_("Empty: any kind.")
    )
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, blank=True, help_text=_("Empty: any priority.")
    )
    is_default = models.BooleanField(_("default policy"), default=False, editable=False)
    answer_within = models.DurationField(
        _("answer within"), default=timedelta(hours=1), help_text=_("Until the first reply from a person.")
    )
    resolve_within = models.DurationField(_("resolve within"), default=timedelta(days=3))
    follow_up_every = models.DurationField(
        _("follow up every"),
        default=timedelta(days=1),
        help_text=_("After a missed resolution deadline: the customer gets a new date this much later."),
    )
    warn_before = models.DurationField(
        _("warn before"),
        default=timedelta(hours=1),
        help_text=_("The assignee is warned this long before a deadline; 0 for no warning."),
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="policies",
        verbose_name=_("business calendar"),
        help_text=_("With a calendar, the times above count business hours only (8 h is one day of 9–17)."),
    )

    tier = models.ForeignKey(
        "loyalty.Tier",
        on_delete=models.PROTECT,  # deleting the tier must not quietly widen the policy to everyone
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("loyalty tier"),
        help_text=_("Only for customers in this tier or a higher one (e.g. faster answers for Gold)."),
    )

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["is_default", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="slapolicy_one_default"),
            models.CheckConstraint(
                condition=Q(answer_within__gt=timedelta(0))
                & Q(resolve_within__gt=timedelta(0))
                & Q(follow_up_every__gt=timedelta(0))
                & Q(warn_before__gte=timedelta(0)),
                name="slapolicy_durations_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        for name in ("answer_within", "resolve_within", "follow_up_every", "warn_before"):
            value = getattr(self, name)
            if value is None:
                continue
            if name != "warn_before" and value <= timedelta(0):
                errors[name] = _("Must be longer than zero.")
            elif value < timedelta(0):
                errors[name] = _("Cannot be negative.")
            elif value > SLA_MAX_DURATION:
                errors[name] = _("At most %(days)d days.") % {"days": SLA_MAX_DURATION.days}
        if not errors and self.calendar_id:
            errors = self._calendar_errors()
        if errors:
            raise ValidationError(errors)

    def _calendar_errors(self) -> dict:
        """Every ticket of the policy is timed by its calendar: one without opening hours,
        or with less working time in ten years than a duration asks for, would make
        opening any such ticket fail."""
        calendar = self.calendar.as_calendar()
        if not calendar.has_hours:
            return {"calendar": _("This calendar has no opening hours yet; add them first.")}
        now = timezone.now()
        try:
            for duration in (self.answer_within, self.resolve_within, self.follow_up_every):
                business_time.add(now, duration, calendar)
            business_time.subtract(business_time.add(now, self.resolve_within, calendar), self.warn_before, calendar)
        except business_time.NoBusinessTime:
            return {"calendar": _("This calendar has less working time in ten years than these times ask for.")}
        return {}

    def matches(self, *, kind: str, priority: str, tier_rank: int | None = None) -> bool:
        """`tier_rank`: the rank of the customer's loyalty tier (None: no tier). A policy
        naming a tier applies to that tier and the ones above it."""
        if self.tier_id and (tier_rank is None or tier_rank < self.tier.rank):
            return False
        return (not self.kind or self.kind == kind) and (not self.priority or self.priority == priority)

    def business_calendar(self) -> business_time.Calendar | None:
        """The calendar the policy's clocks count in; None: every second counts. A
        calendar left without opening hours (the admin refuses that while policies use
        it; the database would not) counts every second too, rather than failing every
        ticket of the policy."""
        if not self.calendar_id:
            return None
        calendar = self.calendar.as_calendar()
        return calendar if calendar.has_hours else None


REFERENCE_PREFIX = "C-"
# Not \b: Korean writes a particle right after the number ("C-000013입니다"), and a
# Hangul letter is a word character, so \b found no reference there.
REFERENCE_PATTERN = re.compile(r"(?<![A-Za-z0-9])C-(\d{6,12})(?!\d)", re.IGNORECASE)


def ticket_id_from_reference(text: str) -> int | None:
    """The ticket id a reference such as C-000123 (anywhere in `text`) names."""
    match = REFERENCE_PATTERN.search(text or "")
    return int(match.group(1)) if match else None


class TicketQuerySet(models.QuerySet):
    def active(self) -> "TicketQuerySet":
        return self.filter(status__in=ACTIVE_STATUSES)

    def breached(self) -> "TicketQuerySet":
        """Active tickets that have missed a deadline (first answer or resolution)."""
        return self.active().filter(Q(first_response_breached=True) | Q(resolution_breached=True))

    def due_within(self, now: datetime, within: timedelta) -> "TicketQuerySet":
        """Active tickets whose next deadline lies in [now, now + within)."""
        return self.active().filter(next_deadline_at__gte=now, next_deadline_at__lt=now + within)

    def sla_due(self, now: datetime) -> "TicketQuerySet":
        return self.filter(sla_due_at__lte=now)

    def close_due(self, now: datetime) -> "TicketQuerySet":
        return self.filter(close_at__lte=now)


class Ticket(models.Model):
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("customer"), db_index=False
    )
    # The foreign keys below have partial indexes or none (see Meta): every index on this
    # table is written each time the sweep moves a deadline.
    order = models.ForeignKey(
        Order,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("order"),
        db_index=False,
    )
    order_reference = models.CharField(_("order reference"), max_length=64, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=TicketKind.choices, default=TicketKind.QUESTION)
    channel = models.CharField(_("channel"), max_length=10, choices=TicketChannel.choices, default=TicketChannel.API)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(_("status"), max_length=10, choices=TicketStatus.choices, default=TicketStatus.NEW)
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"), max_length=20000)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        verbose_name=_("assignee"),
        db_index=False,  # ticket_assignee_queue serves "my open tickets"
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("team"),
        db_index=False,
    )
    # No index: a policy is deleted rarely enough to afford looking through the tickets.
    policy = models.ForeignKey(
        SlaPolicy, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("SLA policy"), db_index=False
    )
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="en")
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    # --- SLA clocks (set only by feedback.services) ---
    acknowledge_by = models.DateTimeField(_("answer by"), null=True, blank=True)
    first_responded_at = models.DateTimeField(_("first answered"), null=True, blank=True)
    first_response_seconds = models.PositiveIntegerField(_("first response time (s)"), null=True, blank=True)
    first_response_breached = models.BooleanField(_("first answer late"), default=False)
    # The expected resolution; None while waiting on the customer (the clock is paused)
    # and once resolved.
    resolve_by = models.DateTimeField(_("resolve by"), null=True, blank=True)
    # The first date the customer was given, and the latest one they were told.
    promised_by = models.DateTimeField(_("first promised date"), null=True, blank=True)
    told_resolve_by = models.DateTimeField(_("date last told"), null=True, blank=True)
    # While paused: business time that was left on the resolution clock.
    paused_at = models.DateTimeField(_("paused since"), null=True, blank=True)
    remaining = models.DurationField(_("time left when paused"), null=True, blank=True)
    resolution_breached = models.BooleanField(_("resolution late"), default=False)
    response_warned = models.BooleanField(default=False)
    resolution_warned = models.BooleanField(default=False)
    # The next warning or breach the sweep acts on; None when nothing is scheduled.
    sla_due_at = models.DateTimeField(_("next SLA check"), null=True, blank=True)
    # The deadline shown in the queue: the first answer while none was given, then the
    # resolution; None while paused or done.
    next_deadline_at = models.DateTimeField(_("next deadline"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    first_resolved_at = models.DateTimeField(_("first resolved"), null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(_("resolution time (s)"), null=True, blank=True)
    promise_kept = models.BooleanField(_("promise kept"), null=True, blank=True)
    close_at = models.DateTimeField(_("closes itself at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    reopened_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    last_customer_message_at = models.DateTimeField(_("customer last wrote"), null=True, blank=True)
    # Counters that make the unique keys of repeated messages (ticket:42:date:3).
    date_changes = models.PositiveSmallIntegerField(default=0)
    resolutions = models.PositiveSmallIntegerField(default=0)

    objects = TicketQuerySet.as_manager()

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        indexes = [
            # The staff queue and "my open tickets": active tickets, nearest deadline first.
            # (PostgreSQL's ascending order puts NULLs last, as the queue orders them.)
            models.Index(
                fields=["next_deadline_at", "-id"], name="ticket_queue", condition=Q(status__in=ACTIVE_STATUSES)
            ),
            models.Index(
                fields=["next_deadline_at", "-id"],
                name="ticket_breached_queue",
                condition=Q(status__in=ACTIVE_STATUSES)
                & (Q(first_response_breached=True) | Q(resolution_breached=True)),
            ),
            models.Index(
                fields=["assignee", "next_deadline_at"],
                name="ticket_assignee_queue",
                condition=Q(status__in=ACTIVE_STATUSES),
            ),
            # The sweeps' deadlines: only rows with something due are in these indexes.
            models.Index(fields=["sla_due_at"], name="ticket_sla_due", condition=Q(sla_due_at__isnull=False)),
            models.Index(fields=["close_at"], name="ticket_close_due", condition=Q(close_at__isnull=False)),
            models.Index(fields=["customer", "-created_at"], name="ticket_customer"),
            models.Index(fields=["order"], name="ticket_order", condition=Q(order__isnull=False)),
            models.Index(fields=["team"], name="ticket_team", condition=Q(team__isnull=False)),
            # Service figures per period.
            models.Index(fields=["created_at"], name="ticket_created"),
            models.Index(
                fields=["first_resolved_at"], name="ticket_first_resolved", condition=Q(first_resolved_at__isnull=False)
            ),
            models.Index(
                fields=["first_responded_at"],
                name="ticket_first_responded",
                condition=Q(first_responded_at__isnull=False),
            ),
        ]
        permissions = [("view_service_metrics", _("Can view service figures"))]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    @property
    def reference(self) -> str:
        return f"{REFERENCE_PREFIX}{self.pk:06d}" if self.pk else ""

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_breached(self) -> bool:
        return self.first_response_breached or self.resolution_breached

    def time_left(self, now: datetime) -> timedelta | None:
        return self.next_deadline_at - now if self.next_deadline_at else None


class MyTicket(Ticket):
    """The same tickets, shown as "my open tickets" in the admin's menu."""

    class Meta:
        proxy = True
        verbose_name = _("my open ticket")
        verbose_name_plural = _("my open tickets")
        default_permissions = ()  # the admin uses the ticket permissions


class TicketAccess(models.Model):
    """A link that lets the customer see one ticket and write to it, without an account.

    Only the SHA-256 of the token is stored: a copy of the database opens nothing. Each
    email about the ticket carries a fresh link.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="access_links")
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("ticket link")
        verbose_name_plural = _("ticket links")

    def __str__(self) -> str:
        return f"{self.ticket.reference} until {self.expires_at:%Y-%m-%d}"


class CannedReply(models.Model):
    title = models.CharField(_("title"), max_length=100)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, blank=True, help_text=_("Empty: any language.")
    )
    body = models.TextField(
        _("text"), help_text=_("{name} and {reference} are replaced by the customer's name and the ticket reference.")
    )

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["title", "language"]

    def __str__(self) -> str:
        return f"{self.title} ({self.language})" if self.language else self.title

    def render(self, ticket: "Ticket") -> str:
        return self.body.replace("{name}", ticket.customer.name or "").replace("{reference}", ticket.reference)


# --- Reminders ----------------------------------------------------------------------


class ReminderKind(models.TextChoices):
    CALL = "call", _("Call")
    MEETING = "meeting", _("Meeting")
    FOLLOW_UP = "follow_up", _("Follow-up")


class ReminderQuerySet(models.QuerySet):
    def open(self) -> "ReminderQuerySet":
        return self.filter(done_at__isnull=True)

    def overdue(self, now: datetime) -> "ReminderQuerySet":
        return self.open().filter(due_at__lt=now)


class Reminder(models.Model):
    """A call, meeting or follow-up a staff member plans with a customer; the assignee
    gets an email when it is due."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="reminders", verbose_name=_("customer")
    )
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, null=True, blank=True, related_name="reminders", verbose_name=_("ticket")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=ReminderKind.choices, default=ReminderKind.FOLLOW_UP)
    due_at = models.DateTimeField(_("due"))
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders", verbose_name=_("assignee")
    )
    note = models.TextField(_("note"), blank=True, max_length=5000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # The sweep's deadline: set to due_at while the reminder email is still to be sent.
    remind_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminder sent"), null=True, blank=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    outcome = models.TextField(_("outcome"), blank=True, max_length=5000)

    objects = ReminderQuerySet.as_manager()

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        indexes = [
            models.Index(fields=["remind_at"], name="reminder_due", condition=Q(remind_at__isnull=False)),
            models.Index(fields=["assignee", "due_at"], name="reminder_open", condition=Q(done_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.customer} ({self.due_at:%Y-%m-%d %H:%M})"

    def is_overdue(self, now: datetime) -> bool:
        return self.done_at is None and self.due_at < now


# The survey models live in their own module; importing them here registers them with
# the feedback app.
from .surveys.models import (  # noqa: E402, F401
    Question,
    Survey,
    SurveyInvitation,
    SurveyMonth,
    SurveyResponse,
    SurveyTrigger,
)
