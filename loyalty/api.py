"""The loyalty API: accounts (by the shop's customer_id), the ledger (read; a manager's
adjustment is a POST), rewards, redemptions (POST honours Idempotency-Key; too few
points is a 409) and the referral code lookup (rate-limited)."""

import django_filters
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.models import Customer
from retention_crm import ratelimit
from retention_crm.api import IdCursorPagination, ModelSerializer, Serializer, permission_required
from retention_crm.db import Rows, rows_together
from retention_crm.idempotency import HEADER_PARAMETER, idempotent

from . import services
from .models import Account, Entry, EntryKind, Redemption, Reward
from .selectors import EXPIRING_SOON_DAYS, expiring_soon, liability, referral_link


def customer_by_id(customer_id: str) -> Customer:
    """The customer the shop knows by `customer_id`: a 400 naming the field when unknown."""
    return _known(Customer.objects.filter(external_id=customer_id).first())


def _known(customer: Customer | None) -> Customer:
    if customer is None:
        raise serializers.ValidationError({"customer_id": [_("No customer has this customer_id.")]})
    return customer


class AccountSerializer(ModelSerializer):
    customer_id = serializers.CharField(source="customer.external_id", read_only=True, allow_null=True)
    tier = serializers.SerializerMethodField()
    referral_url = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = [
            "customer",
            "customer_id",
            "balance",
            "pending",
            "tier",
            "tier_since",
            "tier_held_until",
            "referral_code",
            "referral_url",
            "created_at",
        ]

    def get_tier(self, account) -> str | None:
        return account.tier.name_in("en") if account.tier else None  # the same whatever Accept-Language says

    def get_referral_url(self, account) -> str:
        return referral_link(account)


class AccountDetailSerializer(AccountSerializer):
    expiring_soon = serializers.SerializerMethodField(
        help_text=_("Points that expire within 30 days unless spent first.")
    )

    class Meta(AccountSerializer.Meta):
        fields = [*AccountSerializer.Meta.fields, "expiring_soon"]

    def get_expiring_soon(self, account) -> int:
        return expiring_soon(account, now=timezone.now())


class AccountFilter(django_filters.FilterSet):
    tier = django_filters.NumberFilter(field_name="tier_id")
    min_balance = django_filters.NumberFilter(field_name="balance", lookup_expr="gte")

    class Meta:
        model = Account
        fields = ["tier", "min_balance"]


class AccountPagination(IdCursorPagination):
    ordering = "-customer_id"  # an account's key is its customer's


@extend_schema_view(
    list=extend_schema(summary="Loyalty accounts"),
    retrieve=extend_schema(
        summary="One customer's account, by the shop's customer_id",
        description=f"`expiring_soon`: points expiring within {EXPIRING_SOON_DAYS} days.",
    ),
)
class AccountViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Account.objects.select_related("customer", "tier")
    serializer_class = AccountSerializer
    filterset_class = AccountFilter
    lookup_field = "customer__external_id"
    lookup_url_kwarg = "customer_id"
    lookup_value_regex = "[^/\\x00]+"  # a NUL, which PostgreSQL refuses in text, is a 404
    pagination_class = AccountPagination

    def get_serializer_class(self):
        return AccountDetailSerializer if self.action == "retrieve" else AccountSerializer


class EntrySerializer(ModelSerializer):
    customer_id = serializers.CharField(source="account.customer.external_id", read_only=True, allow_null=True)

    class Meta:
        model = Entry
        fields = [
            "id",
            "account",
            "customer_id",
            "kind",
            "points",
            "key",
            "reason",
            "order",
            "redemption",
            "ticket",
            "pending",
            "available_at",
            "expires_at",
            "remaining",
            "created_at",
        ]


class AdjustmentSerializer(Serializer):
    customer_id = serializers.CharField(max_length=64)
    points = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000)
    reason = serializers.CharField(max_length=500)

    def validate_points(self, value):
        if value == 0:
            raise serializers.ValidationError(_("Give a whole number of points other than 0."))
        return value


class EntryFilter(django_filters.FilterSet):
    customer_id = django_filters.CharFilter(field_name="account__customer__external_id")
    kind = django_filters.ChoiceFilter(choices=EntryKind.choices)

    class Meta:
        model = Entry
        fields = ["customer_id", "kind"]


@extend_schema_view(
    list=extend_schema(summary="Ledger entries, newest first"), retrieve=extend_schema(summary="One ledger entry")
)
class EntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Entry.objects.select_related("account__customer")
    serializer_class = EntrySerializer
    filterset_class = EntryFilter

    @extend_schema(
        summary="A manager's adjustment (points up or down, with the reason)",
        request=AdjustmentSerializer,
        responses={201: EntrySerializer, 409: OpenApiResponse(description="Would take the balance below zero.")},
        parameters=[HEADER_PARAMETER],
    )
    def create(self, request, format=None):
        data = AdjustmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        customer = customer_by_id(values["customer_id"])

        def work():
            entry = services.points_adjust(
                customer=customer, points=values["points"], reason=values["reason"], author=request.user
            )
            return Response(EntrySerializer(entry).data, status=status.HTTP_201_CREATED)

        return idempotent(request, work)


class RewardSerializer(ModelSerializer):
    class Meta:
        model = Reward
        fields = [
            "id",
            "kind",
            "names",
            "descriptions",
            "cost",
            "value",
            "stock",
            "code_valid_days",
            "active",
            "created_at",
        ]


