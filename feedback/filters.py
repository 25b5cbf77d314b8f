"""The filters a support person uses on the tickets and reminders lists."""

import django_filters
from django.utils.translation import gettext_lazy as _

from customers.models import Customer

from .models import Priority, Reminder, ReminderKind, Ticket, TicketKind, TicketStatus, ticket_id_from_reference


class TicketFilter(django_filters.FilterSet):
    reference = django_filters.CharFilter(method="filter_reference", label=_("Reference (C-000123)"))
    status = django_filters.MultipleChoiceFilter(choices=TicketStatus.choices)
    kind = django_filters.MultipleChoiceFilter(choices=TicketKind.choices)
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices)
    assignee = django_filters.CharFilter(field_name="assignee__username", label=_("Assignee (username)"))
    customer_email = django_filters.CharFilter(method="filter_customer_email", label=_("Customer email (any case)"))
    customer_id = django_filters.CharFilter(field_name="customer__external_id", label=_("Customer id"))
    breached = django_filters.BooleanFilter(method="filter_breached", label=_("Has missed a deadline"))
    escalation_level_min = django_filters.NumberFilter(field_name="escalation_level", lookup_expr="gte")
    created = django_filters.DateFromToRangeFilter(
        field_name="created_at", label=_("Created (created_after / created_before)")
    )

    class Meta:
        model = Ticket
        fields = [
            "reference",
            "status",
            "kind",
            "priority",
            "assignee",
            "team",
            "customer_email",
            "customer_id",
            "breached",
        ]

    def filter_reference(self, queryset, name, value):
        ticket_id = ticket_id_from_reference(value)
        return queryset.filter(pk=ticket_id) if ticket_id is not None else queryset.none()

    def filter_customer_email(self, queryset, name, value):
        return queryset.filter(customer__in=Customer.objects.with_email(value))

    def filter_breached(self, queryset, name, value):
        breached = queryset.filter(first_response_breached=True) | queryset.filter(resolution_breached=True)
        return breached if value else queryset.filter(first_response_breached=False, resolution_breached=False)


class ReminderFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=ReminderKind.choices)
    assignee = django_filters.CharFilter(field_name="assignee__username")
    open = django_filters.BooleanFilter(field_name="done_at", lookup_expr="isnull", label=_("Not done yet"))
    due = django_filters.DateFromToRangeFilter(field_name="due_at", label=_("Due (due_after / due_before)"))

    class Meta:
        model = Reminder
        fields = ["kind", "assignee", "customer", "ticket", "open"]
