"""The REST API of the customers app: customers, products, orders, retention metrics.

Field names follow the import files: `customer_id` and `order_id` are the ids the shop
knows (external ids); `id` is ours and is what URLs use.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from retention_crm.api import ModelSerializer, Serializer, permission_required

from . import services
from .filters import CustomerFilter, OrderFilter, ProductFilter
from .metrics import PeriodError, cohorts, period_validate, retention_figures
from .models import EARLIEST_DAY, Customer, Order, OrderLine, OrderStatus, Product, currency_validator

# --- Customers -----------------------------------------------------------------------


class CustomerSerializer(ModelSerializer):
    customer_id = serializers.CharField(
        source="external_id", max_length=64, required=False, allow_null=True, help_text=_("The shop's id.")
    )
    email = serializers.EmailField(max_length=254, required=False, allow_null=True, allow_blank=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "customer_id",
            "email",
            "name",
            "phone",
            "locale",
            "time_zone",
            "birthday",
            "acquisition_channel",
            "marketing_consent",
            "survey_consent",
            "first_seen",
            "created_at",
            "updated_at",
            "erased_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at", "erased_at"]

    def validate_customer_id(self, value):
        if not value:
            return None
        others = Customer.objects.filter(external_id=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError(_("A customer with this customer_id exists."))
        return value

    def validate_email(self, value):
        if not value:
            return None
        others = Customer.objects.with_email(value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        other = others.first()
        if other is not None:
            raise serializers.ValidationError(
                _("%(email)s is the email of customer %(other)s.")
                % {"email": value, "other": other.external_id or other.pk}
            )
        return value

    def validate_time_zone(self, value):
        try:
            Customer._meta.get_field("time_zone").run_validators(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


@extend_schema_view(
    list=extend_schema(summary="List customers", description="Newest first; cursor-paginated."),
    retrieve=extend_schema(summary="One customer"),
    create=extend_schema(summary="Create a customer"),
    update=extend_schema(summary="Replace a customer's details"),
    partial_update=extend_schema(summary="Change some of a customer's details"),
)
class CustomerViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Customers can be created and changed here; they are removed in the admin only (a
    customer with orders is kept for the metrics). Their personal data can be erased."""

    queryset = Customer.objects.all()
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter

    @extend_schema(
        summary="Erase a customer's personal data",
        description=(
            "At the customer's request (the GDPR's right to erasure): name, email, phone, birthday, the "
            "texts and addresses of their messages, what they wrote in tickets, survey free-text answers "
            "and every personal link go; pending emails are cancelled. Orders, ticket times, survey scores "
            "and points stay. Needs the permission customers.erase_customer (the Support manager role)."
        ),
        request=None,
        responses={200: CustomerSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[permission_required("customers.erase_customer")])
    def erase(self, request, pk=None, format=None):
        customer = services.customer_erase(customer_id=self.get_object().pk, author=request.user)
        return Response(self.get_serializer(customer).data)


# --- Products ------------------------------------------------------------------------


class ProductSerializer(ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "sku", "name", "category", "price", "active", "created_at"]
        read_only_fields = ["id", "created_at"]


@extend_schema_view(
    list=extend_schema(summary="List products"),
    retrieve=extend_schema(summary="One product"),
    create=extend_schema(summary="Add a product", description="`sku` is unique: the shop's own product code."),
    update=extend_schema(summary="Replace a product's details"),
    partial_update=extend_schema(summary="Change some of a product's details"),
    destroy=extend_schema(
        summary="Delete a product",
        description="Refused (409) while order lines refer to it: set `active` to false instead.",
    ),
)
class ProductViewSet(viewsets.ModelViewSet):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    filterset_class = ProductFilter


# --- Orders --------------------------------------------------------------------------


# Orders are read-only through serializers (writes go through the services), so plain
# Serializers with declared fields: a ModelSerializer introspects the model again for
# every instance it is made for, a cost every POST /api/orders/ would pay.
class OrderLineSerializer(Serializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    product_name = serializers.CharField(source="product.name", read_only=True)
    quantity = serializers.IntegerField(read_only=True)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)


class OrderSerializer(Serializer):
    id = serializers.IntegerField(read_only=True)
    order_id = serializers.CharField(source="external_id", read_only=True)
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    customer_id = serializers.CharField(source="customer.external_id", read_only=True)
    placed_at = serializers.DateTimeField(read_only=True)
    total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    currency = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=OrderStatus.choices, read_only=True)
    discount_code = serializers.CharField(read_only=True)
    refunded_total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    lines = OrderLineSerializer(many=True, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


def plausible_moment(value):
    if value > timezone.now() + timedelta(days=1):
        raise serializers.ValidationError(_("is in the future."))
    if value.date() < EARLIEST_DAY:
        raise serializers.ValidationError(_("is before 1900."))


class LineInputSerializer(Serializer):
    sku = serializers.CharField(max_length=64)
    product_name = serializers.CharField(max_length=200, required=False, default="")
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)


class OrderCreateSerializer(Serializer):
    order_id = serializers.CharField(max_length=64)
    customer_id = serializers.CharField(max_length=64)
    placed_at = serializers.DateTimeField(validators=[plausible_moment])
    total = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    currency = serializers.CharField(max_length=3, required=False, default="", validators=[currency_validator])
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False, default=OrderStatus.PLACED)
    customer_email = serializers.EmailField(
        max_length=254, required=False, allow_null=True, allow_blank=True, default=None
    )
    customer_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    discount_code = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    lines = LineInputSerializer(many=True, required=False, default=list)

    def validate_currency(self, value):
        return value.upper()


