"""What the project learns about each customer from everything it holds (orders, tickets,
survey answers, points), and what staff do about customers at risk.

The scores are recomputed nightly by `insights.scoring.scores_compute` in set-based SQL;
docs/architecture.md ("Churn risk and CLV") gives the formulas."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer


class NpsGroup(models.TextChoices):
    PROMOTER = "promoter", _("Promoter")
    PASSIVE = "passive", _("Passive")
    DETRACTOR = "detractor", _("Detractor")


class CustomerScore(models.Model):
    """One row per customer, as of `computed_at` (the last nightly run)."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, primary_key=True, related_name="score", verbose_name=_("customer")
    )
    orders = models.IntegerField(_("orders"), default=0)  # counted orders, ever
    revenue = models.DecimalField(_("lifetime revenue"), max_digits=14, decimal_places=2, default=0)
    first_order_at = models.DateTimeField(_("first order"), null=True, blank=True)
    last_order_at = models.DateTimeField(_("last order"), null=True, blank=True)
    # The customer's own rhythm: mean days between their counted orders (two or more).
    usual_gap_days = models.FloatField(_("usual days between orders"), null=True, blank=True)
    products = models.IntegerField(_("distinct products bought"), default=0)
    predicted_clv = models.DecimalField(_("predicted CLV"), max_digits=14, decimal_places=2, default=0)
    churn_risk = models.PositiveSmallIntegerField(_("churn risk"), default=0)  # 0–100
    # The four parts of the risk, kept so that staff can see why a customer is at risk.
    risk_rhythm = models.PositiveSmallIntegerField(_("risk from buying rhythm"), default=0)
    risk_complaints = models.PositiveSmallIntegerField(_("risk from complaints"), default=0)
    risk_surveys = models.PositiveSmallIntegerField(_("risk from survey answers"), default=0)
    risk_points = models.PositiveSmallIntegerField(_("risk from expiring points"), default=0)
    nps_group = models.CharField(_("NPS group"), max_length=10, choices=NpsGroup.choices, blank=True)
    # churn_risk / 100 × predicted_clv: what the work queue sorts by.
    value_at_risk = models.DecimalField(_("value at risk"), max_digits=14, decimal_places=2, default=0)
    computed_at = models.DateTimeField(_("computed"))

    class Meta:
        verbose_name = _("customer score")
        verbose_name_plural = _("customer scores")
        indexes = [
            models.Index(fields=["-value_at_risk"], name="score_value_at_risk", condition=Q(churn_risk__gt=0)),
            models.Index(fields=["churn_risk"], name="score_churn_risk"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(churn_risk__lte=100), name="score_churn_risk_at_most_100"),
        ]
        permissions = [("view_dashboard", _("Can view the retention dashboard"))]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.churn_risk}"


class AtRiskCustomer(CustomerScore):
    """The admin's work queue: customers at risk, the most valuable first."""

    class Meta:
        proxy = True
        verbose_name = _("customer at risk")
        verbose_name_plural = _("customers at risk")


class Outcome(models.TextChoices):
    OPEN = "open", _("In progress")
    REACHED = "reached", _("Reached, staying")
    ORDERED = "ordered", _("Ordered again")
    NO_ANSWER = "no_answer", _("No answer")
    LOST = "lost", _("Lost")
    NOT_NEEDED = "not_needed", _("Not needed")


class Outreach(models.Model):
    """A member of staff took an at-risk customer from the work queue: what they did and
    how it ended. One open outreach per customer at a time."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="outreaches", verbose_name=_("customer")
    )
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("taken by")
    )
    taken_at = models.DateTimeField(_("taken"), default=timezone.now)
    churn_risk = models.PositiveSmallIntegerField(_("churn risk when taken"))
    value_at_risk = models.DecimalField(_("value at risk when taken"), max_digits=14, decimal_places=2)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.OPEN)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("outreach")
        verbose_name_plural = _("outreach")
        constraints = [
            models.UniqueConstraint(
                fields=["customer"], condition=Q(closed_at__isnull=True), name="one_open_outreach_per_customer"
            ),
        ]
        indexes = [models.Index(fields=["taken_by", "-taken_at"], name="outreach_taken_by")]

    def __str__(self) -> str:
        return f"{self.customer} ({self.get_outcome_display()})"


class Segment(models.Model):
    """A saved, named filter over customers (insights.segments says what the rules mean)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True, max_length=2000)
    rules = models.JSONField(_("rules"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("created by"),
    )  # fmt: skip
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name
