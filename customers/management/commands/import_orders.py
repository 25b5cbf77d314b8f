from django.utils.translation import gettext_lazy as _

from customers.imports.orders import orders_import

from ._import import ImportCommand


class Command(ImportCommand):
    help = _(
        "Import orders from CSV: order_id, customer_id, placed_at, total (optional: currency, status, "
        "customer_email, customer_name, discount_code). Unknown customers are created; importing the same "
        "file twice changes nothing."
    )

    def run_import(self, stream, **options):
        return orders_import(stream, **options)
