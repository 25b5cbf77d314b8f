"""The survey API: surveys (read), invitations (create one for a customer; the contact
rules apply and a refusal is a 409 naming the rule), responses (read) and the scores."""

from datetime import timedelta

import django_filters
from django.conf import settings
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.models import Customer
from retention_crm.api import ModelSerializer, Serializer, permission_required

from ..api import ServicePeriodSerializer
from .models import InvitationSource, Question, Survey, SurveyInvitation, SurveyKind, SurveyResponse
from .selectors import survey_scores
from .services import ContactRefused, embed_token_issue, survey_invite


class QuestionSerializer(ModelSerializer):
    class Meta:
        model = Question
        fields = ["key", "type", "text", "required", "scale_min", "scale_max", "choices", "max_length"]


class SurveySerializer(ModelSerializer):
    questions = QuestionSerializer(many=True, read_only=True)

    class Meta:
        model = Survey
        fields = ["id", "name", "kind", "title", "active", "link_days", "questions"]


@extend_schema_view(
    list=extend_schema(summary="Surveys and their questions"),
    retrieve=extend_schema(summary="One survey and its questions"),
)
class SurveyViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Survey.objects.prefetch_related("questions").order_by("id")
    serializer_class = SurveySerializer
    pagination_class = None
    filter_backends = []


class InvitationSerializer(ModelSerializer):
    customer_id = serializers.CharField(source="customer.external_id", read_only=True, allow_null=True)
    customer_email = serializers.EmailField(source="customer.email", read_only=True, allow_null=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = SurveyInvitation
        fields = [
            "id",
            "survey",
            "customer",
            "customer_id",
            "customer_email",
            "source",
            "ticket",
            "status",
            "skip_reason",
            "send_at",
            "sent_at",
            "opened_at",
            "answered_at",
            "expires_at",
            "created_at",
        ]

    def get_status(self, invitation) -> str:
        return invitation.current_status(timezone.now())


class InvitationCreatedSerializer(InvitationSerializer):
    url = serializers.SerializerMethodField(help_text=_("The customer's personal link (absolute)."))

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "url"]

    def get_url(self, invitation) -> str:
        return invitation.url()


class InvitationInputSerializer(Serializer):
    survey = serializers.PrimaryKeyRelatedField(queryset=Survey.objects.all())
    customer_id = serializers.CharField(max_length=64, required=False, help_text=_("The shop's customer id."))
    customer_email = serializers.EmailField(max_length=254, required=False)
    send_at = serializers.DateTimeField(required=False, help_text=_("Later, instead of now."))

    def validate(self, attrs):
        customers = Customer.objects.all()
        if attrs.get("customer_id"):
            customers = customers.filter(external_id=attrs["customer_id"])
        elif attrs.get("customer_email"):
            customers = customers.with_email(attrs["customer_email"])
        else:
            raise serializers.ValidationError({"customer_id": [_("Give customer_id or customer_email.")]})
        customer = customers.first()
        if customer is None:
            field = "customer_id" if attrs.get("customer_id") else "customer_email"
            raise serializers.ValidationError({field: [_("No customer has this id or address.")]})
        attrs["customer"] = customer
        return attrs


class RefusalSerializer(Serializer):
    detail = serializers.CharField()
    rule = serializers.CharField()


def refused(refusal: ContactRefused) -> Response:
    """A contact rule's no: 409, saying which rule (CONTRACT.md)."""
    return Response({"detail": refusal.messages[0], "rule": refusal.rule}, status=status.HTTP_409_CONFLICT)


class InvitationFilter(django_filters.FilterSet):
    customer_id = django_filters.CharFilter(field_name="customer__external_id")
    sent = django_filters.DateFromToRangeFilter(field_name="sent_at", label=_("Sent (sent_after / sent_before)"))

    class Meta:
        model = SurveyInvitation
        fields = ["survey", "status", "source", "customer_id", "ticket"]


