"""Loyalty in the admin: the program's rules (one page), tiers and rewards with a text
box per language, accounts with balance and tier, the ledger read-only (changed only by
the adjustment action, with a reason), redemptions, the liability report, and goodwill
points from a ticket."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext_lazy as _

from customers.admin import FastListMixin
from feedback.admin import TicketAdmin, customer_url
from retention_crm.admin_forms import (
    ReadOnlyAdminMixin,
    TolerantAutocompleteMixin,
    TranslatedTextsForm,
    action_form_page,
)
from retention_crm.errors import Conflict
from retention_crm.idempotency import form_submission_key, one_time_token_field

from . import services
from .models import Account, Entry, EntryKind, Program, Redemption, Reward, Tier
from .selectors import describe, liability

# --- The rules ---------------------------------------------------------------------------


class ProgramForm(forms.ModelForm):
    earning_statuses = forms.MultipleChoiceField(
        label=capfirst(_("order statuses that earn")),
        choices=[("placed", _("Placed")), ("paid", _("Paid")), ("fulfilled", _("Fulfilled"))],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("An order earns once, when it first has one of these statuses."),
    )

    class Meta:
        model = Program
        fields = "__all__"  # noqa: DJ007 (the admin's fieldsets choose and order them)


@admin.register(Program)
class ProgramAdmin(TolerantAutocompleteMixin, admin.ModelAdmin):
    form = ProgramForm
    autocomplete_fields = ("welcome_reward",)
    fieldsets = (
        (_("Earning"), {"fields": ("points_per_unit", "rounding", "currency", "earning_statuses", "pending_days")}),
        (_("Spending"), {"fields": ("expiry_months", "min_order_to_use_points", "point_value")}),
        (_("Tiers"), {"fields": ("tier_basis", "tier_window_months", "downgrade_grace_days")}),
        (
            _("Bonuses"),
            {
                "fields": (
                    "welcome_reward",
                    "birthday_points",
                    "referrer_points",
                    "referee_points",
                    "referral_bonus_every",
                    "referral_bonus_points",
                    "goodwill_cap_per_ticket",
                )
            },
        ),
    )

    def changelist_view(self, request, extra_context=None):
        # One set of rules: the list is the page of that one row.
        program = services.program_rules()
        return HttpResponseRedirect(reverse("admin:loyalty_program_change", args=[program.pk]))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TierForm(TranslatedTextsForm):
    translated = ("names", "benefits")
    required_in_english = ("names",)
    multiline = ("benefits",)

    class Meta:
        model = Tier
        fields = ["rank", "threshold", "multiplier", "membership_product", "membership_months"]


@admin.register(Tier)
class TierAdmin(TolerantAutocompleteMixin, admin.ModelAdmin):
    form = TierForm
    list_display = ("__str__", "rank", "threshold", "multiplier", "membership_product", "members")
    autocomplete_fields = ("membership_product",)

    @admin.display(description=_("members"))
    def members(self, tier):
        return tier.accounts.count()


class RewardForm(TranslatedTextsForm):
    translated = ("names", "descriptions")
    required_in_english = ("names",)
    multiline = ("descriptions",)

    class Meta:
        model = Reward
        fields = ["kind", "cost", "value", "stock", "code_valid_days", "active"]


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    form = RewardForm
    list_display = ("__str__", "kind", "cost", "value", "stock", "active")
    list_filter = ("kind", "active")
    search_fields = ("names",)


# --- Accounts and their ledger -----------------------------------------------------------


class AdjustForm(forms.Form):
    points = forms.IntegerField(
        label=_("Points"),
        help_text=_("Positive to add, negative to take away."),
        min_value=-1_000_000,
        max_value=1_000_000,
    )
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    # One adjustment per account and page load, however often "Apply" is pressed.
    submission = one_time_token_field()

    def clean_points(self):
        if self.cleaned_data["points"] == 0:
            raise ValidationError(_("Give a whole number of points other than 0."))
        return self.cleaned_data["points"]


@admin.register(Account)
class AccountAdmin(FastListMixin, admin.ModelAdmin):
    list_display = ("customer_link", "balance", "pending", "tier", "tier_held_until", "referral_code", "created_at")
    list_select_related = ("customer", "tier")
    list_filter = ("tier",)
    search_fields = ("=customer__external_id", "=customer__email", "=referral_code")
    search_help_text = _("A customer id, a whole email address or a referral code.")
    ordering = ("-created_at",)
    actions = ("adjust_points",)
    fields = (
        "customer_link",
        "balance",
        "pending",
        "tier",
        "tier_since",
        "tier_held_until",
        "below_tier_since",
        "referral_code",
        "created_at",
        "ledger_link",
    )
    readonly_fields = fields

    @admin.display(description=_("customer"), ordering="customer_id")
    def customer_link(self, account):
        return format_html('<a href="{}">{}</a>', customer_url(account.customer_id), account.customer)

    @admin.display(description=_("ledger"))
    def ledger_link(self, account):
        url = reverse("admin:loyalty_entry_changelist") + f"?account__exact={account.pk}"
        return format_html('<a href="{}">{}</a>', url, _("All entries"))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Every field is the ledger's or the tier evaluation's: the page is to read, with
        # no Save buttons that would save nothing. Points change through the action.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_adjust_permission(self, request):
        return request.user.has_perm("loyalty.add_entry")

    @admin.action(description=_("Adjust points…"), permissions=["adjust"])
    def adjust_points(self, request, queryset):
        form = AdjustForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done, refused = 0, []
            data = form.cleaned_data
            for account in queryset.select_related("customer"):
                key = form_submission_key(data["submission"], str(account.pk), str(data["points"]), data["reason"])
                try:
                    services.points_adjust(
                        customer=account.customer,
                        points=data["points"],
                        reason=data["reason"],
                        author=request.user,
                        key=key,
                    )
                    done += 1
                except Conflict as exc:
                    refused.append(f"{account.customer}: {' '.join(exc.messages)}")
            if done:
                adjusted = ngettext("%(count)d account adjusted.", "%(count)d accounts adjusted.", done)
                self.message_user(request, adjusted % {"count": done}, messages.SUCCESS)
            for message in refused:
                self.message_user(request, message, messages.ERROR)
            return None
        return action_form_page(self, request, form=form, title=_("Adjust points"), action="adjust_points")

    def get_urls(self):
        return [
            path(
                "liability/",
                self.admin_site.admin_view(self.liability_view),
                name="loyalty_account_liability",
            ),
            *super().get_urls(),
        ]

    def liability_view(self, request):
        if not request.user.has_perm("loyalty.view_loyalty_liability"):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Points liability"),
            "report": liability(),
        }
        return TemplateResponse(request, "admin/loyalty/liability.html", context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "liability_url": reverse("admin:loyalty_account_liability")
            if request.user.has_perm("loyalty.view_loyalty_liability")
            else None,
        }
        return super().changelist_view(request, extra_context)


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdminMixin, FastListMixin, admin.ModelAdmin):
    """The ledger, read-only: entries are written by the services alone."""

    list_display = ("created_at", "account", "kind", "points", "remaining", "pending", "expires_at", "what")
    list_select_related = ("account__customer", "order", "redemption__reward")
    list_filter = ("kind", "pending")
    search_fields = ("=account__customer__external_id", "=key")
    search_help_text = _("A customer id or an entry key (earn:order:42).")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Entry._meta.fields]

    @admin.display(description=_("reason"))
    def what(self, entry):
        # The stored reason is in the language active when the entry was written (a
        # task's English, an API client's); staff read what an entry means in their
        # own, as the customer does. A manager's adjustment or gift reads as written.
        if entry.kind in (EntryKind.ADJUST, EntryKind.GOODWILL):
            return entry.reason
        return describe(entry, get_language())


@admin.register(Redemption)
class RedemptionAdmin(FastListMixin, admin.ModelAdmin):
    list_display = ("created_at", "code", "account", "reward", "points", "status", "expires_at", "used_on")
    list_select_related = ("account__customer", "reward", "used_on")
    list_filter = ("status", "reward")
    search_fields = ("=code", "=account__customer__external_id")
    search_help_text = _("A reward code or a customer id.")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # written by redeeming and by the orders that use a code; read here

    def has_delete_permission(self, request, obj=None):
        return False


# --- Goodwill from a ticket --------------------------------------------------------------


class GoodwillForm(forms.Form):
    points = forms.IntegerField(label=_("Points"), min_value=1, max_value=1_000_000)
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)
    # One gift per ticket and page load, however often "Apply" is pressed.
    submission = one_time_token_field()


@admin.action(description=_("Give goodwill points…"), permissions=["goodwill"])
def give_goodwill(modeladmin, request, queryset):
    """Points for the customer of each chosen ticket, within the program's cap per ticket."""
    form = GoodwillForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        data = form.cleaned_data
        for ticket in queryset.select_related("customer"):
            try:
                services.points_goodwill(
                    ticket=ticket,
                    points=data["points"],
                    reason=data["reason"],
                    author=request.user,
                    key=form_submission_key(data["submission"], str(ticket.pk), str(data["points"]), data["reason"]),
                )
                modeladmin.message_user(
                    request,
                    _("%(points)d goodwill points given to %(customer)s (%(reference)s).")
                    % {
                        "points": form.cleaned_data["points"],
                        "customer": ticket.customer,
                        "reference": ticket.reference,
                    },
                    messages.SUCCESS,
                )
            except Conflict as exc:
                modeladmin.message_user(request, f"{ticket.reference}: {' '.join(exc.messages)}", messages.ERROR)
        return None
    cap = services.program_rules().goodwill_cap_per_ticket
    return action_form_page(
        modeladmin,
        request,
        form=form,
        title=_("Give goodwill points"),
        action="give_goodwill",
        intro=_("At most %(cap)d points per ticket in all.") % {"cap": cap},
    )


def _add_goodwill_action() -> None:
    """The feedback app knows nothing of loyalty: the action is added to its admin here."""
    TicketAdmin.actions = (*(TicketAdmin.actions or ()), give_goodwill)
    TicketAdmin.has_goodwill_permission = lambda self, request: request.user.has_perm("loyalty.add_entry")


_add_goodwill_action()
