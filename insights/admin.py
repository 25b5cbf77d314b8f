"""The customer 360 page, the at-risk work queue and outreach, in the admin."""

import copy

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Subquery
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext_lazy as _

from customers.admin import CustomerAdmin, FastListMixin
from customers.models import Customer, Entry
from retention_crm.admin_forms import LANGUAGE_NAMES, ReadOnlyAdminMixin, TranslatedTextsForm
from retention_crm.texts import LANGUAGE_CODES

from .campaigns import campaign_launch, campaign_results, won_back_orders
from .customer360 import customer_figures, parse_cursor, timeline
from .models import AtRiskCustomer, CampaignStatus, Outcome, Outreach, Segment, WinBackCampaign, WinBackRecipient
from .personal_data import PERSONAL_DATA_PERMISSION, personal_data_response
from .segments import SegmentRules, segment_customers
from .services import outreach_close, outreach_take

# --- Customer 360 ---------------------------------------------------------------------


class SegmentListFilter(admin.SimpleListFilter):
    """Narrows the customer list to a segment: what the list's export then exports and
    what its survey campaign action then invites."""

    title = _("segment")
    parameter_name = "segment"

    def lookups(self, request, model_admin):
        return list(Segment.objects.values_list("pk", "name"))

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        segment = Segment.objects.filter(pk=self.value()).first()
        if segment is None:
            return queryset.none()
        try:
            members = segment_customers(segment.rules)
        except ValueError:
            return queryset.none()  # rules that no longer hold (the segment page says why)
        return queryset.filter(pk__in=members.values("pk"))


class Customer360Admin(CustomerAdmin):
    """The customers app's admin, with the page that shows everything about one person."""

    list_filter = (SegmentListFilter, *CustomerAdmin.list_filter)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            events, older = timeline(obj, cursor=parse_cursor(request.GET.get("before")), language=get_language())
            context.update(
                figures=customer_figures(obj),
                events=events,
                older_url=f"?before={older}#customer-timeline" if older else "",
                newest_url="?#customer-timeline" if request.GET.get("before") else "",
                tickets=obj.tickets.order_by("-created_at").select_related("assignee")[:20],
                orders_url=reverse("admin:customers_order_changelist") + f"?customer__id__exact={obj.pk}",
                messages_url=reverse("admin:customers_message_changelist") + f"?customer__id__exact={obj.pk}",
                log_url=reverse("admin:customers_message_add") + f"?customer={obj.pk}",
            )
            if request.user.has_perm(PERSONAL_DATA_PERMISSION):
                context["personal_data_url"] = reverse("admin:customers_customer_personal_data", args=[obj.pk])
            if self.has_erase_permission(request):
                context["erase_url"] = reverse("admin:customers_customer_erase", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        return [
            path(
                "<int:customer_id>/personal-data/",
                self.admin_site.admin_view(self.personal_data_view),
                name="customers_customer_personal_data",
            ),
            *super().get_urls(),
        ]

    def personal_data_view(self, request, customer_id: int):
        """The customer's data as a JSON file, for their request to see it."""
        if not request.user.has_perm(PERSONAL_DATA_PERMISSION):
            raise PermissionDenied
        customer = get_object_or_404(Customer, pk=customer_id)
        response = personal_data_response(customer)
        response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}-personal-data.json"'
        return response


admin.site.unregister(Customer)
admin.site.register(Customer, Customer360Admin)


# --- The at-risk work queue -----------------------------------------------------------


class RiskFilter(admin.SimpleListFilter):
    title = _("churn risk")
    parameter_name = "risk"

    def lookups(self, request, model_admin):
        return [("high", _("High (60 and more)")), ("medium", _("Medium (30–59)")), ("low", _("Low (1–29)"))]

    def queryset(self, request, queryset):
        bands = {"high": (60, 100), "medium": (30, 59), "low": (1, 29)}
        if self.value() in bands:
            low, high = bands[self.value()]
            return queryset.filter(churn_risk__gte=low, churn_risk__lte=high)
        return queryset


class TakenFilter(admin.SimpleListFilter):
    title = _("outreach")
    parameter_name = "taken"

    def lookups(self, request, model_admin):
        return [("no", _("Nobody has taken them")), ("mine", _("Taken by me")), ("yes", _("Taken"))]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(taken_by_name__isnull=True)
        if self.value() == "yes":
            return queryset.filter(taken_by_name__isnull=False)
        if self.value() == "mine":
            return queryset.filter(taken_by_name=request.user.get_username())
        return queryset


