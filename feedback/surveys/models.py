"""The rows of the survey feature. Facts about one row live here; writes that touch
several rows are in services.py."""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, ProhibitNullCharactersValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Order
from retention_crm.texts import (  # noqa: F401 (LANGUAGE_CODES and missing_languages: used by the survey modules)
    LANGUAGE_CODES,
    TextsInLanguages,
    in_language,
    missing_languages,
)
from retention_crm.tokens import link_mac


def _an_answer_value(value) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool) and str(value).strip() != ""


def validate_choices(value) -> None:
    """The admin's box takes any JSON; the survey page reads a list of choices, each
    with a value and perhaps a label per language. A label written as plain text, or a
    choice that was not an object, was a 500 on the customer's page. (The codes are not
    "invalid": a model form would show its field's "Enter a valid JSON." instead.)"""
    example = '[{"value": "price", "label": {"en": "The price", "da": "Prisen"}}]'
    if not isinstance(value, list) or not all(
        isinstance(choice, dict) and _an_answer_value(choice.get("value")) for choice in value
    ):
        raise ValidationError(
            _("Give a list of choices, each with a value, e.g. %(example)s."),
            code="choices",
            params={"example": example},
        )
    values = [str(choice["value"]) for choice in value]
    if len(set(values)) < len(values):
        raise ValidationError(_("Each choice needs a value of its own."), code="choices")
    for choice in value:
        ProhibitNullCharactersValidator()(str(choice["value"]))  # PostgreSQL refuses it in JSON text
        try:
            TextsInLanguages()(choice.get("label") or {})
        except ValidationError as problem:
            raise ValidationError(
                _("The label of %(value)s: %(problem)s"),
                code="choices",
                params={"value": choice["value"], "problem": " ".join(problem.messages)},
            ) from problem


def validate_show_if_values(value) -> None:
    """A list of the earlier question's answers; anything else was a 500 on the page."""
    if not isinstance(value, list) or not all(_an_answer_value(item) for item in value):
        raise ValidationError(_('Give a list of answers, e.g. ["0", "1", "2"].'), code="answers")
    for item in value:
        ProhibitNullCharactersValidator()(str(item))


def optional_link(to, *, related_name: str, verbose_name) -> models.ForeignKey:
    """A link that may be empty and outlives what it points to (SET NULL). Not indexed:
    Meta adds a partial index where a lookup needs one."""
    return models.ForeignKey(
        to,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name=related_name,
        verbose_name=verbose_name,
        db_index=False,
    )


class SurveyKind(models.TextChoices):
    NPS = "nps", _("NPS (0–10: would you recommend us?)")
    CSAT = "csat", _("CSAT (1–5: how satisfied were you?)")
    CLI = "cli", _("CLI (three questions, 1–6)")
    CUSTOM = "custom", _("Custom")


# The questions each standard kind's scores are computed from (METRICS.md): their keys
# and scales. A survey of that kind must ask each of them, required and unconditional.
SCORED_QUESTIONS = {
    SurveyKind.NPS: {"score": (0, 10)},
    SurveyKind.CSAT: {"score": (1, 5)},
    SurveyKind.CLI: {"recommend": (1, 6), "rebuy": (1, 6), "try": (1, 6)},
}