class OrderUpdateSerializer(Serializer):
    placed_at = serializers.DateTimeField(required=False, validators=[plausible_moment])
    total = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    currency = serializers.CharField(max_length=3, required=False, validators=[currency_validator])
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
    discount_code = serializers.CharField(max_length=64, required=False, allow_blank=True)
    refunded_total = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        required=False,
        help_text=_("Money given back while the order stands (a partial refund); at most the total."),
    )


@extend_schema_view(
    list=extend_schema(summary="List orders", description="Newest first; cursor-paginated."),
    retrieve=extend_schema(summary="One order with its lines"),
)
class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Order.objects.select_related("customer").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.select_related("product").order_by("id"))
    )
    serializer_class = OrderSerializer
    filterset_class = OrderFilter

    @extend_schema(
        summary="Record an order (idempotent by order_id)",
        description=(
            "Creates the order, and its customer when the customer_id is new. Sending a known order_id "
            "again returns the stored order with 200 and changes nothing."
        ),
        request=OrderCreateSerializer,
        responses={201: OrderSerializer, 200: OrderSerializer},
    )
    def create(self, request, format=None):
        data = OrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        lines = [services.LineInput(**line) for line in values.pop("lines")]
        order, created = services.order_create(**values, lines=lines)
        if not created:  # the stored order, as stored
            order = self.get_queryset().get(pk=order.pk)
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="Change an order (status, total, currency, moment, discount code, partial refund)",
        request=OrderUpdateSerializer,
        responses={200: OrderSerializer},
    )
    def partial_update(self, request, pk=None, format=None):
        order = self.get_object()
        data = OrderUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.order_update(order=order, **data.validated_data)
        return Response(OrderSerializer(self.get_queryset().get(pk=order.pk)).data)


# --- Metrics -------------------------------------------------------------------------


class PeriodSerializer(Serializer):
    start = serializers.DateField(help_text=_("First day of the period (YYYY-MM-DD)."))
    end = serializers.DateField(help_text=_("Last day of the period, inclusive."))
    window_days = serializers.IntegerField(
        required=False, min_value=1, help_text=_("Activity window W in days; defaults to the setting (365).")
    )

    for_cohorts = False

    def validate(self, attrs):
        try:
            attrs["period"] = period_validate(
                start=attrs["start"],
                end=attrs["end"],
                window_days=attrs.get("window_days"),
                for_cohorts=self.for_cohorts,
            )
        except PeriodError as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from exc
        return attrs


class CohortPeriodSerializer(PeriodSerializer):
    """Cohorts do not use the activity window: any period whose end is not before its start."""

    window_days = None
    for_cohorts = True


def rate_field():
    return serializers.FloatField(allow_null=True, help_text=_("A percentage with 2 decimals; null when undefined."))


class RetentionFiguresSerializer(Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    window_days = serializers.IntegerField()
    customers_at_start = serializers.IntegerField()
    customers_at_end = serializers.IntegerField()
    new_customers = serializers.IntegerField()
    retention_rate = rate_field()
    churn_rate = rate_field()
    returning_customer_rate = rate_field()
    repeat_purchase_rate = rate_field()
    orders = serializers.IntegerField()
    revenue = serializers.FloatField()
    average_order_value = serializers.FloatField(allow_null=True)


class CohortSerializer(Serializer):
    cohort = serializers.CharField(help_text="YYYY-MM")
    customers = serializers.IntegerField()
    retention = serializers.ListField(child=serializers.FloatField())


class CohortsSerializer(Serializer):
    cohorts = CohortSerializer(many=True)


class MetricsView(APIView):
    permission_classes = [permission_required("customers.view_retention_metrics")]
    period_serializer = PeriodSerializer

    def period(self, request):
        data = self.period_serializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        return data.validated_data["period"]


class RetentionMetricsView(MetricsView):
    @extend_schema(
        summary="Retention figures for a period",
        description="The period table of METRICS.md: S, E, N, the rates, orders, revenue, average order value.",
        parameters=[PeriodSerializer],
        responses={200: RetentionFiguresSerializer, 400: OpenApiResponse(description="A refused period")},
    )
    def get(self, request):
        return Response(retention_figures(self.period(request)).as_json())


class CohortMetricsView(MetricsView):
    period_serializer = CohortPeriodSerializer

    @extend_schema(
        summary="The cohort matrix for a period",
        description="Cohorts by month of first counted order; retention[k] is the share active in month k.",
        parameters=[CohortPeriodSerializer],
        responses={200: CohortsSerializer, 400: OpenApiResponse(description="A refused period")},
    )
    def get(self, request):
        return Response({"cohorts": [cohort.as_json() for cohort in cohorts(self.period(request))]})


def register(router) -> None:
    router.register("customers", CustomerViewSet)
    router.register("products", ProductViewSet)
    router.register("orders", OrderViewSet)


urlpatterns = [
    path("metrics/retention/", RetentionMetricsView.as_view(), name="metrics-retention"),
    path("metrics/cohorts/", CohortMetricsView.as_view(), name="metrics-cohorts"),
]