@extend_schema_view(
    list=extend_schema(summary="Survey invitations, newest first"),
    retrieve=extend_schema(summary="One survey invitation"),
    create=extend_schema(
        summary="Invite a customer to a survey",
        request=InvitationInputSerializer,
        responses={
            201: InvitationCreatedSerializer,
            400: OpenApiResponse(description="Bad input, per field"),
            409: OpenApiResponse(RefusalSerializer, description="A contact rule forbids it; `rule` names it"),
        },
    ),
)
class SurveyInvitationViewSet(
    mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = SurveyInvitation.objects.select_related("customer")
    serializer_class = InvitationSerializer
    filterset_class = InvitationFilter

    def create(self, request, *args, **kwargs):
        data = InvitationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            invitation = survey_invite(
                survey=values["survey"],
                customer=values["customer"],
                source=InvitationSource.API,
                send_at=values.get("send_at"),
            )
        except ContactRefused as refusal:
            return refused(refusal)
        return Response(InvitationCreatedSerializer(invitation).data, status=status.HTTP_201_CREATED)


class EmbedCreatedSerializer(Serializer):
    token = serializers.CharField(help_text=_("Put it in the script tag's data-token."))
    expires_at = serializers.DateTimeField()
    url = serializers.CharField(help_text=_("What the iframe opens."))
    script = serializers.CharField(help_text=_("The script tag to put on the page, ready to copy."))


class SurveyEmbedView(APIView):
    """A token for showing a survey to a customer the shop has identified, on the shop's
    own page (embed.js). The shop's server asks for it; the contact rules apply."""

    permission_classes = [permission_required("feedback.add_surveyinvitation")]

    @extend_schema(
        summary="A signed, expiring token that shows a survey on the shop's own page",
        request=InvitationInputSerializer,
        responses={
            201: EmbedCreatedSerializer,
            400: OpenApiResponse(description="Bad input, per field"),
            409: OpenApiResponse(RefusalSerializer, description="A contact rule forbids it; `rule` names it"),
        },
    )
    def post(self, request):
        data = InvitationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            token = embed_token_issue(survey=values["survey"], customer=values["customer"])
        except ContactRefused as refusal:
            return refused(refusal)
        script = format_html(
            '<script src="{}" data-token="{}" async></script>', settings.SITE_URL + static("public/embed.js"), token
        )
        body = {
            "token": token,
            "expires_at": timezone.now() + timedelta(seconds=settings.SURVEY_EMBED_TOKEN_SECONDS),
            "url": settings.SITE_URL + reverse("survey-embed", args=[token]),
            "script": str(script),
        }
        return Response(EmbedCreatedSerializer(body).data, status=status.HTTP_201_CREATED)


class ResponseSerializer(ModelSerializer):
    kind = serializers.CharField(source="survey.kind", read_only=True)
    customer_id = serializers.CharField(source="customer.external_id", read_only=True, allow_null=True)

    class Meta:
        model = SurveyResponse
        fields = [
            "id",
            "survey",
            "kind",
            "invitation",
            "customer",
            "customer_id",
            "ticket",
            "order",
            "score",
            "answers",
            "language",
            "unhappy",
            "recovery_ticket",
            "submitted_at",
        ]


class ResponseFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(field_name="survey__kind", choices=SurveyKind.choices)
    customer_id = django_filters.CharFilter(field_name="customer__external_id")
    submitted = django_filters.DateFromToRangeFilter(
        field_name="submitted_at", label=_("Submitted (submitted_after / submitted_before)")
    )
    score_min = django_filters.NumberFilter(field_name="score", lookup_expr="gte")
    score_max = django_filters.NumberFilter(field_name="score", lookup_expr="lte")

    class Meta:
        model = SurveyResponse
        fields = ["survey", "kind", "customer_id", "ticket", "unhappy"]


@extend_schema_view(
    list=extend_schema(summary="Survey responses, newest first"),
    retrieve=extend_schema(summary="One survey response"),
)
class SurveyResponseViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = SurveyResponse.objects.select_related("survey", "customer")
    serializer_class = ResponseSerializer
    filterset_class = ResponseFilter


class SurveyMetricsView(APIView):
    permission_classes = [permission_required("feedback.view_survey_metrics")]

    @extend_schema(
        summary="NPS, CSAT and CLI of a period: totals, monthly trend, segments, per agent, response and "
        "recovery rates",
        parameters=[ServicePeriodSerializer],
        responses={
            200: OpenApiResponse(description="The survey figures"),
            400: OpenApiResponse(description="A refused period"),
        },
    )
    def get(self, request):
        data = ServicePeriodSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        return Response(survey_scores(data.validated_data["period"]))


def register(router) -> None:
    router.register("surveys", SurveyViewSet)
    router.register("survey-invitations", SurveyInvitationViewSet)
    router.register("survey-responses", SurveyResponseViewSet)


urlpatterns = [
    path("metrics/surveys/", SurveyMetricsView.as_view(), name="metrics-surveys"),
    path("survey-embeds/", SurveyEmbedView.as_view(), name="survey-embeds"),
]