class Survey(models.Model):
    name = models.CharField(_("name"), max_length=200, help_text=_("For staff; customers see the title."))
    kind = models.CharField(_("kind"), max_length=10, choices=SurveyKind.choices, default=SurveyKind.CUSTOM)
    # Texts customers read, one per language: {"en": "…", "da": "…"}.
    title = models.JSONField(_("title"), default=dict, validators=[TextsInLanguages(english_required=True)])
    intro = models.JSONField(_("introduction"), default=dict, blank=True, validators=[TextsInLanguages()])
    active = models.BooleanField(_("active"), default=True)
    link_days = models.PositiveSmallIntegerField(
        _("link valid for (days)"), default=30, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    # Promoters (NPS 9–10) are thanked with this link: a review page, the referral program.
    promoter_link = models.URLField(_("link for promoters"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def title_in(self, language: str) -> str:
        return in_language(self.title, language) or self.name


class QuestionType(models.TextChoices):
    SCALE = "scale", _("Scale")
    SINGLE = "single", _("Single choice")
    MULTIPLE = "multiple", _("Multiple choice")
    TEXT = "text", _("Free text")


class Question(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions", verbose_name=_("survey"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    # The name of the answer in responses and exports; NPS and CSAT read "score", CLI
    # reads "recommend", "rebuy" and "try".
    key = models.SlugField(_("key"), max_length=40)
    type = models.CharField(_("type"), max_length=10, choices=QuestionType.choices, default=QuestionType.SCALE)
    text = models.JSONField(_("question"), default=dict, validators=[TextsInLanguages(english_required=True)])
    required = models.BooleanField(_("required"), default=True)
    scale_min = models.SmallIntegerField(_("scale from"), default=0)
    scale_max = models.SmallIntegerField(_("scale to"), default=10)
    low_label = models.JSONField(
        _("label of the lowest value"), default=dict, blank=True, validators=[TextsInLanguages()]
    )
    high_label = models.JSONField(
        _("label of the highest value"), default=dict, blank=True, validators=[TextsInLanguages()]
    )
    # [{"value": "price", "label": {"en": "The price", …}}, …]
    choices = models.JSONField(_("choices"), default=list, blank=True, validators=[validate_choices])
    max_length = models.PositiveIntegerField(_("longest answer (characters)"), default=2000)
    # Shown only when an earlier question was answered with one of these values.
    show_if_question = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("show only if this question"),
    )
    show_if_values = models.JSONField(
        _("was answered with"), default=list, blank=True, validators=[validate_show_if_values]
    )

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["survey", "key"], name="question_key_unique")]

    def __str__(self) -> str:
        return in_language(self.text) or self.key  # in the reader's language

    def text_in(self, language: str) -> str:
        return in_language(self.text, language)

    def choice_values(self) -> list[str]:
        if self.type == QuestionType.SCALE:
            return [str(value) for value in range(self.scale_min, self.scale_max + 1)]
        return [str(choice.get("value")) for choice in self.choices or []]

    def shown_for(self, answers: dict) -> bool:
        """Whether the question applies, given the answers so far."""
        if self.show_if_question_id is None:
            return True
        given = answers.get(self.show_if_question.key)
        given = given if isinstance(given, list) else [given]
        return any(str(value) in {str(wanted) for wanted in self.show_if_values} for value in given)


class TriggerKind(models.TextChoices):
    CSAT_AFTER_TICKET = "csat_after_ticket", _("After a ticket is resolved")
    NPS_PERIODIC = "nps_periodic", _("After the first paid order, then every N days")
    CLI_REPEAT = "cli_repeat", _("Repeat customers, every N days")


class SurveyTrigger(models.Model):
    """What sends invitations on its own, switched on and tuned by managers."""

    kind = models.CharField(_("trigger"), max_length=20, choices=TriggerKind.choices, unique=True)
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="+", verbose_name=_("survey"))
    enabled = models.BooleanField(_("switched on"), default=False)
    delay = models.DurationField(
        _("delay"),
        default=timedelta(hours=1),
        # An invitation's send time is worked out from it when a ticket is resolved: a
        # typo of a few more digits would put it past the year 9999 and fail that.
        validators=[
            MinValueValidator(timedelta(0), message=_("Cannot be negative.")),
            MaxValueValidator(timedelta(days=365), message=_("At most a year.")),
        ],
        help_text=_("After a resolved ticket: wait this long."),
    )
    first_after_days = models.PositiveSmallIntegerField(
        _("first after (days)"), default=14, help_text=_("Days after the first paid order.")
    )
    every_days = models.PositiveSmallIntegerField(_("then every (days)"), default=90, validators=[MinValueValidator(1)])
    # When the periodic selection last ran: the next run looks at what changed since.
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("survey trigger")
        verbose_name_plural = _("survey triggers")

    def __str__(self) -> str:
        return str(self.get_kind_display())

    def clean(self) -> None:
        """Each trigger asks its own kind of survey: its schedule and the figures made of
        the answers (CSAT per agent, NPS per month) go by that kind, so a survey of
        another kind would be sent on the wrong schedule and counted nowhere."""
        wanted = TRIGGER_SURVEY_KINDS[self.kind]
        if self.survey_id is not None and self.survey.kind != wanted:
            raise ValidationError(
                {
                    "survey": _("Choose a survey of the kind “%(kind)s”: this trigger sends those.")
                    % {"kind": wanted.label}
                }
            )


