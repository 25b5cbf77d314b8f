"""The dashboard's figures for scripts and BI tools: GET /api/metrics/dashboard/."""

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.models import Customer
from retention_crm.api import permission_required

from .dashboard import DashboardPeriod, default_period, loyalty_cards, retention_cards, service_cards
from .personal_data import PERSONAL_DATA_PERMISSION, personal_data_response
from .views import DASHBOARD_PERMISSION, PeriodForm


def _number(value):
    return None if value is None else float(value)


class DashboardMetricsView(APIView):
    permission_classes = [permission_required(DASHBOARD_PERMISSION)]

    @extend_schema(
        summary="The dashboard's cards for a period against the one before",
        description="Each card: key, unit, value, previous and change (null where a figure is unknown). "
        "Without start and end: the last 30 whole days.",
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day (included)"),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (included)"),
        ],
        responses={200: OpenApiResponse(description="The cards"), 400: OpenApiResponse(description="A refused period")},
    )
    def get(self, request):
        period = default_period()
        if "start" in request.query_params or "end" in request.query_params:
            form = PeriodForm(request.query_params)
            if not form.is_valid():
                raise ValidationError(
                    {field: [str(error) for error in errors] for field, errors in form.errors.items()}
                )
            period = DashboardPeriod(form.cleaned_data["start"], form.cleaned_data["end"])
        before = period.before()
        cards = [*retention_cards(period, before), *service_cards(period, before), *loyalty_cards(period, before)]
        return Response(
            {
                "start": period.start.isoformat(),
                "end": period.end.isoformat(),
                "before": {"start": before.start.isoformat(), "end": before.end.isoformat()},
                "cards": [
                    {
                        "key": card.key,
                        "unit": card.unit,
                        "value": _number(card.value),
                        "previous": _number(card.previous),
                        "change": _number(card.change),
                    }
                    for card in cards
                ],
            }
        )


class PersonalDataView(APIView):
    permission_classes = [permission_required(PERSONAL_DATA_PERMISSION)]

    @extend_schema(
        summary="Everything stored about a customer",
        description="For the customer's request to see their data (the GDPR's right of access): the customer, "
        "orders with lines, tickets, messages, survey invitations and answers, loyalty account, entries and "
        "redemptions, and whether their address unsubscribed. Amounts are strings. Needs "
        "customers.export_customer (the Support manager role).",
        responses={
            200: OpenApiResponse(description="The document"),
            404: OpenApiResponse(description="No such customer"),
        },
    )
    def get(self, request, customer_id: int):
        return personal_data_response(get_object_or_404(Customer, pk=customer_id))


urlpatterns = [
    path("metrics/dashboard/", DashboardMetricsView.as_view(), name="metrics-dashboard"),
    path("customers/<int:customer_id>/personal-data/", PersonalDataView.as_view(), name="customer-personal-data"),
]