@extend_schema_view(
    list=extend_schema(summary="Rewards"),
    retrieve=extend_schema(summary="One reward"),
    create=extend_schema(summary="Add a reward"),
    update=extend_schema(summary="Replace a reward"),
    partial_update=extend_schema(summary="Change some of a reward", description="E.g. `active`, `cost` or `stock`."),
    destroy=extend_schema(summary="Delete a reward"),
)
class RewardViewSet(viewsets.ModelViewSet):
    queryset = Reward.objects.all()
    serializer_class = RewardSerializer
    filterset_fields = ["active", "kind"]


class RedemptionSerializer(ModelSerializer):
    customer_id = serializers.CharField(source="account.customer.external_id", read_only=True, allow_null=True)
    balance = serializers.SerializerMethodField(help_text=_("The balance after this redemption (on creation)."))

    class Meta:
        model = Redemption
        fields = [
            "id",
            "account",
            "customer_id",
            "reward",
            "points",
            "code",
            "status",
            "expires_at",
            "used_on",
            "created_at",
            "balance",
        ]

    def get_balance(self, redemption) -> int | None:
        return self.context.get("balance")


class RedeemSerializer(Serializer):
    customer_id = serializers.CharField(max_length=64)
    reward = serializers.IntegerField(min_value=1)


class RedemptionFilter(django_filters.FilterSet):
    customer_id = django_filters.CharFilter(field_name="account__customer__external_id")
    code = django_filters.CharFilter(field_name="code")

    class Meta:
        model = Redemption
        fields = ["customer_id", "code", "status"]


@extend_schema_view(
    list=extend_schema(summary="Redemptions, newest first"), retrieve=extend_schema(summary="One redemption")
)
class RedemptionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Redemption.objects.select_related("account__customer")
    serializer_class = RedemptionSerializer
    filterset_class = RedemptionFilter

    @extend_schema(
        summary="Redeem points for a reward",
        description=(
            "Takes the reward's cost from the customer's available points (those expiring first) and returns "
            "a unique code an order can carry as its discount_code. Send an Idempotency-Key header to make a "
            "retry safe: a replay returns the first answer; the same key with another body is a 422."
        ),
        request=RedeemSerializer,
        responses={
            201: RedemptionSerializer,
            404: OpenApiResponse(description="Unknown reward."),
            409: OpenApiResponse(description="Too few points, or the reward is out of stock or withdrawn."),
        },
        parameters=[HEADER_PARAMETER],
    )
    def create(self, request, format=None):
        data = RedeemSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The customer and the reward in one round trip: a checkout waits for this.
        customers, rewards = rows_together(
            Rows(Customer, "external_id = %s", [data.validated_data["customer_id"]]),
            Rows(Reward, "id = %s", [data.validated_data["reward"]]),
        )
        customer = _known(next(iter(customers), None))
        if not rewards:
            raise NotFound(_("No reward has this id."))
        reward = rewards[0]

        def work():
            redeemed = services.points_redeem(customer=customer, reward=reward)
            serializer = RedemptionSerializer(redeemed.redemption, context={"balance": redeemed.balance})
            return Response(serializer.data, status=status.HTTP_201_CREATED)

        return idempotent(request, work)


# Referral lookups per client and hour: enough for a checkout, too few to guess codes
# (31^8 codes; 60 guesses an hour find one of a million members once in 14,000 hours).
REFERRAL_LOOKUPS_PER_HOUR = 60


class ReferralLookupView(APIView):
    """Is this a member's referral code? For the shop's checkout before it sends the
    order carrying the code."""

    permission_classes = [permission_required("loyalty.view_account")]

    @extend_schema(
        summary="Look up a referral code",
        responses={
            200: OpenApiResponse(description="`{code, valid: true, referee_points}`"),
            404: OpenApiResponse(description="No member has this code."),
            429: OpenApiResponse(description="Too many lookups from this client in the hour."),
        },
    )
    def get(self, request, code: str):
        subject = f"{request.user.pk}:{ratelimit.client_ip(request)}"
        if not ratelimit.allow("referral-lookup", subject, limit=REFERRAL_LOOKUPS_PER_HOUR, window_seconds=3600):
            raise Throttled(detail=_("Too many referral code lookups; try again within the hour."))
        account = Account.objects.filter(referral_code=services.normalise_code(code)).first()
        if account is None:
            raise NotFound(_("No member has this referral code."))
        return Response(
            {
                "code": account.referral_code,
                "valid": True,
                "referee_points": services.program_rules().referee_points,
            }
        )


class LiabilitySerializer(Serializer):
    accounts = serializers.IntegerField()
    points_available = serializers.IntegerField()
    points_pending = serializers.IntegerField()
    point_value = serializers.DecimalField(max_digits=8, decimal_places=4)
    value = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text=_("What the outstanding points would cost.")
    )
    currency = serializers.CharField()
    earned_12_months = serializers.IntegerField()
    redeemed_12_months = serializers.IntegerField()
    expired_12_months = serializers.IntegerField()
    redemption_rate = serializers.DecimalField(
        max_digits=6, decimal_places=2, allow_null=True, help_text=_("Redeemed / earned in the last 12 months, %.")
    )


class LiabilityView(APIView):
    """Outstanding points and what they are worth (the liability report)."""

    permission_classes = [permission_required("loyalty.view_loyalty_liability")]

    @extend_schema(summary="Outstanding points and their value", responses={200: LiabilitySerializer})
    def get(self, request):
        return Response(liability().as_dict())


def register(router) -> None:
    router.register("loyalty/accounts", AccountViewSet)
    router.register("loyalty/entries", EntryViewSet)
    router.register("loyalty/rewards", RewardViewSet)
    router.register("loyalty/redemptions", RedemptionViewSet)


urlpatterns = [
    path("loyalty/referrals/<str:code>/", ReferralLookupView.as_view(), name="loyalty-referral-lookup"),
    path("loyalty/liability/", LiabilityView.as_view(), name="loyalty-liability"),
]
