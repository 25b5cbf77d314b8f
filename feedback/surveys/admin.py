"""Surveys in the admin: the builder (a text box per language for every text a customer
reads, missing translations shown), a preview, the triggers managers switch on, the
invitations with their status, and the responses with filters and CSV/XLSX export."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Count, Q
from django.forms.models import BaseInlineFormSet
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.text import capfirst, format_lazy, slugify
from django.utils.translation import gettext_lazy as _
from import_export import fields

from customers.admin import CsvXlsxExportMixin, FastListMixin
from customers.models import Unsubscribe
from customers.resources import FormulaSafeResource
from retention_crm.admin_forms import LANGUAGE_NAMES, ShortDurationField, TranslatedTextsForm, action_form_page

from ..admin import customer_url, duration_column, in_red
from ..models import Ticket
from .models import (
    EXPIRED,
    LANGUAGE_CODES,
    SCORED_QUESTIONS,
    InvitationStatus,
    Question,
    QuestionType,
    Survey,
    SurveyCampaign,
    SurveyInvitation,
    SurveyKind,
    SurveyResponse,
    SurveyTrigger,
    missing_languages,
    validate_choices,
)
from .services import campaign_audience, survey_campaign_send
from .views import survey_fields


class AnswersField(forms.CharField):
    """Some answers of an earlier question written as "0, 1, 2" (or as the JSON list
    this box took before); the question keeps them as a list, which the model's
    validators check."""

    def prepare_value(self, value):
        return ", ".join(str(item) for item in value) if isinstance(value, list) else value

    def to_python(self, value):
        text = super().to_python(value)
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                pass
        return [part.strip() for part in text.split(",") if part.strip()]


def _boxes(name: str) -> list[str]:
    return [f"{name}__{code}" for code in LANGUAGE_CODES]


# A question in the builder: its words first, then what its type needs, then when it
# is shown.
QUESTION_LAYOUT = [
    "position",
    "key",
    "type",
    "required",
    *_boxes("text"),
    "scale_min",
    "scale_max",
    *_boxes("low_label"),
    *_boxes("high_label"),
    *_boxes("choices"),
    "max_length",
    "show_if_question",
    "show_if_values",
]


def _choice_box(code: str) -> forms.CharField:
    english = code == "en"
    return forms.CharField(
        label=format_lazy("{} ({})", capfirst(Question._meta.get_field("choices").verbose_name), LANGUAGE_NAMES[code]),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=(
            _(
                "One choice per line, as key: label (price: The price). Answers and conditions keep the key: keep it "
                "when you reword the label. A line without a key gets one made from its words."
            )
            if english
            else _("One line per English choice, in the same order; left empty, the English ones are shown.")
        ),
    )


class QuestionForm(TranslatedTextsForm):
    """A question of the survey builder. A choice question's choices are written one per
    line and language ("price: The price" in English, "Prisen" in Danish), not as the
    JSON the question keeps."""

    translated = ("text", "low_label", "high_label")
    required_in_english = ("text",)
    show_if_values = AnswersField(
        label=capfirst(Question._meta.get_field("show_if_values").verbose_name),
        required=False,
        help_text=_("E.g. 0, 1, 2: show the question only after one of these answers."),
    )
    # A box per language, named as the translated texts' are (choices__zh-hans is no
    # Python name, so they go into the class's namespace as the metaclass's boxes do).
    locals().update({f"choices__{code}": _choice_box(code) for code in LANGUAGE_CODES})

    class Meta:
        model = Question
        fields = [name for name in QUESTION_LAYOUT if "__" not in name]  # the rest are boxes per language

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = self.instance.choices or []
        if not (isinstance(choices, list) and all(isinstance(choice, dict) for choice in choices)):
            return
        labels = [choice.get("label") if isinstance(choice.get("label"), dict) else {} for choice in choices]
        english = [
            label.get("en") or str(choice.get("value", "")) for choice, label in zip(choices, labels, strict=True)
        ]
        lines = [f"{choice.get('value', '')}: {text}" for choice, text in zip(choices, english, strict=True)]
        self.initial.setdefault("choices__en", "\n".join(lines))
        for code in LANGUAGE_CODES:
            if code != "en" and any(label.get(code) for label in labels):
                # A choice not yet translated shows its English label, so the lines stay in step.
                texts = [label.get(code) or text for label, text in zip(labels, english, strict=True)]
                self.initial.setdefault(f"choices__{code}", "\n".join(texts))

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("scale_min"), cleaned.get("scale_max")
        if cleaned.get("type") == "scale" and low is not None and high is not None and not low < high <= low + 10:
            self.add_error("scale_max", _("A scale runs from a lower to a higher number, at most 11 points."))
        choices = self._choices(cleaned)
        if choices is not None:
            try:
                validate_choices(choices)
            except ValidationError as problem:
                self.add_error("choices__en", problem)
            else:
                if cleaned.get("type") in ("single", "multiple") and not choices:
                    self.add_error("choices__en", _("A choice question needs a list of choices, each with a value."))
                self.instance.choices = choices
        return cleaned

    def _choices(self, cleaned) -> list[dict] | None:
        """The choices the boxes describe, or None (the errors are on the boxes)."""
        choices = []
        for number, line in enumerate(_lines(cleaned.get("choices__en", "")), start=1):
            key, colon, label = (part.strip() for part in line.partition(":"))
            if not colon:
                key, label = slugify(line)[:40] or str(number), line
            if not key or not label:
                self.add_error("choices__en", _("Line %(line)d: write it as key: label.") % {"line": number})
                return None
            choices.append({"value": key, "label": {"en": label}})
        for code in (code for code in LANGUAGE_CODES if code != "en"):
            labels = _lines(cleaned.get(f"choices__{code}", ""))
            if labels and len(labels) != len(choices):
                message = _("Give one line per English choice (%(count)d), or leave the box empty.")
                self.add_error(f"choices__{code}", message % {"count": len(choices)})
                return None
            for choice, label in zip(choices, labels, strict=False):
                choice["label"][code] = label
        return choices


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class QuestionFormSet(BaseInlineFormSet):
    """The rules the questions of a survey obey together: the conditions, and the
    questions a standard kind's scores are computed from."""

    def clean(self):
        super().clean()
        kept = [form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        self._check_conditions(kept)
        self._check_scored_questions(kept)

    def _check_scored_questions(self, kept):
        """An NPS, CSAT or CLI survey's scores are computed from fixed questions: without
        one of them, or on another scale, the survey figures would quietly go wrong."""
        by_key = {form.instance.key: form.instance for form in kept}
        for key, (low, high) in SCORED_QUESTIONS.get(self.instance.kind, {}).items():
            question = by_key.get(key)
            if not (
                question is not None
                and question.type == QuestionType.SCALE
                and (question.scale_min, question.scale_max) == (low, high)
                and question.required
                and question.show_if_question_id is None
            ):
                raise ValidationError(
                    _(
                        "A survey of this kind needs the scale question “%(key)s” from %(low)d to %(high)d, "
                        "required and always shown: its scores are computed from it."
                    )
                    % {"key": key, "low": low, "high": high}
                )

    def _check_conditions(self, kept):
        """A condition names an earlier question of the same survey and some of its
        answers: the form shows a question after the one it depends on, and the answers
        are checked in order, so a condition on itself, a later question, another
        survey's question or an answer the question cannot have would hide the question
        for good."""
        saved = {form.instance.pk: form.instance for form in kept if form.instance.pk}
        for form in kept:
            condition = form.cleaned_data.get("show_if_question")
            if condition is None:
                continue
            question, earlier = form.instance, saved.get(condition.pk)
            if earlier is None or (earlier.position, earlier.pk) >= (question.position, question.pk or float("inf")):
                form.add_error("show_if_question", _("Choose an earlier question of this survey."))
                continue
            values = [str(value) for value in form.cleaned_data.get("show_if_values") or []]
            possible = earlier.choice_values()
            if not possible:
                form.add_error("show_if_question", _("A question can depend only on a scale or a choice question."))
            elif not values or not set(values) <= set(possible):
                form.add_error(
                    "show_if_values",
                    _("Give one or more answers of that question: %(possible)s.") % {"possible": ", ".join(possible)},
                )


class QuestionInline(admin.StackedInline):
    model = Question
    form = QuestionForm
    formset = QuestionFormSet
    fk_name = "survey"
    extra = 0
    ordering = ("position", "id")
    fields = QUESTION_LAYOUT

    class Media:
        js = ["admin/feedback/question_types.js"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "show_if_question":
            # Only this survey's questions (a new survey has none to depend on yet).
            survey_id = request.resolver_match.kwargs.get("object_id")
            survey_id = survey_id if survey_id and survey_id.isascii() and survey_id.isdigit() else None
            kwargs["queryset"] = Question.objects.filter(survey_id=survey_id).order_by("position", "id")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class SurveyForm(TranslatedTextsForm):
    translated = ("title", "intro")
    required_in_english = ("title",)
    multiline = ("intro",)
    promoter_link = forms.URLField(
        label=capfirst(_("link for promoters")),
        required=False,
        assume_scheme="https",
        help_text=_("Promoters (NPS 9–10) see it on the thank-you page: a review site or the referral program."),
    )

    class Meta:
        model = Survey
        fields = ["name", "kind", "active", "link_days", "promoter_link"]


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    form = SurveyForm
    inlines = [QuestionInline]
    list_display = ("name", "kind", "active", "questions_count", "missing_translations", "preview_link")
    list_filter = ("kind", "active")
    search_fields = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(question_count=Count("questions")).prefetch_related("questions")

    @admin.display(description=_("questions"), ordering="question_count")
    def questions_count(self, survey):
        return survey.question_count

    @admin.display(description=_("missing translations"))
    def missing_translations(self, survey):
        """The languages in which some text falls back to English."""
        missing = set(missing_languages(survey.title))
        for question in survey.questions.all():
            missing.update(missing_languages(question.text))
        return ", ".join(str(LANGUAGE_NAMES[code]) for code in LANGUAGE_CODES if code in missing) or "—"

    @admin.display(description=_("preview"))
    def preview_link(self, survey):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:feedback_survey_preview", args=[survey.pk]), _("Preview")
        )

    def get_urls(self):
        return [
            path(
                "<int:survey_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="feedback_survey_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request, survey_id: int):
        """The form as a customer sees it, in a chosen language; it sends nothing."""
        survey = get_object_or_404(Survey, pk=survey_id)
        if not self.has_view_permission(request, survey):
            raise PermissionDenied
        language = request.GET.get("language", "en")
        if language not in LANGUAGE_CODES:
            language = "en"
        with translation.override(language):
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "survey": survey,
                "title": _("Preview: %(survey)s") % {"survey": survey.name},
                "survey_title": survey.title_in(language),
                "fields": survey_fields(survey, {}, {}, language=language),
                "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGE_CODES],
                "language": language,
                "missing": [str(LANGUAGE_NAMES[code]) for code in missing_languages(survey.title)],
            }
        return render(request, "admin/feedback/survey_preview.html", context)


@admin.register(SurveyTrigger)
class SurveyTriggerAdmin(admin.ModelAdmin):
    list_display = (
        "kind",
        "survey",
        "enabled",
        duration_column(SurveyTrigger, "delay"),
        "first_after_days",
        "every_days",
    )
    formfield_overrides = {models.DurationField: {"form_class": ShortDurationField}}
    list_editable = ("enabled",)
    fields = ("kind", "survey", "enabled", "delay", "first_after_days", "every_days")
    readonly_fields = ("kind",)

    def has_add_permission(self, request):
        return False  # one row per trigger, made by a migration

    def has_delete_permission(self, request, obj=None):
        return False


class InvitationStatusFilter(admin.SimpleListFilter):
    """The statuses as staff read them: a sent or opened link past its date is expired."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [*InvitationStatus.choices, (EXPIRED, _("Expired"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        waiting = (InvitationStatus.SENT, InvitationStatus.OPENED)
        if self.value() == EXPIRED:
            return queryset.filter(status__in=waiting, expires_at__lte=now)
        if self.value() in waiting:
            return queryset.filter(status=self.value(), expires_at__gt=now)
        return queryset.filter(status=self.value()) if self.value() else queryset


@admin.register(SurveyInvitation)
class SurveyInvitationAdmin(FastListMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "survey",
        "customer_link",
        "source",
        "status_display",
        "send_at",
        "sent_at",
        "answered_at",
    )
    list_filter = (InvitationStatusFilter, "source", "survey")
    list_select_related = ("survey", "customer")
    search_fields = ("customer__email", "customer__external_id")
    readonly_fields = [field.name for field in SurveyInvitation._meta.fields if field.name != "token_salt"]
    exclude = ("token_salt",)

    @admin.display(description=_("customer"))
    def customer_link(self, invitation):
        return format_html('<a href="{}">{}</a>', customer_url(invitation.customer_id), invitation.customer)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, invitation):
        return invitation.display_status(timezone.now())

    def has_add_permission(self, request):
        return False  # invitations come from triggers, campaigns and the API

    def has_change_permission(self, request, obj=None):
        return False


class ResponseResource(FormulaSafeResource):
    survey = fields.Field(attribute="survey__name", column_name="survey")
    kind = fields.Field(attribute="survey__kind", column_name="kind")
    customer_id = fields.Field(attribute="customer__external_id", column_name="customer_id")
    customer_email = fields.Field(attribute="customer__email", column_name="customer_email")
    ticket = fields.Field(attribute="ticket_id", column_name="ticket")
    order_id = fields.Field(attribute="order__external_id", column_name="order_id")
    answers = fields.Field(column_name="answers")

    class Meta:
        model = SurveyResponse
        fields = (
            "id",
            "submitted_at",
            "survey",
            "kind",
            "customer_id",
            "customer_email",
            "ticket",
            "order_id",
            "score",
            "unhappy",
            "language",
            "answers",
        )
        export_order = fields

    def dehydrate_answers(self, response):
        return json.dumps(response.answers, ensure_ascii=False)


class KindFilter(admin.SimpleListFilter):
    title = _("survey kind")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return SurveyKind.choices

    def queryset(self, request, queryset):
        return queryset.filter(survey__kind=self.value()) if self.value() else queryset


@admin.register(SurveyResponse)
class SurveyResponseAdmin(FastListMixin, CsvXlsxExportMixin, admin.ModelAdmin):
    resource_classes = [ResponseResource]
    list_display = (
        "submitted_at",
        "survey",
        "customer_link",
        "score",
        "unhappy_display",
        "ticket_link",
        "recovery_link",
        "language",
    )
    list_filter = (KindFilter, "survey", "unhappy", "language", "submitted_at")
    list_select_related = ("survey", "customer")
    search_fields = ("customer__email", "customer__external_id")
    readonly_fields = [field.name for field in SurveyResponse._meta.fields if field.name != "id"]

    class Media:
        css = {"all": ["admin/feedback/queue.css"]}

    @admin.display(description=_("customer"))
    def customer_link(self, response):
        return format_html('<a href="{}">{}</a>', customer_url(response.customer_id), response.customer)

    @admin.display(description=_("unhappy"), ordering="unhappy")
    def unhappy_display(self, response):
        return in_red(_("Unhappy")) if response.unhappy else "—"

    def _ticket_link(self, ticket_id):
        if not ticket_id:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:feedback_ticket_change", args=[ticket_id]),
            Ticket(pk=ticket_id).reference,
        )

    @admin.display(description=_("ticket"))
    def ticket_link(self, response):
        return self._ticket_link(response.ticket_id)

    @admin.display(description=_("recovery ticket"))
    def recovery_link(self, response):
        return self._ticket_link(response.recovery_ticket_id)

    def has_add_permission(self, request):
        return False  # customers answer; staff read

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Unsubscribe)
class UnsubscribeAdmin(admin.ModelAdmin):
    list_display = ("email", "created_at")
    search_fields = ("email",)

    def has_change_permission(self, request, obj=None):
        return False


# --- Campaigns: a survey for the customers a manager filtered -------------------------------


class CampaignForm(forms.Form):
    survey = forms.ModelChoiceField(label=_("Survey"), queryset=Survey.objects.filter(active=True))
    name = forms.CharField(label=_("Campaign name"), max_length=200)
    timing = forms.ChoiceField(
        label=_("When"),
        choices=[
            ("now", _("Now (within a minute)")),
            ("morning", _("On each customer's next weekday morning, in their time zone")),
        ],
        initial="now",
        widget=forms.RadioSelect,
    )


@admin.action(description=_("Invite to a survey…"), permissions=["survey_campaign"])
def invite_to_survey(modeladmin, request, queryset):
    """First the form and how many of the chosen customers the contact rules let us ask;
    then, on "Send", the campaign. The chosen customers travel as the changelist's own
    selection (ids, or "all matching the filters")."""
    form = CampaignForm(request.POST if "send" in request.POST else None)
    if "send" in request.POST and form.is_valid():
        campaign = survey_campaign_send(
            survey=form.cleaned_data["survey"],
            customers=queryset,
            name=form.cleaned_data["name"],
            author=request.user,
            morning=form.cleaned_data["timing"] == "morning",
        )
        modeladmin.message_user(
            request,
            _("Campaign “%(name)s”: %(invited)d of %(selected)d customers invited.")
            % {"name": campaign.name, "invited": campaign.invited, "selected": campaign.selected},
            messages.SUCCESS,
        )
        return None
    return action_form_page(
        modeladmin,
        request,
        form=form,
        title=_("Invite to a survey"),
        action="invite_to_survey",
        template="admin/feedback/survey_campaign.html",
        audience=campaign_audience(queryset),
    )


def _add_campaign_action() -> None:
    """The customers app knows nothing of surveys: the action is added to its admin here."""
    from customers.admin import CustomerAdmin

    CustomerAdmin.actions = (*(CustomerAdmin.actions or ()), invite_to_survey)
    CustomerAdmin.has_survey_campaign_permission = lambda self, request: request.user.has_perm(
        "feedback.add_surveycampaign"
    )


_add_campaign_action()


@admin.register(SurveyCampaign)
class SurveyCampaignAdmin(admin.ModelAdmin):
    list_display = ("created_at", "name", "survey", "created_by", "selected", "invited", "answered")
    list_select_related = ("survey", "created_by")
    readonly_fields = ("name", "survey", "created_by", "created_at", "selected", "invited")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(answered_count=Count("invitations", filter=Q(invitations__status=InvitationStatus.ANSWERED)))
        )

    @admin.display(description=_("answered"), ordering="answered_count")
    def answered(self, campaign):
        return campaign.answered_count

    change_list_template = "admin/feedback/surveycampaign/change_list.html"

    def changelist_view(self, request, extra_context=None):
        # There is no Add button: say where a campaign starts.
        customers = reverse("admin:customers_customer_changelist")
        return super().changelist_view(request, {"customers_url": customers, **(extra_context or {})})

    def has_add_permission(self, request):
        return False  # made from the customer list: "Invite to a survey…"
