"""What the project learns about each customer from everything it holds (orders, tickets,
survey answers, points), and what staff do about customers at risk.

The scores are recomputed nightly by `insights.scoring.scores_compute` in set-based SQL;
docs/architecture.md ("Churn risk and CLV") gives the formulas."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from retention_crm.texts import TextsInLanguages


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
    # Whether their last resolved complaint was resolved by the date first promised;
    # None: no complaint resolved yet.
    last_promise_kept = models.BooleanField(_("last complaint's promise kept"), null=True, blank=True)
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


class ProductPair(models.Model):
    """Two products bought in the same order, and in how many counted orders (nightly)."""

    product_a = models.ForeignKey("customers.Product", on_delete=models.CASCADE, related_name="+")
    product_b = models.ForeignKey("customers.Product", on_delete=models.CASCADE, related_name="+")
    orders = models.IntegerField(_("orders"))

    class Meta:
        verbose_name = _("product pair")
        verbose_name_plural = _("product pairs")
        constraints = [models.UniqueConstraint(fields=["product_a", "product_b"], name="product_pair_once")]
        indexes = [models.Index(fields=["-orders"], name="product_pair_top")]

    def __str__(self) -> str:
        return f"{self.product_a_id} + {self.product_b_id}: {self.orders}"


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


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")


class WinBackCampaign(models.Model):
    """An offer emailed to a segment (insights.campaigns sends it and reports on it).
    With `split`, each customer gets variant A or B at random; B has its own texts and
    offer where they are given, A's otherwise."""

    name = models.CharField(_("name"), max_length=200)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="+", verbose_name=_("segment"))
    reward = models.ForeignKey(
        "loyalty.Reward", on_delete=models.PROTECT, related_name="+", verbose_name=_("offer"),
        help_text=_("Each customer gets a code of their own for this reward."),
    )  # fmt: skip
    subjects = models.JSONField(_("subject"), default=dict, validators=[TextsInLanguages(english_required=True)])
    bodies = models.JSONField(
        _("text"), default=dict, validators=[TextsInLanguages(english_required=True)],
        help_text=_("{name} is replaced with the customer's name; the code and the offer follow the text."),
    )  # fmt: skip
    split = models.BooleanField(
        _("A/B test"), default=False, help_text=_("Half of the customers, chosen at random, get variant B.")
    )
    reward_b = models.ForeignKey(
        "loyalty.Reward", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("offer of variant B"),
    )  # fmt: skip
    subjects_b = models.JSONField(_("subject of variant B"), default=dict, blank=True, validators=[TextsInLanguages()])
    bodies_b = models.JSONField(_("text of variant B"), default=dict, blank=True, validators=[TextsInLanguages()])
    measure_days = models.PositiveSmallIntegerField(
        _("count orders for (days)"), default=30, validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("A customer is won back by a counted order within this many days of the email."),
    )  # fmt: skip
    status = models.CharField(_("status"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    # A deadline row (DESIGN.md, mechanism 1): the minute sweep sends the next batch.
    send_at = models.DateTimeField(_("send from"), null=True, blank=True)
    cursor = models.BigIntegerField(default=0, editable=False)  # the last customer id handled
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    emailed = models.PositiveIntegerField(_("emailed"), default=0)
    skipped = models.PositiveIntegerField(_("not emailed"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("created by"),
    )  # fmt: skip
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("win-back campaign")
        verbose_name_plural = _("win-back campaigns")
        indexes = [models.Index(fields=["send_at"], name="winback_due", condition=Q(status="sending"))]

    def __str__(self) -> str:
        return self.name


class WinBackRecipient(models.Model):
    """One customer of a campaign: the variant drawn, the code given, or why no email."""

    campaign = models.ForeignKey(
        WinBackCampaign, on_delete=models.CASCADE, related_name="recipients", verbose_name=_("campaign")
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", verbose_name=_("customer"))
    variant = models.CharField(_("variant"), max_length=1, default="A")
    code = models.CharField(_("code"), max_length=32, blank=True)
    skipped = models.CharField(_("why not emailed"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("when"))

    class Meta:
        verbose_name = _("win-back recipient")
        verbose_name_plural = _("win-back recipients")
        constraints = [models.UniqueConstraint(fields=["campaign", "customer"], name="winback_once_per_customer")]
        indexes = [models.Index(fields=["customer", "-created_at"], name="winback_customer")]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.customer_id} ({self.variant})"
