"""The staff interface for customers, orders and products.

Lists stay fast at millions of rows: the count is capped (no COUNT(*) over the whole
table on every page), a whole email address is looked up through its unique index, and
partial searches use the trigram indexes (PostgreSQL). Order writes go through the
services, so the retention aggregates stay exact.
"""

import csv
import uuid
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.core.validators import validate_email
from django.db.models import Q
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX

from retention_crm.admin_forms import TolerantAutocompleteMixin, action_form_page

from . import outbox, services
from .imports import customers as customer_rows
from .imports import orders as order_rows
from .imports.customers import customers_import
from .imports.orders import orders_import
from .models import Channel, Customer, Delivery, Entry, Message, Order, OrderLine, Product
from .resources import CustomerResource, OrderResource

# --- Lists that stay fast at a million rows ------------------------------------------


class CappedCountPaginator(Paginator):
    """Counts at most `cap` + 1 rows: past that the list says "more than 10,000".

    Counting a million rows on every page load costs more than the page itself; nobody
    pages that far (search and filters do the narrowing).
    """

    cap = 10_000

    @cached_property
    def count(self) -> int:
        # No ORDER BY: counting needs no sort, and sorting thousands of rows to count
        # them would cost more than the page.
        return self.object_list.order_by()[: self.cap + 1].count()

    @property
    def is_capped(self) -> bool:
        return self.count > self.cap


def looks_like_an_email(term: str) -> bool:
    try:
        validate_email(term)
    except ValidationError:
        return False
    return True


class FastListMixin:
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    ordering = ("-id",)

    # Django renders each row's checkbox through the form-widget templates, a large part
    # of a 50-row page; the same HTML, written directly.
    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj):
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            format_html(gettext("Select this object for an action - {}"), obj),
        )


# --- Import from the admin: the same service as the commands -------------------------


