"""The REST API of customer care: tickets, their conversation, status changes as
actions, reminders, SLA policies (read) and the service figures.

Input serializers parse, services decide, output serializers render. An impossible
status change is a 409 with a message (retention_crm.api maps services' Conflict).
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.metrics import PeriodError
from customers.models import Channel, Customer, Entry, Message
from retention_crm.api import (
    DetailActionPermissions,
    ModelSerializer,
    Serializer,
    SlugRelatedField,
    permission_required,
)
from retention_crm.idempotency import HEADER_PARAMETER, idempotent

from . import services
from .filters import ReminderFilter, TicketFilter
from .models import Priority, Reminder, ReminderKind, SlaPolicy, Team, Ticket, TicketChannel, TicketKind
from .selectors import service_figures, service_period

User = get_user_model()

# --- Tickets ---------------------------------------------------------------------------


class TicketSerializer(ModelSerializer):
    reference = serializers.CharField(read_only=True)
    customer_email = serializers.EmailField(source="customer.email", read_only=True)
    customer_id = serializers.CharField(source="customer.external_id", read_only=True, allow_null=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True)
    order_id = serializers.CharField(source="order.external_id", read_only=True, allow_null=True, default=None)
    is_breached = serializers.BooleanField(read_only=True)

    class Meta:
        model = Ticket
        fields = [
            "id",
            "reference",
            "customer",
            "customer_email",
            "customer_id",
            "kind",
            "channel",
            "priority",
            "status",
            "subject",
            "description",
            "language",
            "assignee",
            "team",
            "order_id",
            "order_reference",
            "escalation_level",
            "acknowledge_by",
            "first_responded_at",
            "resolve_by",
            "promised_by",
            "paused_at",
            "is_breached",
            "resolved_at",
            "closed_at",
            "reopened_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TicketCreateSerializer(Serializer):
    customer_email = serializers.EmailField(max_length=254)
    subject = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=20000)
    customer_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=TicketKind.choices, required=False, default=TicketKind.QUESTION)
    channel = serializers.ChoiceField(choices=TicketChannel.choices, required=False, default=TicketChannel.API)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, default=Priority.NORMAL)
    order_reference = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    language = serializers.ChoiceField(
        choices=settings.LANGUAGES,
        required=False,
        help_text=_("The language the customer wrote in; their emails use it. Default: the customer's own."),
    )


class TicketUpdateSerializer(Serializer):
    kind = serializers.ChoiceField(choices=TicketKind.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    assignee = SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_staff=True, is_active=True),
        required=False,
        allow_null=True,
    )
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)


class ResolveSerializer(Serializer):
    text = serializers.CharField(max_length=20000, required=False, allow_blank=True, default="")
    notify = serializers.BooleanField(required=False, default=True, help_text=_("Email the customer (default)."))


class MessageSerializer(ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "entry",
            "kind",
            "channel",
            "author",
            "from_email",
            "to_email",
            "subject",
            "body",
            "delivery",
            "sent_at",
            "message_id",
            "occurred_at",
        ]
        read_only_fields = fields


class MessageCreateSerializer(Serializer):
    TYPES = [
        ("reply", _("A reply to the customer, sent by email")),
        (Entry.NOTE, _("An internal note")),
        (Entry.CALL, _("A call with the customer")),
        (Entry.MEETING, _("A meeting with the customer")),
        ("customer", _("A message from the customer (chat, social media…)")),
    ]
    type = serializers.ChoiceField(choices=TYPES)
    text = serializers.CharField(max_length=20000)
    after = serializers.ChoiceField(
        choices=services.ReplyAfter.choices,
        required=False,
        default=services.ReplyAfter.KEEP,
        help_text=_("For a reply: keep the status, wait on the customer, or resolve."),
    )
    channel = serializers.ChoiceField(
        choices=Channel.choices, required=False, default=Channel.API, help_text=_("For a customer's message.")
    )


@extend_schema_view(
    list=extend_schema(summary="List tickets", description="Newest first; cursor-paginated; filterable."),
    retrieve=extend_schema(summary="One ticket"),
)
class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Ticket.objects.select_related("customer", "assignee", "order")
    permission_classes = [DetailActionPermissions]
    serializer_class = TicketSerializer
    filterset_class = TicketFilter

    def _render(self, ticket: Ticket, code=status.HTTP_200_OK) -> Response:
        return Response(TicketSerializer(self.get_queryset().get(pk=ticket.pk)).data, status=code)

    @extend_schema(
        summary="Open a ticket",
        description=(
            "Finds or creates the customer by email, starts the SLA clocks and sends the acknowledgment. "
            "Returns the ticket with its reference and deadlines."
        ),
        request=TicketCreateSerializer,
        responses={201: TicketSerializer},
        parameters=[HEADER_PARAMETER],
    )
    def create(self, request, format=None):
        data = TicketCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data

        def work() -> Response:
            ticket = services.ticket_open(
                email=values["customer_email"],
                name=values["customer_name"],
                subject=values["subject"],
                description=values["description"],
                kind=values["kind"],
                channel=values["channel"],
                priority=values["priority"],
                order_reference=values["order_reference"],
                language=values.get("language", ""),
            )
            return self._render(ticket, status.HTTP_201_CREATED)

        return idempotent(request, work)

    @extend_schema(
        summary="Change kind, priority, assignee or team",
        description="A new kind or priority may bring another SLA policy; the customer is told a moved date.",
        request=TicketUpdateSerializer,
        responses={200: TicketSerializer},
    )
    def partial_update(self, request, pk=None, format=None):
        ticket = self.get_object()
        data = TicketUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if "assignee" in values or "team" in values:
            services.ticket_assign(
                ticket=ticket,
                assignee=values.get("assignee", ticket.assignee),
                team=values.get("team", ticket.team),
                keep_team=False,
            )
        if "kind" in values or "priority" in values:
            services.ticket_classify(ticket=ticket, kind=values.get("kind"), priority=values.get("priority"))
        return self._render(ticket)

    def _status_action(self, service, **kwargs):
        ticket = self.get_object()
        service(ticket=ticket, **kwargs)
        return self._render(ticket)

    @extend_schema(
        summary="Resolve",
        request=ResolveSerializer,
        responses={200: TicketSerializer, 409: OpenApiResponse(description="Not possible from this status")},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None, format=None):
        data = ResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._status_action(
            services.ticket_resolve, text=data.validated_data["text"], tell_customer=data.validated_data["notify"]
        )

    @extend_schema(summary="Close", request=None, responses={200: TicketSerializer, 409: OpenApiResponse()})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None, format=None):
        return self._status_action(services.ticket_close)

    @extend_schema(
        summary="Wait on the customer (the resolution clock pauses)",
        request=None,
        responses={200: TicketSerializer, 409: OpenApiResponse()},
    )
    @action(detail=True, methods=["post"])
    def wait(self, request, pk=None, format=None):
        return self._status_action(services.ticket_wait)

    @extend_schema(
        summary="Back to open (resume a waiting ticket, reopen a resolved one)",
        request=None,
        responses={200: TicketSerializer, 409: OpenApiResponse()},
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None, format=None):
        return self._status_action(services.ticket_open_again)

    @extend_schema(
        methods=["GET"], summary="The conversation, oldest first", responses={200: MessageSerializer(many=True)}
    )
    @extend_schema(
        methods=["POST"],
        summary="Reply, note, log a call or meeting, or add the customer's message",
        request=MessageCreateSerializer,
        responses={201: MessageSerializer, 409: OpenApiResponse(description="The ticket is closed")},
    )
    @action(detail=True, methods=["get", "post"])
    def messages(self, request, pk=None, format=None):
        ticket = self.get_object()
        if request.method == "GET":
            conversation = ticket.messages.select_related("author").order_by("occurred_at", "id")
            return Response(MessageSerializer(conversation, many=True).data)
        data = MessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values["type"] == "reply":
            message = services.ticket_reply(
                ticket=ticket, text=values["text"], author=request.user, after=values["after"]
            )
        elif values["type"] == "customer":
            _ticket, message = services.ticket_message_receive(
                ticket=ticket, body=values["text"], channel=values["channel"]
            )
        else:
            message = services.ticket_note_add(
                ticket=ticket, text=values["text"], author=request.user, entry=values["type"]
            )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


# --- Reminders --------------------------------------------------------------------------


class ReminderSerializer(ModelSerializer):
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Reminder
        fields = ["id", "customer", "ticket", "kind", "due_at", "assignee", "note", "reminded_at", "done_at", "outcome"]
        read_only_fields = fields


class ReminderCreateSerializer(Serializer):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all(), required=False, allow_null=True)
    ticket = serializers.PrimaryKeyRelatedField(queryset=Ticket.objects.all(), required=False, allow_null=True)
    kind = serializers.ChoiceField(choices=ReminderKind.choices, required=False, default=ReminderKind.FOLLOW_UP)
    due_at = serializers.DateTimeField()
    assignee = SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_staff=True, is_active=True), required=False
    )
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class ReminderUpdateSerializer(Serializer):
    due_at = serializers.DateTimeField(required=False)


class ReminderDoneSerializer(Serializer):
    outcome = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


@extend_schema_view(list=extend_schema(summary="List reminders"), retrieve=extend_schema(summary="One reminder"))
class ReminderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Reminder.objects.select_related("assignee")
    permission_classes = [DetailActionPermissions]
    serializer_class = ReminderSerializer
    filterset_class = ReminderFilter

    @extend_schema(
        summary="Schedule a reminder",
        request=ReminderCreateSerializer,
        responses={201: ReminderSerializer},
        parameters=[HEADER_PARAMETER],
    )
    def create(self, request, format=None):
        data = ReminderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data

        def work() -> Response:
            reminder = services.reminder_create(
                customer=values.get("customer"),
                ticket=values.get("ticket"),
                kind=values["kind"],
                due_at=values["due_at"],
                assignee=values.get("assignee") or request.user,
                note=values["note"],
                created_by=request.user,
            )
            return Response(ReminderSerializer(reminder).data, status=status.HTTP_201_CREATED)

        return idempotent(request, work)

    @extend_schema(summary="Move the due time", request=ReminderUpdateSerializer, responses={200: ReminderSerializer})
    def partial_update(self, request, pk=None, format=None):
        reminder = self.get_object()
        data = ReminderUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "due_at" in data.validated_data:
            reminder = services.reminder_reschedule(reminder=reminder, due_at=data.validated_data["due_at"])
        return Response(ReminderSerializer(reminder).data)

    @extend_schema(summary="Mark done", request=ReminderDoneSerializer, responses={200: ReminderSerializer})
    @action(detail=True, methods=["post"])
    def done(self, request, pk=None, format=None):
        reminder = self.get_object()
        data = ReminderDoneSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reminder = services.reminder_done(reminder=reminder, user=request.user, outcome=data.validated_data["outcome"])
        return Response(ReminderSerializer(reminder).data)


# --- SLA policies (read) ------------------------------------------------------------------


class SlaPolicySerializer(ModelSerializer):
    class Meta:
        model = SlaPolicy
        fields = [
            "id",
            "name",
            "position",
            "kind",
            "priority",
            "tier",
            "is_default",
            "answer_within",
            "resolve_within",
            "follow_up_every",
            "warn_before",
            "calendar",
        ]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="SLA policies, in the order they are tried"),
    retrieve=extend_schema(summary="One SLA policy"),
)
class SlaPolicyViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = SlaPolicy.objects.order_by("is_default", "position", "id")
    serializer_class = SlaPolicySerializer
    pagination_class = None
    filter_backends = []


# --- Service figures ------------------------------------------------------------------------


class ServicePeriodSerializer(Serializer):
    start = serializers.DateField(help_text=_("First day of the period (YYYY-MM-DD)."))
    end = serializers.DateField(help_text=_("Last day of the period, inclusive."))

    def validate(self, attrs):
        try:
            attrs["period"] = service_period(start=attrs["start"], end=attrs["end"])
        except PeriodError as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from exc
        return attrs


class FiguresFields(Serializer):
    tickets_created = serializers.IntegerField()
    tickets_resolved = serializers.IntegerField()
    first_responses = serializers.IntegerField()
    first_response_mean_seconds = serializers.FloatField(allow_null=True)
    first_response_median_seconds = serializers.FloatField(allow_null=True)
    resolution_mean_seconds = serializers.FloatField(allow_null=True)
    resolution_median_seconds = serializers.FloatField(allow_null=True)
    sla_compliance = serializers.FloatField(allow_null=True)
    promise_kept = serializers.FloatField(allow_null=True)
    reopen_rate = serializers.FloatField(allow_null=True)
    backlog = serializers.IntegerField()


class AgentFiguresSerializer(FiguresFields):
    agent_id = serializers.IntegerField(allow_null=True)
    agent = serializers.CharField()


class ServiceFiguresSerializer(FiguresFields):
    start = serializers.DateField()
    end = serializers.DateField()
    agents = AgentFiguresSerializer(many=True)


class ServiceMetricsView(APIView):
    permission_classes = [permission_required("feedback.view_service_metrics")]

    @extend_schema(
        summary="Service figures for a period, for the team and per agent",
        parameters=[ServicePeriodSerializer],
        responses={200: ServiceFiguresSerializer, 400: OpenApiResponse(description="A refused period")},
    )
    def get(self, request):
        data = ServicePeriodSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        return Response(service_figures(data.validated_data["period"]).as_json())


def register(router) -> None:
    router.register("tickets", TicketViewSet)
    router.register("reminders", ReminderViewSet)
    router.register("sla-policies", SlaPolicyViewSet)


urlpatterns = [path("metrics/service/", ServiceMetricsView.as_view(), name="metrics-service")]
