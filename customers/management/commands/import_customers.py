from django.utils.translation import gettext_lazy as _

from customers.imports.customers import customers_import

from ._import import ImportCommand


class Command(ImportCommand):
    help = _(
        "Import customers from CSV: customer_id (optional: email, name, phone, locale, time_zone, birthday, "
        "acquisition_channel, marketing_consent, survey_consent, first_seen). Known customers are updated; "
        "an empty cell keeps the stored value."
    )

    def run_import(self, stream, **options):
        return customers_import(stream, **options)