class ImportForm(forms.Form):
    file = forms.FileField(label=_("CSV file"), help_text=_("UTF-8, header row first; comma or semicolon."))
    skip_invalid = forms.BooleanField(
        label=_("Skip invalid rows"),
        required=False,
        help_text=_("Import the good rows and list the bad ones, instead of importing nothing."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.ADMIN_IMPORT_MAX_BYTES:
            raise ValidationError(
                _("The file is larger than %(size)d MB: use the import command on the server instead."),
                params={"size": settings.ADMIN_IMPORT_MAX_BYTES // (1024 * 1024)},
            )
        return upload


class CsvXlsxExportMixin(ExportMixin):
    formats = (CSV, XLSX)
    import_export_change_list_template = "admin/customers/change_list_tools.html"


class CsvImportMixin:
    """Adds an "Import CSV" page: upload, preview (a dry run listing every problem by
    line), then import. The file waits under MEDIA_ROOT between the two steps, named by
    a random id that only a signed, hour-long token of the same user can redeem."""

    import_service = None
    import_permission = ""
    import_columns: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())  # required, optional
    import_example: tuple[tuple[str, ...], ...] = ()  # rows of every column, in order, that import as they are
    token_salt = "customers.admin.import"

    def has_import_permission(self, request) -> bool:
        return request.user.has_perm(self.import_permission)

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_import"
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name=name),
            path("import/example.csv", self.admin_site.admin_view(self.import_example_view), name=f"{name}_example"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "has_import_permission": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    @staticmethod
    def _upload_dir() -> Path:
        directory = Path(settings.MEDIA_ROOT) / "imports"
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def import_example_view(self, request):
        """A small file in the import's format, to start from (a test imports it)."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.opts.model_name}s-example.csv"'
        writer = csv.writer(response, lineterminator="\n")
        writer.writerow(self.import_columns[0] + self.import_columns[1])
        writer.writerows(self.import_example)
        return response

    def import_view(self, request):
        if not self.has_import_permission(request):
            raise PermissionDenied
        service = type(self).import_service
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import %(name)s") % {"name": self.opts.verbose_name_plural},
            "columns": ", ".join(self.import_columns[0]),
            "optional_columns": ", ".join(self.import_columns[1]),
            "example_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_import_example"),
        }
        if request.method == "POST" and "token" in request.POST:
            try:
                data = signing.loads(request.POST["token"], salt=self.token_salt, max_age=3600)
            except signing.BadSignature:
                messages.error(request, _("This preview has expired; upload the file again."))
                return HttpResponseRedirect(request.path)
            stored = self._upload_dir() / data["file"]
            if data["user"] != request.user.pk or data["model"] != self.opts.label or not stored.exists():
                messages.error(request, _("This preview has expired; upload the file again."))
                return HttpResponseRedirect(request.path)
            with stored.open("rb") as stream:
                report = service(stream, skip_invalid=data["skip_invalid"])
            stored.unlink(missing_ok=True)
            if report.committed:
                messages.success(request, report.summary())
                return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))
            messages.error(request, report.summary())
            return TemplateResponse(request, "admin/customers/import.html", {**context, "form": ImportForm()})

        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            name = f"{uuid.uuid4().hex}.csv"
            stored = self._upload_dir() / name
            with stored.open("wb") as out:
                for chunk in form.cleaned_data["file"].chunks():
                    out.write(chunk)
            skip_invalid = form.cleaned_data["skip_invalid"]
            with stored.open("rb") as stream:
                report = service(stream, dry_run=True, skip_invalid=skip_invalid)
            context["report"] = report
            context["problems"] = report.sorted_problems()[:200]
            if report.succeeded:
                context["token"] = signing.dumps(
                    {"file": name, "model": self.opts.label, "user": request.user.pk, "skip_invalid": skip_invalid},
                    salt=self.token_salt,
                )
            else:
                stored.unlink(missing_ok=True)
        context["form"] = form
        return TemplateResponse(request, "admin/customers/import.html", context)


# --- Customers -----------------------------------------------------------------------


class EraseForm(forms.Form):
    confirm = forms.BooleanField(
        # The list's action erases several customers, the customer's page one.
        label=_("Yes, erase this personal data. This cannot be undone."),
        required=True,
    )


# An erasure is one transaction per customer; more at once would outlast the request.
ERASE_AT_MOST = 200
ERASE_INTRO = _(
    "Erased: names, email addresses, phone numbers and birthdays; what they wrote and what was "
    "sent to them; survey free-text answers; their personal links. Emails waiting to go are "
    "cancelled. Kept, for the figures: orders, ticket times and statuses, survey scores and points."
)


@admin.register(Customer)
class CustomerAdmin(FastListMixin, CsvImportMixin, CsvXlsxExportMixin, admin.ModelAdmin):
    resource_classes = [CustomerResource]
    import_service = customers_import
    import_permission = "customers.import_customer"
    import_columns = (customer_rows.REQUIRED_COLUMNS, customer_rows.OPTIONAL_COLUMNS)
    import_example = (
        ("C-1001", "ann.archer@example.com", "Ann Archer", "+44 20 7946 0018", "en", "Europe/London", "1988-04-12",
         "organic", "yes", "yes", "2025-03-01"),
        ("C-1002", "mette@example.dk", "Mette Holm", "", "da", "Europe/Copenhagen", "", "social", "no", "yes", ""),
    )  # fmt: skip

    list_display = ("__str__", "email", "external_id", "acquisition_channel", "locale", "first_seen")
    search_fields = ("name", "email", "external_id")
    search_help_text = _("Name, email or customer id. A whole email address finds its customer at once.")
    list_filter = (
        "acquisition_channel",
        "locale",
        "marketing_consent",
        "survey_consent",
        ("first_seen", admin.DateFieldListFilter),
    )
    readonly_fields = ("created_at", "updated_at", "erased_at")
    fieldsets = (
        (None, {"fields": ("name", "email", "phone", "external_id")}),
        (_("Preferences"), {"fields": ("locale", "time_zone", "birthday", "marketing_consent", "survey_consent")}),
        (_("Origin"), {"fields": ("acquisition_channel", "first_seen", "created_at", "updated_at", "erased_at")}),
    )
    actions = ("erase_personal_data",)

    def has_erase_permission(self, request):
        return request.user.has_perm("customers.erase_customer")

    @admin.action(description=_("Erase personal data…"), permissions=["erase"])
    def erase_personal_data(self, request, queryset):
        form = EraseForm(request.POST if "apply" in request.POST else None)
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: ERASE_AT_MOST + 1])
        if len(ids) > ERASE_AT_MOST:
            message = _("Choose at most %(count)d customers to erase at once.") % {"count": ERASE_AT_MOST}
            self.message_user(request, message, messages.ERROR)
            return None
        if "apply" in request.POST and form.is_valid():
            self._erase(request, ids)
            return None
        return self._erase_page(request, form, count=len(ids), action="erase_personal_data")

    def _erase(self, request, customer_ids: list[int]) -> None:
        """Erase each customer (a transaction each) and say how many went."""
        for customer_id in customer_ids:
            services.customer_erase(customer_id=customer_id, author=request.user)
        message = ngettext(
            "The personal data of %(count)d customer was erased.",
            "The personal data of %(count)d customers was erased.",
            len(customer_ids),
        )
        self.message_user(request, message % {"count": len(customer_ids)}, messages.SUCCESS)

    def _erase_page(self, request, form, *, count: int, action: str = ""):
        title = ngettext(
            "Erase the personal data of %(count)d customer", "Erase the personal data of %(count)d customers", count
        ) % {"count": count}
        return action_form_page(self, request, form=form, title=title, action=action, intro=ERASE_INTRO)

    def get_urls(self):
        return [
            path(
                "<int:customer_id>/erase/",
                self.admin_site.admin_view(self.erase_view),
                name="customers_customer_erase",
            ),
            *super().get_urls(),
        ]

    def erase_view(self, request, customer_id: int):
        """The same erasure for one customer, from their page (where a request to be
        forgotten is usually handled)."""
        if not self.has_erase_permission(request):
            raise PermissionDenied
        customer = get_object_or_404(Customer, pk=customer_id)
        form = EraseForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            self._erase(request, [customer.pk])
            return HttpResponseRedirect(reverse("admin:customers_customer_change", args=[customer.pk]))
        return self._erase_page(request, form, count=1)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if looks_like_an_email(term):
            return queryset.with_email(term), False
        return super().get_search_results(request, queryset, search_term)

    # The change page is the customer 360 page: insights.admin adds what it shows.


# --- Orders --------------------------------------------------------------------------


class OrderLineInline(TolerantAutocompleteMixin, admin.TabularInline):
    model = OrderLine
    extra = 0
    autocomplete_fields = ("product",)
    fields = ("product", "quantity", "unit_price")


class OrderForm(forms.ModelForm):
    class Meta:
        model = Order
        fields = ("external_id", "customer", "placed_at", "total", "currency", "status", "discount_code")

    def clean(self):
        cleaned = super().clean()
        # Someone may have moved this order to another customer since the page loaded.
        if (
            self.instance.pk
            and not Order.objects.filter(pk=self.instance.pk, customer_id=self.initial.get("customer")).exists()
        ):
            raise ValidationError(_("Someone else changed this order meanwhile; reload the page and try again."))
        return cleaned


class CustomerOfOrderFilter(admin.SimpleListFilter):
    """Lets the customer page link to "all orders (or the whole timeline) of this
    customer" without a dropdown of a million customers."""

    title = _("customer")
    parameter_name = "customer__id__exact"

    def lookups(self, request, model_admin):
        value = self.value()
        if value and value.isascii() and value.isdigit():
            customer = Customer.objects.filter(pk=value).first()
            if customer:
                return [(value, str(customer))]
        return []

    def queryset(self, request, queryset):
        value = self.value()
        if value:
            if not (value.isascii() and value.isdigit()):
                return queryset.none()
            return queryset.filter(customer_id=value)
        return queryset


@admin.register(Order)
class OrderAdmin(TolerantAutocompleteMixin, FastListMixin, CsvImportMixin, CsvXlsxExportMixin, admin.ModelAdmin):
    resource_classes = [OrderResource]
    import_service = orders_import
    import_permission = "customers.import_order"
    import_columns = (order_rows.REQUIRED_COLUMNS, order_rows.OPTIONAL_COLUMNS)
    import_example = (
        ("O-5001", "C-1001", "2025-03-01 14:30", "42.50", "EUR", "paid", "ann.archer@example.com", "Ann Archer", ""),
        ("O-5002", "C-1001", "2025-05-17 09:05", "18.00", "EUR", "fulfilled", "", "", ""),
    )

    form = OrderForm
    list_display = ("external_id", "customer_link", "placed_at", "total", "currency", "status")
    list_select_related = ("customer",)
    # No filter on a column without choices (currency): its list of values would be a
    # SELECT DISTINCT over every order on every page load.
    list_filter = (CustomerOfOrderFilter, "status", ("placed_at", admin.DateFieldListFilter))
    # Newest placed first; served by the placed_at index, and by (customer, placed_at)
    # when one customer's orders are listed.
    ordering = ("-placed_at", "-id")
    search_fields = ("external_id",)  # enables the search box; get_search_results decides
    search_help_text = _("An order id, a customer id or a discount code, exactly as written.")
    autocomplete_fields = ("customer",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (OrderLineInline,)

    def get_search_results(self, request, queryset, search_term):
        # Exact matches only, each on its own index: a LIKE over ten million orders
        # would read them all.
        term = search_term.strip()
        if not term:
            return queryset, False
        # The customer is looked up first: an OR across the join would defeat the indexes.
        customer_ids = list(Customer.objects.filter(external_id=term).values_list("pk", flat=True)[:1])
        return (
            queryset.filter(Q(external_id=term) | Q(customer_id__in=customer_ids) | Q(discount_code=term)),
            False,
        )

    @admin.display(description=_("customer"), ordering="customer__name")
    def customer_link(self, order):
        url = reverse("admin:customers_customer_change", args=[order.customer_id])
        return format_html('<a href="{}">{}</a>', url, order.customer)

    def save_model(self, request, obj, form, change):
        services.order_save(order=obj)

    def delete_model(self, request, obj):
        services.orders_delete(order_ids=[obj.pk])

    def delete_queryset(self, request, queryset):
        services.orders_delete(order_ids=queryset.values_list("pk", flat=True))


@admin.register(Product)
class ProductAdmin(FastListMixin, admin.ModelAdmin):
    list_display = ("name", "sku", "category", "price", "active")
    list_filter = ("active", "category")
    search_fields = ("name", "=sku")


# --- The timeline and outbox ------------------------------------------------------------


class TimelineEntryForm(forms.ModelForm):
    """Staff log a note, call or meeting by hand; emails are written by the services."""

    entry = forms.ChoiceField(
        label=capfirst(_("entry")),
        choices=[(Entry.NOTE, Entry.NOTE.label), (Entry.CALL, Entry.CALL.label), (Entry.MEETING, Entry.MEETING.label)],
    )

    class Meta:
        model = Message
        fields = ("customer", "ticket", "entry", "channel", "subject", "body", "occurred_at")

    def clean(self):
        # The service's rules, as errors on their fields: raised from save_model they
        # would be a 500.
        cleaned = super().clean()
        if "customer" in cleaned and "entry" in cleaned:
            try:
                services.interaction_check(
                    customer=cleaned["customer"],
                    entry=cleaned["entry"],
                    body=cleaned.get("body") or "",
                    occurred_at=cleaned.get("occurred_at"),
                    ticket=cleaned.get("ticket"),
                )
            except ValidationError as problems:
                self.add_error(None, problems)
        return cleaned


class MessageCustomerFilter(CustomerOfOrderFilter):
    """ "This customer's timeline" without a dropdown of a million customers."""


@admin.register(Message)
class MessageAdmin(TolerantAutocompleteMixin, FastListMixin, admin.ModelAdmin):
    """Every interaction, and the outbox: failed emails are found (and retried) here."""

    list_display = (  # what staff look for first (a failed delivery) before the long address
        "occurred_at",
        "entry",
        "kind_name",
        "customer_link",
        "ticket_link",
        "delivery",
        "subject",
        "to_email",
    )
    list_select_related = ("customer", "ticket")
    list_filter = (CustomerOfOrderFilter, "delivery", "entry", "channel")
    search_fields = ("=to_email", "=key")
    search_help_text = _("An exact email address or message key.")
    ordering = ("-occurred_at", "-id")
    autocomplete_fields = ("customer", "ticket")
    actions = ("retry",)
    readonly_fields = (
        "customer",
        "ticket",
        "entry",
        "kind_name",
        "channel",
        "author",
        "automatic",
        "from_email",
        "to_email",
        "subject",
        "body",
        "language",
        "key",
        "delivery",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
        "message_id",
        "in_reply_to",
        "occurred_at",
        "created_at",
    )

    @admin.display(description=_("kind"), ordering="kind")
    def kind_name(self, message):
        return outbox.kind_name(message.kind) or self.get_empty_value_display()

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = TimelineEntryForm
        return super().get_form(request, obj, change=change, **kwargs)

    def add_view(self, request, form_url="", extra_context=None):
        # Adding is logging what happened by hand; emails are written by the services.
        return super().add_view(request, form_url, {"title": _("Log a note, call or meeting"), **(extra_context or {})})

    def get_changeform_initial_data(self, request):
        return {"channel": Channel.PHONE, **super().get_changeform_initial_data(request)}

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_fields(self, request, obj=None):
        if obj is None:
            return TimelineEntryForm.Meta.fields
        return self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    @admin.display(description=_("customer"))
    def customer_link(self, message):
        if not message.customer_id:
            return "—"
        url = reverse("admin:customers_customer_change", args=[message.customer_id])
        return format_html('<a href="{}">{}</a>', url, message.customer)

    @admin.display(description=_("ticket"))
    def ticket_link(self, message):
        if not message.ticket_id:
            return "—"
        url = reverse("admin:feedback_ticket_change", args=[message.ticket_id])
        return format_html('<a href="{}">{}</a>', url, message.ticket.reference)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = services.interaction_log(
            customer=data["customer"],
            entry=data["entry"],
            body=data["body"],
            author=request.user,
            subject=data.get("subject", ""),
            channel=data["channel"],
            occurred_at=data.get("occurred_at"),
            ticket=data.get("ticket"),
        )
        obj.pk = saved.pk

    @admin.action(description=_("Retry sending failed emails"), permissions=["change"])
    def retry(self, request, queryset):
        failed = list(queryset.filter(delivery=Delivery.FAILED))
        for message in failed:
            outbox.message_retry(message=message)
        self.message_user(
            request,
            ngettext("%(count)d email will be sent again.", "%(count)d emails will be sent again.", len(failed))
            % {"count": len(failed)},
        )
