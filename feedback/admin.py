"""The staff side of customer care: the ticket queue, a ticket's page with its whole
conversation and a reply box, SLA policies and calendars, canned replies, reminders.

Every change goes through feedback.services: the admin only collects input and shows
what the services decided.
"""

from datetime import timedelta
from functools import lru_cache

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.template.defaultfilters import linebreaksbr
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from customers.admin import FastListMixin, looks_like_an_email
from customers.models import Customer
from customers.outbox import kind_name
from retention_crm.admin_forms import ShortDurationField, TolerantAutocompleteMixin

from . import services
from .forms import StaffReplyMixin
from .models import (
    ACTIVE_STATUSES,
    BusinessCalendar,
    BusinessHours,
    CannedReply,
    Holiday,
    MyTicket,
    Priority,
    Reminder,
    SlaPolicy,
    Team,
    Ticket,
    TicketChannel,
    TicketKind,
    TicketStatus,
    ticket_id_from_reference,
)

DUE_SOON = timedelta(hours=4)


@lru_cache(maxsize=1)
def _customer_url_pattern() -> str:
    return reverse("admin:customers_customer_change", args=[0])


def customer_url(customer_id: int) -> str:
    """A customer's admin page; the URL is resolved once, not once per row."""
    return _customer_url_pattern().replace("/0/", f"/{customer_id}/", 1)


def in_red(words) -> str:
    """Words in the queue's red (admin/feedback/queue.css), for what went wrong: a late
    deadline, an unhappy answer. Not Django's boolean icons, whose green tick beside
    "late" or "unhappy" reads as good news."""
    return format_html('<span class="sla sla-late">{}</span>', words)


def humanize_delta(delta: timedelta) -> str:
    """ "2 h 05 min", "3 d 4 h", "12 min": short enough for a list column."""
    seconds = abs(int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)d min") % {"minutes": minutes}


def duration_column(model, name: str):
    """A list column of a duration field in the reader's language: Django lists one as
    "3 days, 0:00:00", in English whatever the reader's."""

    @admin.display(description=model._meta.get_field(name).verbose_name, ordering=name)
    def column(obj):
        return humanize_delta(getattr(obj, name))

    column.__name__ = f"{name}_text"
    return column


# --- Queue filters --------------------------------------------------------------------


