"""The dashboard's figures for scripts and BI tools: GET /api/metrics/dashboard/."""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from retention_crm.api import permission_required

from .dashboard import DashboardPeriod, default_period, loyalty_cards, retention_cards, service_cards
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


urlpatterns = [path("metrics/dashboard/", DashboardMetricsView.as_view(), name="metrics-dashboard")]