@admin.register(AtRiskCustomer)
class AtRiskAdmin(ReadOnlyAdminMixin, FastListMixin, admin.ModelAdmin):
    list_display = (
        "customer_link",
        "churn_risk",
        "why",
        "predicted_clv",
        "value_at_risk",
        "last_order_date",
        "nps_group",
        "taken_by_name",
    )
    list_filter = (RiskFilter, TakenFilter, "nps_group")
    ordering = ("-value_at_risk", "customer_id")
    search_fields = ("customer__name", "customer__email", "customer__external_id")
    actions = ("take",)
    list_select_related = ("customer",)

    def get_queryset(self, request):
        open_outreach = Outreach.objects.filter(customer=OuterRef("customer"), closed_at__isnull=True)
        return (
            super()
            .get_queryset(request)
            # An erased customer cannot be reached any more: nothing to do for staff.
            .filter(churn_risk__gt=0, customer__erased_at__isnull=True)
            .annotate(taken_by_name=Subquery(open_outreach.values("taken_by__username")[:1]))
        )

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("insights.view_customerscore")

    @admin.display(description=_("customer"), ordering="customer__name")
    def customer_link(self, score):
        url = reverse("admin:customers_customer_change", args=[score.customer_id])
        return format_html('<a href="{}">{}</a>', url, score.customer)

    @admin.display(description=_("why"))
    def why(self, score):
        parts = [
            (score.risk_rhythm, _("overdue")),
            (score.risk_complaints, _("complaints")),
            (score.risk_surveys, _("unhappy answer")),
            (score.risk_points, _("points expiring")),
        ]
        return ", ".join(f"{label} {points}" for points, label in parts if points)

    @admin.display(description=_("last order"), ordering="last_order_at")
    def last_order_date(self, score):
        # The day is what matters in a queue of people who stopped buying; the full date
        # and time pushed the list wider than a laptop's screen.
        if score.last_order_at is None:
            return self.get_empty_value_display()
        return date_format(timezone.localtime(score.last_order_at), "SHORT_DATE_FORMAT")

    @admin.display(description=_("taken by"), ordering="taken_by_name")
    def taken_by_name(self, score):
        return score.taken_by_name or self.get_empty_value_display()

    @admin.action(description=_("Take these customers (I will contact them)"), permissions=["take"])
    def take(self, request, queryset):
        taken = outreach_take(customer_ids=list(queryset.values_list("customer_id", flat=True)), user=request.user)
        skipped = queryset.count() - len(taken)
        self.message_user(
            request,
            ngettext("You took %(count)d customer.", "You took %(count)d customers.", len(taken))
            % {"count": len(taken)},
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d was taken by someone else already.",
                    "%(count)d were taken by someone else already.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )

    def has_take_permission(self, request):
        return request.user.has_perm("insights.add_outreach")


# --- Outreach ---------------------------------------------------------------------------


class OutreachForm(forms.ModelForm):
    contact = forms.ChoiceField(
        label=_("What I did"),
        choices=[(Entry.CALL, _("Call")), (Entry.NOTE, _("Note")), (Entry.MEETING, _("Meeting"))],
        initial=Entry.CALL,
    )
    log = forms.CharField(
        label=_("What was said or done"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=5000,
        required=False,
        help_text=_("Goes on the customer's timeline."),
    )

    class Meta:
        model = Outreach
        fields = ("outcome",)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("outcome") and cleaned["outcome"] != Outcome.OPEN and not cleaned.get("log", "").strip():
            self.add_error("log", _("Say what you did before you close the outreach."))
        return cleaned


@admin.register(Outreach)
class OutreachAdmin(FastListMixin, admin.ModelAdmin):
    form = OutreachForm
    list_display = ("customer", "taken_by", "taken_at", "churn_risk", "value_at_risk", "outcome", "closed_at")
    list_filter = ("outcome", ("taken_by", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("customer", "taken_by")
    readonly_fields = ("customer_link", "taken_by", "taken_at", "churn_risk", "value_at_risk", "closed_at")
    fields = ("customer_link", "taken_by", "taken_at", "churn_risk", "value_at_risk", "outcome", "contact", "log")
    ordering = ("closed_at", "-taken_at")

    def has_add_permission(self, request):
        return False  # outreach starts from the work queue

    @admin.display(description=_("customer"))
    def customer_link(self, outreach):
        url = reverse("admin:customers_customer_change", args=[outreach.customer_id])
        return format_html('<a href="{}">{}</a>', url, outreach.customer)

    def save_model(self, request, obj, form, change):
        outreach_close(
            outreach=obj,
            outcome=form.cleaned_data["outcome"],
            contact=form.cleaned_data["contact"],
            log=form.cleaned_data.get("log", ""),
            author=request.user,
            now=timezone.now(),
        )


# --- Segments ---------------------------------------------------------------------------


class SegmentFormBase(forms.ModelForm):
    """The segment's name and description, and its rules as fields of their own (the
    rules' fields are SegmentRules', declared below; SegmentRules validates and stores
    them)."""

    class Meta:
        model = Segment
        fields = ("name", "description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rules_form = SegmentRules(self.data if self.is_bound else None)
        if not self.is_bound:
            self.initial.update(self.instance.rules)

    def clean(self):
        cleaned = super().clean()
        if not self.rules_form.is_valid():
            for field, errors in self.rules_form.errors.items():
                for error in errors:
                    if field == "__all__" or field not in self.errors:
                        self.add_error(None if field == "__all__" else field, error)
        return cleaned

    def save(self, commit=True):
        self.instance.rules = self.rules_form.rules()
        return super().save(commit)


SegmentForm = type("SegmentForm", (SegmentFormBase,), copy.deepcopy(SegmentRules.base_fields))


def members_url(segment: Segment) -> str:
    """The customer list filtered to the segment (where it is shown, exported, invited)."""
    return reverse("admin:customers_customer_changelist") + f"?segment={segment.pk}"


def segment_count(segment: Segment):
    """How many customers are in the segment now, or why its rules no longer hold."""
    try:
        return segment_customers(segment.rules).count()
    except ValueError as error:
        return format_html("<strong>{}</strong> {}", _("These rules no longer hold:"), error)


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ("name", "description", "members_link", "updated_at")
    search_fields = ("name",)
    readonly_fields = ("members_now",)

    def get_fieldsets(self, request, obj=None):
        rules = list(SegmentRules.base_fields)
        return [
            (None, {"fields": ("name", "description", *(("members_now",) if obj else ()))}),
            (_("Who is in it"), {"fields": rules, "description": _("Customers meeting every rule given.")}),
        ]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=_("customers now"))
    def members_now(self, segment):
        count = segment_count(segment)
        if not isinstance(count, int):
            return count
        return format_html('{} · <a href="{}">{}</a>', count, members_url(segment), _("Show, export or invite them"))

    @admin.display(description=_("customers"))
    def members_link(self, segment):
        # A link, not a count: counting every segment of the list would cost a query each.
        return format_html('<a href="{}">{}</a>', members_url(segment), _("Show"))


# --- Win-back campaigns -------------------------------------------------------------------


class WinBackCampaignForm(TranslatedTextsForm):
    translated = ("subjects", "bodies", "subjects_b", "bodies_b")
    required_in_english = ("subjects", "bodies")
    tall = ("bodies", "bodies_b")

    class Meta:
        model = WinBackCampaign
        fields = ["name", "segment", "reward", "measure_days", "split", "reward_b"]

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("split") and (
            cleaned.get("reward_b") or cleaned.get("subjects_b") or cleaned.get("bodies_b")
        ):
            self.add_error("split", _("Variant B is filled in: tick “A/B test”, or empty variant B."))
        return cleaned


@admin.register(WinBackCampaign)
class WinBackCampaignAdmin(admin.ModelAdmin):
    form = WinBackCampaignForm
    list_display = ("name", "segment", "status", "started_at", "emailed", "skipped", "won_back")
    list_filter = ("status",)
    list_select_related = ("segment",)
    actions = ("send",)
    readonly_fields = ("audience_now", "status", "started_at", "finished_at", "emailed", "skipped", "results")

    def get_fieldsets(self, request, obj=None):
        results = (
            _("Sending and results"),
            {"fields": ["status", "started_at", "finished_at", "emailed", "skipped", "results"]},
        )
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            # Sent (or sending): what customers got stays on record as it was.
            return [
                (None, {"fields": ["name", "segment", "audience_now", "reward", "measure_days"]}),
                (_("The email"), {"fields": ["email_a"]}),
                (_("Variant B (A/B test)"), {"fields": ["split", "reward_b", "email_b"]}),
                results,
            ]
        texts = [name for name in self.form.base_fields if "__" in name]
        a_texts = [name for name in texts if name.startswith(("subjects__", "bodies__"))]
        b_texts = [name for name in texts if name.startswith(("subjects_b__", "bodies_b__"))]
        return [
            (None, {"fields": ["name", "segment", "audience_now", "reward", "measure_days"]}),
            (_("The email"), {"fields": a_texts}),
            (_("Variant B (A/B test)"), {"fields": ["split", "reward_b", *b_texts], "classes": ["collapse"]}),
            results,
        ]

    def has_change_permission(self, request, obj=None):
        # A campaign that went out is a record: its page reads (every field shown read
        # only, as Django shows a page one may view but not change), without Save buttons.
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    @staticmethod
    def _texts(subjects: dict, bodies: dict):
        return format_html_join(
            "",
            "<p><strong>{}</strong> — {}<br>{}</p>",
            ((LANGUAGE_NAMES[code], subjects.get(code, "—"), bodies.get(code, "—")) for code in LANGUAGE_CODES),
        )

    @admin.display(description=_("the email"))
    def email_a(self, campaign):
        return self._texts(campaign.subjects, campaign.bodies)

    @admin.display(description=_("the email of variant B"))
    def email_b(self, campaign):
        return self._texts(campaign.subjects_b, campaign.bodies_b) if campaign.split else "—"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=_("customers in the segment now"))
    def audience_now(self, campaign):
        if not campaign.pk:
            return "—"
        return segment_count(campaign.segment)

    def get_queryset(self, request):
        # Who ordered again, counted in the list's one query (a subquery per campaign
        # row), not a query per row; per variant on the campaign's page.
        won = (
            WinBackRecipient.objects.filter(campaign=OuterRef("pk"), skipped="")
            .filter(Exists(won_back_orders()))
            .order_by()
            .values("campaign")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return super().get_queryset(request).annotate(won_back_count=Subquery(won))

    @admin.display(description=_("won back"), ordering="won_back_count")
    def won_back(self, campaign):
        if campaign.status == CampaignStatus.DRAFT:
            return "—"
        return f"{campaign.won_back_count or 0}/{campaign.emailed}"

    @admin.display(description=_("results"))
    def results(self, campaign):
        if not campaign.pk or campaign.status == CampaignStatus.DRAFT:
            return "—"
        rows = format_html_join(
            "",
            "<tr><th scope='row'>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    result.variant,
                    result.emailed,
                    result.won_back,
                    "—" if result.rate is None else f"{result.rate:.2f} %",
                    "—" if result.interval is None else f"{result.interval[0]:.2f} – {result.interval[1]:.2f} %",
                    result.revenue,
                )
                for result in campaign_results(campaign)
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table><p class='help'>{}</p>",
            _("Variant"), _("Emailed"), _("Ordered again"), _("Win-back rate"), _("Confidence interval (0.95)"),
            _("Revenue"),
            rows,
            ngettext(
                "Ordered again: a counted order within %(days)d day of the email. The interval is Wilson's.",
                "Ordered again: a counted order within %(days)d days of the email. The interval is Wilson's.",
                campaign.measure_days,
            ) % {"days": campaign.measure_days},
        )  # fmt: skip

    @admin.action(description=_("Send these campaigns now"), permissions=["change"])
    def send(self, request, queryset):
        started = [campaign for campaign in queryset if campaign_launch(campaign)]
        self.message_user(
            request,
            ngettext(
                "%(count)d campaign is being sent; the emails go out over the next minutes.",
                "%(count)d campaigns are being sent; the emails go out over the next minutes.",
                len(started),
            )
            % {"count": len(started)},
            messages.SUCCESS if started else messages.WARNING,
        )


class WonBackFilter(admin.SimpleListFilter):
    title = _("ordered again")
    parameter_name = "won"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(won_back=True)
        if self.value() == "no":
            return queryset.filter(won_back=False, skipped="")
        return queryset


@admin.register(WinBackRecipient)
class WinBackRecipientAdmin(ReadOnlyAdminMixin, FastListMixin, admin.ModelAdmin):
    """Who a campaign reached, with what, and who ordered again within its window."""

    list_display = ("customer", "campaign", "variant", "code", "skipped", "created_at", "ordered_again")
    list_filter = ("campaign", "variant", WonBackFilter)
    list_select_related = ("customer", "campaign")
    search_fields = ("customer__email", "customer__name", "code")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(won_back=Exists(won_back_orders()))

    @admin.display(description=_("ordered again"), boolean=True)
    def ordered_again(self, recipient):
        return None if recipient.skipped else recipient.won_back