class StatusFilter(admin.SimpleListFilter):
    """Active tickets (new, open, waiting) unless another status is chosen."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("all", _("All")), *TicketStatus.choices]

    def choices(self, changelist):
        value = self.value()
        yield {
            "selected": value is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("Active (new, open, waiting)"),
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset.active()
        if value == "all":
            return queryset
        if value in TicketStatus.values:
            return queryset.filter(status=value)
        return queryset.none()


class AssigneeFilter(admin.SimpleListFilter):
    title = _("assignee")
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        staff = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")
        return [("me", _("Me")), ("none", _("Nobody")), *((str(user.pk), user.get_username()) for user in staff)]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "me":
            return queryset.filter(assignee=request.user)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value and value.isascii() and value.isdigit():
            return queryset.filter(assignee_id=value)
        return queryset


class EscalationFilter(admin.SimpleListFilter):
    title = _("escalation level")
    parameter_name = "escalation"

    def lookups(self, request, model_admin):
        return [("0", "0"), ("1", "1"), ("2", "2"), ("3+", _("3 or more"))]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "3+":
            return queryset.filter(escalation_level__gte=3)
        if value in ("0", "1", "2"):
            return queryset.filter(escalation_level=int(value))
        return queryset


class DeadlineFilter(admin.SimpleListFilter):
    title = _("deadline")
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("breached", _("Breached")), ("soon", _("Due within 4 hours"))]

    def queryset(self, request, queryset):
        if self.value() == "breached":
            return queryset.breached()
        if self.value() == "soon":
            return queryset.due_within(timezone.now(), DUE_SOON)
        return queryset


# --- The ticket page ------------------------------------------------------------------


def _allowed_statuses(ticket: Ticket) -> list[tuple[str, str]]:
    allowed = {ticket.status} | services.tickets.TRANSITIONS[ticket.status]
    return [(value, label) for value, label in TicketStatus.choices if value in allowed]


class TicketChangeForm(StaffReplyMixin, forms.ModelForm):
    status = forms.ChoiceField(label=_("Status"), choices=TicketStatus.choices)

    class Meta:
        model = Ticket
        fields = ("kind", "priority", "status", "assignee", "team", "order")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = _allowed_statuses(self.instance)
        self.fields["status"].help_text = _("Only the statuses this ticket can move to are offered.")
        self.fields["assignee"].queryset = get_user_model().objects.filter(is_staff=True, is_active=True)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("reply_mode") and not (cleaned.get("reply_text") or "").strip():
            canned = cleaned.get("canned_reply")
            if canned is not None:
                cleaned["reply_text"] = canned.render(self.instance)
        status = cleaned.get("status")
        if status and status != self.instance.status and not services.can_change_status(self.instance, status):
            self.add_error("status", _("This ticket cannot move to that status."))
        _check_order(self, self.instance.customer_id)
        return cleaned


def _check_order(form: forms.Form, customer_id: int | None) -> None:
    order = form.cleaned_data.get("order")
    if order is not None and customer_id is not None and order.customer_id != customer_id:
        form.add_error("order", _("This order belongs to another customer."))


class TicketAddForm(forms.ModelForm):
    class Meta:
        model = Ticket
        fields = ("customer", "kind", "channel", "priority", "subject", "description", "assignee", "team", "order")

    def clean(self):
        cleaned = super().clean()
        customer = cleaned.get("customer")
        _check_order(self, customer.pk if customer else None)
        return cleaned


@admin.register(Ticket)
class TicketAdmin(TolerantAutocompleteMixin, FastListMixin, admin.ModelAdmin):
    # The deadline comes second: it is what the queue is sorted by, and it must stay in
    # view when a narrow screen hides the last columns.
    list_display = (
        "reference_display",
        "time_left_display",
        "subject",
        "customer_link",
        "kind_display",
        "priority_display",
        "status_display",
        "assignee",
        "escalation_level",
    )
    list_display_links = ("reference_display", "subject")
    list_select_related = ("customer", "assignee")
    list_filter = (
        StatusFilter,
        DeadlineFilter,
        "kind",
        "priority",
        AssigneeFilter,
        "team",
        EscalationFilter,
    )
    search_fields = ("subject",)  # enables the search box; get_search_results decides
    search_help_text = _("A reference (C-000123), a customer's email or a customer id.")
    autocomplete_fields = ("customer", "order")
    actions = (
        "assign_to_me",
        "make_urgent",
        "make_high",
        "make_normal",
        "make_low",
        "wait_on_customer",
        "resolve",
        "close",
    )
    readonly_fields = (
        "reference_display",
        "customer_link",
        "channel",
        "subject",
        "description_display",
        "created_at",
        "policy",
        "acknowledge_by",
        "first_responded_at",
        "resolve_by",
        "promised_by",
        "paused_at",
        "escalation_level",
        "first_answer_late",
        "resolution_late",
        "resolved_at",
        "closed_at",
        "close_at",
        "reopened_count",
        "conversation",
    )

    class Media:
        css = {"all": ["admin/feedback/queue.css"]}

    # The queue: the nearest deadline first (a late one is nearest), tickets without one
    # last; served by the partial index ticket_queue.
    ordering = (F("next_deadline_at").asc(nulls_last=True), "-id")

    def get_changeform_initial_data(self, request):
        # Staff write a ticket down for a customer who called (the model's default, API,
        # is what the API's clients send).
        return {"channel": TicketChannel.PHONE, **super().get_changeform_initial_data(request)}

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = TicketChangeForm if obj is not None else TicketAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": TicketAddForm.Meta.fields})]
        return [
            (
                None,
                {
                    "fields": (
                        "reference_display",
                        "customer_link",
                        "subject",
                        "description_display",
                        "channel",
                        "created_at",
                    )
                },
            ),
            (_("Handling"), {"fields": ("status", "priority", "kind", "assignee", "team", "order")}),
            (
                _("Deadlines"),
                {
                    "fields": (
                        "policy",
                        ("acknowledge_by", "first_responded_at", "first_answer_late"),
                        ("resolve_by", "promised_by", "resolution_late"),
                        ("paused_at", "escalation_level", "reopened_count"),
                        ("resolved_at", "close_at", "closed_at"),
                    )
                },
            ),
            (_("Conversation"), {"fields": ("conversation",)}),
            (_("Reply"), {"fields": ("reply_mode", "canned_reply", "reply_text", "reply_after", "reply_token")}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        ticket_id = ticket_id_from_reference(term)
        if ticket_id is not None:
            return queryset.filter(pk=ticket_id), False
        if looks_like_an_email(term):
            return queryset.filter(customer__in=Customer.objects.with_email(term)), False
        customer_ids = list(Customer.objects.filter(external_id=term).values_list("pk", flat=True)[:1])
        return queryset.filter(customer_id__in=customer_ids), False

    # --- columns ---

    @admin.display(description=_("reference"), ordering="id")
    def reference_display(self, ticket):
        return ticket.reference

    # Choice labels through the enums: the admin's own way rebuilds the list of choices
    # for every cell.
    @admin.display(description=_("kind"), ordering="kind")
    def kind_display(self, ticket):
        return TicketKind(ticket.kind).label

    @admin.display(description=_("priority"), ordering="priority")
    def priority_display(self, ticket):
        return Priority(ticket.priority).label

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, ticket):
        return TicketStatus(ticket.status).label

    @admin.display(description=_("customer"))
    def customer_link(self, ticket):
        return format_html('<a href="{}">{}</a>', customer_url(ticket.customer_id), ticket.customer)

    @admin.display(description=_("time left"), ordering="next_deadline_at")
    def time_left_display(self, ticket):
        if ticket.status == TicketStatus.WAITING:
            return format_html('<span class="sla sla-paused">{}</span>', _("paused"))
        left = ticket.time_left(timezone.now())
        if left is None:
            return "—"
        if left < timedelta(0):
            state, text = "late", _("%(time)s late") % {"time": humanize_delta(left)}
        else:
            state, text = ("soon" if left < DUE_SOON else "ok"), humanize_delta(left)
        return format_html('<span class="sla sla-{}" title="{}">{}</span>', state, ticket.next_deadline_at, text)

    @admin.display(description=_("first answer late"))
    def first_answer_late(self, ticket):
        return in_red(_("Late")) if ticket.first_response_breached else _("No")

    @admin.display(description=_("resolution late"))
    def resolution_late(self, ticket):
        return in_red(_("Late")) if ticket.resolution_breached else _("No")

    @admin.display(description=_("description"))
    def description_display(self, ticket):
        return linebreaksbr(ticket.description)

    @admin.display(description=_("conversation"))
    def conversation(self, ticket):
        entries = ticket.messages.select_related("author").order_by("occurred_at", "id")
        if not entries:
            return "—"
        return format_html(
            '<ol class="conversation">{}</ol>',
            format_html_join(
                "",
                '<li class="entry-{}"><p class="meta"><strong>{}</strong> · {} · {}{}</p><p class="subject">{}</p>'
                '<div class="body">{}</div></li>',
                (
                    (
                        message.entry,
                        message.get_entry_display(),
                        message.author or message.from_email or message.to_email,
                        timezone.localtime(message.occurred_at).strftime("%Y-%m-%d %H:%M"),
                        format_html(" · {}", message.get_delivery_display()) if message.delivery else "",
                        # An email is written out when it is sent: until then, its kind.
                        message.subject or kind_name(message.kind),
                        linebreaksbr(message.body),
                    )
                    for message in entries
                ),
            ),
        )

    # --- saving through the services ---

    def save_model(self, request, obj, form, change):
        if not change:
            ticket = services.ticket_open(
                customer=obj.customer,
                description=obj.description,
                subject=obj.subject,
                kind=obj.kind,
                channel=obj.channel,
                priority=obj.priority,
                order_reference=obj.order.external_id if obj.order_id else "",
                author=request.user,
            )
            if obj.assignee_id or obj.team_id:
                services.ticket_assign(ticket=ticket, assignee=obj.assignee, team=obj.team)
            obj.pk = ticket.pk
            return
        data = form.cleaned_data
        ticket = Ticket.objects.get(pk=obj.pk)
        if "assignee" in form.changed_data or "team" in form.changed_data:
            services.ticket_assign(ticket=ticket, assignee=data["assignee"], team=data["team"], keep_team=False)
        if "kind" in form.changed_data or "priority" in form.changed_data:
            services.ticket_classify(ticket=ticket, kind=data["kind"], priority=data["priority"])
        if "order" in form.changed_data:
            services.ticket_order_set(ticket=ticket, order=data["order"])
        text = (data.get("reply_text") or "").strip()
        if text:
            self._add_to_conversation(request, ticket, form, text)
        if "status" in form.changed_data:
            # A reply may have moved the status already (wait, resolve).
            current = Ticket.objects.get(pk=ticket.pk)
            if current.status != data["status"]:
                services.ticket_status_change(ticket=current, status=data["status"])

    def _add_to_conversation(self, request, ticket, form, text):
        data = form.cleaned_data
        mode = data.get("reply_mode") or "email"
        if mode == "email":
            token = data.get("reply_token") or ""
            services.ticket_reply(
                ticket=ticket,
                text=text,
                author=request.user,
                after=data.get("reply_after") or services.ReplyAfter.KEEP,
                key=f"ticket:{ticket.pk}:reply:{token}" if token else None,
            )
        else:
            services.ticket_note_add(ticket=ticket, text=text, author=request.user, entry=mode)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            # A service refused (say, the ticket was closed meanwhile). The admin's
            # transaction rolled back: nothing was saved.
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(request.path)

    # --- actions (each ticket through the services; a refusal is reported, not raised) ---

    def _each(self, request, queryset, service, done_message):
        """`done_message(count)`: the words for how many went through (ngettext)."""
        done, refused = 0, []
        for ticket in queryset:
            try:
                service(ticket)
            except ValidationError as exc:
                refused.append(f"{ticket.reference}: {' '.join(exc.messages)}")
            else:
                done += 1
        if done:
            self.message_user(request, done_message(done) % {"count": done}, messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description=_("Assign to me"), permissions=["change"])
    def assign_to_me(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda ticket: services.ticket_assign(ticket=ticket, assignee=request.user),
            lambda count: ngettext("%(count)d ticket assigned to you.", "%(count)d tickets assigned to you.", count),
        )

    def _priority(self, request, queryset, priority):
        self._each(
            request,
            queryset,
            lambda ticket: services.ticket_classify(ticket=ticket, priority=priority),
            lambda count: ngettext(
                "Priority changed on %(count)d ticket.", "Priority changed on %(count)d tickets.", count
            ),
        )

    def _priority_action(priority: str, label):
        @admin.action(description=label, permissions=["change"])
        def action(self, request, queryset):
            self._priority(request, queryset, priority)

        return action

    make_urgent = _priority_action(Priority.URGENT, _("Priority: urgent"))
    make_high = _priority_action(Priority.HIGH, _("Priority: high"))
    make_normal = _priority_action(Priority.NORMAL, _("Priority: normal"))
    make_low = _priority_action(Priority.LOW, _("Priority: low"))
    del _priority_action

    @admin.action(description=_("Wait on the customer"), permissions=["change"])
    def wait_on_customer(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda ticket: services.ticket_wait(ticket=ticket),
            lambda count: ngettext(
                "%(count)d ticket now waits on the customer.", "%(count)d tickets now wait on the customer.", count
            ),
        )

    @admin.action(description=_("Resolve (the customer is told)"), permissions=["change"])
    def resolve(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda ticket: services.ticket_resolve(ticket=ticket),
            lambda count: ngettext("%(count)d ticket resolved.", "%(count)d tickets resolved.", count),
        )

    @admin.action(description=_("Close"), permissions=["change"])
    def close(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda ticket: services.ticket_close(ticket=ticket),
            lambda count: ngettext("%(count)d ticket closed.", "%(count)d tickets closed.", count),
        )


@admin.register(MyTicket)
class MyTicketAdmin(TicketAdmin):
    """An agent's own queue: their active tickets, nearest deadline first. It uses the
    ticket permissions (no permissions of its own)."""

    list_filter = (DeadlineFilter, "kind", "priority", EscalationFilter)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(assignee=request.user, status__in=ACTIVE_STATUSES)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("feedback.view_ticket")

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("feedback.change_ticket")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_module_permission(self, request):
        return request.user.has_perm("feedback.view_ticket")


# --- Policies, calendars, teams, canned replies ------------------------------------------


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "position",
        "kind",
        "priority",
        "tier",
        duration_column(SlaPolicy, "answer_within"),
        duration_column(SlaPolicy, "resolve_within"),
        duration_column(SlaPolicy, "follow_up_every"),
        duration_column(SlaPolicy, "warn_before"),
        "calendar",
        "is_default",
    )
    formfield_overrides = {models.DurationField: {"form_class": ShortDurationField}}

    list_editable = ("position",)
    list_select_related = ("calendar", "tier")
    fields = (
        "name",
        "position",
        "kind",
        "priority",
        "tier",
        "answer_within",
        "resolve_within",
        "follow_up_every",
        "warn_before",
        "calendar",
    )

    def get_readonly_fields(self, request, obj=None):
        # The default policy matches whatever no other does: it has no kind or priority.
        return ("kind", "priority") if obj is not None and obj.is_default else ()

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_default:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # would let the default policy go
        return actions


class BusinessHoursFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        calendar = self.instance
        kept = [form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        if not kept and calendar.pk is not None and calendar.policies.exists():
            raise ValidationError(_("SLA policies use this calendar: it needs opening hours."))


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    formset = BusinessHoursFormSet
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ("name", "time_zone")
    inlines = (BusinessHoursInline, HolidayInline)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.instance.save(update_fields=["updated_at"])  # new hours: cached calendars are stale


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "email")
    filter_horizontal = ("members",)


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ("title", "language")
    list_filter = ("language",)
    search_fields = ("title", "body")


# --- Reminders ------------------------------------------------------------------------------


class ReminderStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("mine", _("My open reminders")), ("overdue", _("Overdue")), ("open", _("Open")), ("done", _("Done"))]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "mine":
            return queryset.open().filter(assignee=request.user)
        if value == "overdue":
            return queryset.overdue(timezone.now())
        if value == "open":
            return queryset.open()
        if value == "done":
            return queryset.filter(done_at__isnull=False)
        return queryset


class ReminderForm(forms.ModelForm):
    mark_done = forms.BooleanField(label=_("Done"), required=False)

    class Meta:
        model = Reminder
        fields = ("customer", "ticket", "kind", "due_at", "assignee", "note", "outcome")


@admin.register(Reminder)
class ReminderAdmin(TolerantAutocompleteMixin, admin.ModelAdmin):
    form = ReminderForm
    list_display = ("kind", "customer", "ticket_reference", "due_at", "assignee", "state")
    list_select_related = ("customer", "ticket", "assignee")
    list_filter = (ReminderStateFilter, "kind")
    autocomplete_fields = ("customer", "ticket")
    ordering = ("due_at",)
    actions = ("mark_done",)
    fields = ("customer", "ticket", "kind", "due_at", "assignee", "note", "outcome", "mark_done")

    def get_fields(self, request, obj=None):
        # A reminder being planned has no outcome yet (and creating one never read them:
        # what was typed there was lost).
        fields = super().get_fields(request, obj)
        return fields if obj is not None else [name for name in fields if name not in ("outcome", "mark_done")]

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("assignee", request.user.pk)
        return initial

    @admin.display(description=_("ticket"))
    def ticket_reference(self, reminder):
        return reminder.ticket.reference if reminder.ticket_id else "—"

    @admin.display(description=_("state"))
    def state(self, reminder):
        if reminder.done_at:
            return _("done")
        if reminder.is_overdue(timezone.now()):
            return format_html('<span class="sla sla-late">{}</span>', _("overdue"))
        return _("open")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            reminder = services.reminder_create(
                customer=data["customer"],
                ticket=data.get("ticket"),
                kind=data["kind"],
                due_at=data["due_at"],
                assignee=data["assignee"],
                note=data.get("note", ""),
                created_by=request.user,
            )
            obj.pk = reminder.pk
            return
        Reminder.objects.filter(pk=obj.pk).update(
            note=data.get("note", ""), assignee=data["assignee"], kind=data["kind"]
        )
        if "due_at" in form.changed_data and obj.done_at is None:
            services.reminder_reschedule(reminder=obj, due_at=data["due_at"])
        if data.get("mark_done"):
            services.reminder_done(reminder=obj, user=request.user, outcome=data.get("outcome", ""))

    @admin.action(description=_("Mark as done"), permissions=["change"])
    def mark_done(self, request, queryset):
        count = 0
        for reminder in queryset.filter(done_at__isnull=True):
            services.reminder_done(reminder=reminder, user=request.user)
            count += 1
        self.message_user(
            request, ngettext("%(count)d reminder done.", "%(count)d reminders done.", count) % {"count": count}
        )


# The surveys' admin pages register themselves on import.
from .surveys import admin as survey_admin  # noqa: E402, F401