# The kind of survey each trigger sends.
TRIGGER_SURVEY_KINDS = {
    TriggerKind.CSAT_AFTER_TICKET: SurveyKind.CSAT,
    TriggerKind.NPS_PERIODIC: SurveyKind.NPS,
    TriggerKind.CLI_REPEAT: SurveyKind.CLI,
}


class InvitationSource(models.TextChoices):
    CSAT_AFTER_TICKET = "csat_after_ticket", _("After a resolved ticket")
    NPS_PERIODIC = "nps_periodic", _("NPS schedule")
    CLI_REPEAT = "cli_repeat", _("CLI schedule")
    RECOVERY = "recovery", _("Asked again after a recovery ticket")
    API = "api", _("API")
    STAFF = "staff", _("Staff")
    CAMPAIGN = "campaign", _("Campaign")
    EMBED = "embed", _("On the shop's pages")


class InvitationStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    SENT = "sent", _("Sent")
    OPENED = "opened", _("Opened")
    ANSWERED = "answered", _("Answered")
    SKIPPED = "skipped", _("Not sent (contact rules)")


class SurveyCampaign(models.Model):
    """A manager's choice of a survey and a set of customers (a filtered customer list)."""

    name = models.CharField(_("name"), max_length=200)
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="campaigns", verbose_name=_("survey"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("by")
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    selected = models.PositiveIntegerField(_("customers chosen"), default=0)
    invited = models.PositiveIntegerField(_("invited"), default=0)

    class Meta:
        verbose_name = _("survey campaign")
        verbose_name_plural = _("survey campaigns")

    def __str__(self) -> str:
        return self.name


# Not stored: read from `expires_at` (SurveyInvitation.current_status).
EXPIRED = "expired"


def new_token_salt() -> str:
    return secrets.token_hex(16)


class SurveyInvitationQuerySet(models.QuerySet):
    def due(self, now: datetime) -> "SurveyInvitationQuerySet":
        return self.filter(status=InvitationStatus.SCHEDULED, send_at__lte=now)


class SurveyInvitation(models.Model):
    """One customer asked one survey, through a personal link.

    The link is `/s/<id>.<mac>/`: the MAC is an HMAC-SHA256 under SECRET_KEY of the id and
    128 random bits kept on the row (`token_salt`). The token itself is stored nowhere, so
    a copy of the database opens nothing, and the same token can be written out again at
    any retry of the email (a copy the worker sent before it was killed still works).
    """

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="invitations", verbose_name=_("survey"))
    customer = models.ForeignKey(
        Customer,
        on_delete=models.CASCADE,
        related_name="survey_invitations",
        verbose_name=_("customer"),
        db_index=False,
    )
    source = models.CharField(_("source"), max_length=20, choices=InvitationSource.choices)
    ticket = optional_link("feedback.Ticket", related_name="survey_invitations", verbose_name=_("ticket"))
    order = optional_link(Order, related_name="+", verbose_name=_("order"))
    # The unhappy answer whose recovery ticket was resolved: this invitation asks again.
    recovery_of = optional_link("SurveyResponse", related_name="+", verbose_name=_("asks again after"))
    campaign = optional_link(SurveyCampaign, related_name="invitations", verbose_name=_("campaign"))
    # One invitation per cause ("csat:ticket:42", "nps:7:2026-11-30").
    key = models.CharField(_("key"), max_length=120, unique=True, null=True, blank=True)
    token_salt = models.CharField(max_length=32, default=new_token_salt, editable=False)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="en")
    status = models.CharField(
        _("status"), max_length=10, choices=InvitationStatus.choices, default=InvitationStatus.SCHEDULED
    )
    skip_reason = models.CharField(_("why not sent"), max_length=200, blank=True)
    # The sweep's deadline while scheduled.
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    objects = SurveyInvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("survey invitation")
        verbose_name_plural = _("survey invitations")
        indexes = [
            models.Index(fields=["send_at"], name="invitation_due", condition=Q(status="scheduled")),
            # The fatigue rule and a customer's history: their latest invitations first.
            models.Index(fields=["customer", "-created_at"], name="invitation_customer"),
            models.Index(fields=["ticket"], name="invitation_ticket", condition=Q(ticket__isnull=False)),
            models.Index(fields=["survey", "-created_at"], name="invitation_survey"),
            models.Index(fields=["campaign"], name="invitation_campaign", condition=Q(campaign__isnull=False)),
            # Deleting an order or a response checks what points to it: without these,
            # a scan of every invitation per deleted row.
            models.Index(fields=["order"], name="invitation_order", condition=Q(order__isnull=False)),
            models.Index(fields=["recovery_of"], name="invitation_recovery_of", condition=Q(recovery_of__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.survey} → {self.customer}"

    @property
    def token(self) -> str:
        return f"{self.pk}.{invitation_mac(self.pk, self.token_salt)}"

    def url(self) -> str:
        return settings.SITE_URL + reverse("survey", args=[self.token])

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def current_status(self, now: datetime) -> str:
        """The status with expiry read in: a sent or opened link past its date is "expired"."""
        if self.status in (InvitationStatus.SENT, InvitationStatus.OPENED) and self.is_expired(now):
            return EXPIRED
        return self.status

    def display_status(self, now: datetime) -> str:
        """The status as staff read it."""
        status = self.current_status(now)
        return str(_("Expired")) if status == EXPIRED else str(self.get_status_display())


def invitation_mac(invitation_id: int, salt: str) -> str:
    return link_mac("survey-invitation", invitation_id, salt)


def parse_token(token: str) -> tuple[int, str] | None:
    """(invitation id, MAC) of a link's token, or None when it cannot be one."""
    head, dot, mac = token.partition(".")
    # isascii: "²" and "١" are digits to isdigit, and int() refuses the first (a 500)
    if not dot or not (head.isascii() and head.isdigit()) or len(head) > 18 or len(mac) != 43:
        return None
    return int(head), mac


class SurveyResponse(models.Model):
    invitation = models.OneToOneField(
        SurveyInvitation, on_delete=models.CASCADE, related_name="response", verbose_name=_("invitation")
    )
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="responses", verbose_name=_("survey"))
    customer = models.ForeignKey(
        Customer,
        on_delete=models.CASCADE,
        related_name="survey_responses",
        verbose_name=_("customer"),
        db_index=False,
    )
    ticket = optional_link("feedback.Ticket", related_name="survey_responses", verbose_name=_("ticket"))
    order = optional_link(Order, related_name="+", verbose_name=_("order"))
    # The survey kind's headline: NPS 0–10, CSAT 1–5, CLI the mean of its three answers.
    score = models.DecimalField(_("score"), max_digits=4, decimal_places=2, null=True, blank=True)
    answers = models.JSONField(_("answers"), default=dict)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="en")
    unhappy = models.BooleanField(_("unhappy"), default=False)
    recovery_ticket = optional_link("feedback.Ticket", related_name="+", verbose_name=_("recovery ticket"))
    submitted_at = models.DateTimeField(_("submitted"), default=timezone.now)

    class Meta:
        verbose_name = _("survey response")
        verbose_name_plural = _("survey responses")
        indexes = [
            models.Index(fields=["submitted_at"], name="response_submitted"),
            models.Index(fields=["customer", "submitted_at"], name="response_customer"),
            models.Index(fields=["ticket"], name="response_ticket", condition=Q(ticket__isnull=False)),
            models.Index(fields=["order"], name="response_order", condition=Q(order__isnull=False)),
            models.Index(
                fields=["recovery_ticket"], name="response_recovery", condition=Q(recovery_ticket__isnull=False)
            ),
        ]
        permissions = [
            ("view_survey_metrics", _("Can view survey scores")),
            ("export_surveyresponse", _("Can export survey responses")),
        ]

    def __str__(self) -> str:
        return f"{self.survey}: {self.score if self.score is not None else '—'}"


class SurveyMonth(models.Model):
    """Responses per survey kind and month (TIME_ZONE), kept as they arrive, so a
    three-year NPS trend reads 36 rows. Rebuildable from the responses."""

    pk = models.CompositePrimaryKey("kind", "month")
    kind = models.CharField(max_length=10, choices=SurveyKind.choices)
    month = models.DateField()
    responses = models.IntegerField(default=0)
    scored = models.IntegerField(default=0)  # responses with a score
    score_sum = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    promoters = models.IntegerField(default=0)  # NPS 9–10
    detractors = models.IntegerField(default=0)  # NPS 0–6
    satisfied = models.IntegerField(default=0)  # CSAT 4–5

    class Meta:
        verbose_name = _("survey month")
        verbose_name_plural = _("survey months")

    def __str__(self) -> str:
        return f"{self.kind} {self.month:%Y-%m}"
