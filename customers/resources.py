"""CSV/XLSX exports from the admin (django-import-export).

Column names are the import files' own, so that an export can be imported again.
"""

from import_export import fields, resources

from .models import Customer, Order

# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value):
    """Neutralise spreadsheet formula injection (OWASP's advice): a text cell that a
    spreadsheet would read as a formula gets a leading apostrophe. The imports strip it
    again, so an export round-trips."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class FormulaSafeResource(resources.ModelResource):
    def export_field(self, field, instance, **kwargs):
        return escape_formula(super().export_field(field, instance, **kwargs))


class CustomerResource(FormulaSafeResource):
    customer_id = fields.Field(attribute="external_id", column_name="customer_id")

    class Meta:
        model = Customer
        fields = (
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
        )
        export_order = fields


class OrderResource(FormulaSafeResource):
    order_id = fields.Field(attribute="external_id", column_name="order_id")
    customer_id = fields.Field(attribute="customer__external_id", column_name="customer_id")
    customer_email = fields.Field(attribute="customer__email", column_name="customer_email")
    customer_name = fields.Field(attribute="customer__name", column_name="customer_name")

    class Meta:
        model = Order
        fields = (
            "order_id",
            "customer_id",
            "placed_at",
            "total",
            "currency",
            "status",
            "discount_code",
            "customer_email",
            "customer_name",
        )
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("customer")
