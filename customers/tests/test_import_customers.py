"""import_customers: create and update by customer_id, link by email, refuse conflicts."""

from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.imports.customers import customers_import
from customers.models import Customer

from .factories import CustomerFactory
from .helpers import csv_bytes

pytestmark = pytest.mark.django_db

HEADER = (
    "customer_id",
    "email",
    "name",
    "locale",
    "time_zone",
    "birthday",
    "acquisition_channel",
    "marketing_consent",
    "survey_consent",
)


def run(rows, header=HEADER, **options):
    return customers_import(csv_bytes(header, rows), **options)


def test_it_creates_customers_with_every_field():
    report = run(
        [
            ("C1", "ann@example.com", "Ann", "da", "Europe/Copenhagen", "1990-02-28", "referral", "yes", "1"),
            ("C2", "", "Bo", "ZH_hans", "", "", "", "", ""),
        ]
    )
    assert report.committed and (report.created, report.updated) == (2, 0)
    ann = Customer.objects.get(external_id="C1")
    assert (ann.locale, ann.time_zone, ann.birthday) == ("da", "Europe/Copenhagen", date(1990, 2, 28))
    assert (ann.acquisition_channel, ann.marketing_consent, ann.survey_consent) == ("referral", True, True)
    bo = Customer.objects.get(external_id="C2")
    assert (bo.email, bo.locale, bo.time_zone, bo.marketing_consent) == (None, "zh-hans", "UTC", False)


def test_the_same_file_twice_changes_nothing_and_a_changed_cell_updates():
    rows = [("C1", "ann@example.com", "Ann", "en", "", "", "", "", "")]
    run(rows)
    assert (run(rows).unchanged, Customer.objects.count()) == (1, 1)
    report = run([("C1", "ann@example.com", "Ann Berg", "", "", "", "", "", "")])
    assert (report.updated, Customer.objects.get().name) == (1, "Ann Berg")


def test_an_empty_cell_keeps_what_is_stored():
    CustomerFactory(external_id="C1", name="Ann", phone="+45 1234", marketing_consent=True)
    report = run([("C1", "", "")], header=("customer_id", "name", "marketing_consent"))
    assert report.unchanged == 1
    customer = Customer.objects.get()
    assert (customer.name, customer.phone, customer.marketing_consent) == ("Ann", "+45 1234", True)


def test_bad_cells_are_reported_by_line_and_nothing_is_saved():
    report = run(
        [
            ("C1", "ann@example.com", "Ann", "fr", "", "", "", "", ""),
            ("C2", "", "", "", "Mars/Olympus", "", "", "", ""),
            ("C3", "", "", "", "", "2999-01-01", "", "", ""),
            ("C4", "", "", "", "", "", "tv", "", ""),
            ("C5", "", "", "", "", "", "", "maybe", ""),
            ("C6", "bad@", "", "", "", "", "", "", ""),
            ("C6", "", "", "", "", "", "", "", ""),
        ]
    )
    assert Customer.objects.count() == 0
    messages = [str(problem) for problem in report.sorted_problems()]
    assert messages[0].startswith("line 2: locale: 'fr' is not one of: ")
    assert messages[1] == "line 3: time_zone: 'Mars/Olympus' is not a known time zone (e.g. Europe/Copenhagen)."
    assert messages[2] == "line 4: birthday: 2999-01-01 is not a plausible birthday."
    assert messages[3].startswith("line 5: acquisition_channel: 'tv' is not one of: ")
    assert messages[4].startswith("line 6: marketing_consent: 'maybe' is not yes or no")
    assert messages[5] == "line 7: email: 'bad@' is not an email address."
    assert len(messages) == 6  # line 8 is the first valid row of C6: no duplicate


def test_a_customer_twice_in_the_file_is_a_problem():
    report = run([("C1", "", "A", "", "", "", "", "", ""), ("C1", "", "B", "", "", "", "", "", "")])
    assert [str(p) for p in report.problems] == ["line 3: customer_id C1 is already on line 2."]


def test_an_email_used_by_another_customer_is_refused():
    CustomerFactory(external_id="OTHER", email="ann@example.com")
    report = run([("C1", "Ann@Example.com", "", "", "", "", "", "", "")])
    assert [str(p) for p in report.problems] == ["line 2: email Ann@Example.com is the email of customer OTHER."]


def test_one_email_for_two_customers_in_the_file_is_refused():
    report = run(
        [("C1", "ann@example.com", "", "", "", "", "", "", ""), ("C2", "ANN@example.com", "", "", "", "", "", "", "")],
        skip_invalid=True,
    )
    assert [str(p) for p in report.problems] == [
        "line 3: email ANN@example.com is already given to customer C1 in this file."
    ]
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["C1"]


def test_a_customer_known_only_by_email_gets_the_id():
    known = CustomerFactory(external_id=None, email="ann@example.com")
    report = run([("C1", "ann@example.com", "Ann", "", "", "", "", "", "")])
    assert (report.created, report.updated) == (0, 1)
    known.refresh_from_db()
    assert (known.external_id, known.name) == ("C1", "Ann")


def test_the_command_reports_and_fails_on_problems(tmp_path, capsys):
    path = tmp_path / "customers.csv"
    path.write_bytes(csv_bytes(("customer_id", "locale"), [("C1", "xx")]).getvalue())
    with pytest.raises(CommandError):
        call_command("import_customers", str(path))
    assert "line 2: locale: 'xx'" in capsys.readouterr().err
    call_command("import_customers", str(path), "--skip-invalid")
    assert "created: 0" in capsys.readouterr().out
