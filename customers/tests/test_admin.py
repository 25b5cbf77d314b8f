"""The staff interface: roles, search, lists at scale, the customer page, import, export."""

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from customers.admin import CappedCountPaginator
from customers.metrics import period_validate, retention_figures
from customers.models import Customer, Order

from .factories import CustomerFactory, OrderFactory
from .helpers import csv_bytes

pytestmark = pytest.mark.django_db


def test_the_roles_are_made_by_the_migration():
    def codenames(group):
        permissions = Group.objects.get(name=group).permissions.filter(content_type__app_label="customers")
        return set(permissions.values_list("codename", flat=True))

    agent, manager = codenames("Support agent"), codenames("Support manager")
    # Agents read customers and orders, log notes, calls and meetings on the timeline, and
    # see who unsubscribed.
    assert agent == {
        "view_customer",
        "view_order",
        "view_orderline",
        "view_product",
        "view_message",
        "add_message",
        "view_unsubscribe",
    }
    assert {"change_order", "import_order", "export_customer", "view_retention_metrics"} <= manager
    assert agent < manager


def test_an_agent_reads_customers_but_cannot_add_import_or_export(agent_client):
    customer = CustomerFactory()
    page = agent_client.get("/admin/customers/customer/")
    assert page.status_code == 200
    html = page.content.decode()
    assert customer.email in html
    assert "Import CSV" not in html and "/export/" not in html
    assert agent_client.get("/admin/customers/customer/add/").status_code == 403
    assert agent_client.get("/admin/customers/customer/import/").status_code == 403
    assert agent_client.get("/admin/customers/customer/export/").status_code == 403


def test_a_manager_sees_import_and_export(manager_client):
    html = manager_client.get("/admin/customers/order/").content.decode()
    assert "Import CSV" in html and "/admin/customers/order/export/" in html


def test_a_whole_email_finds_its_customer_in_any_case(agent_client):
    ann = CustomerFactory(email="Ann.Berg@Example.com", name="Ann Berg")
    CustomerFactory(email="ann.bergstrom@example.com", name="Ann Bergström")
    html = agent_client.get("/admin/customers/customer/", {"q": "ann.berg@example.COM"}).content.decode()
    assert ann.name in html and "Bergström" not in html
    html = agent_client.get("/admin/customers/customer/", {"q": "berg"}).content.decode()
    assert ann.name in html and "Bergström" in html


def test_orders_are_found_by_order_id_customer_id_or_code(agent_client):
    order = OrderFactory(external_id="W-77", discount_code="SPRING")
    other = OrderFactory(external_id="W-78")
    for term in ("W-77", order.customer.external_id, "SPRING"):
        html = agent_client.get("/admin/customers/order/", {"q": term}).content.decode()
        assert "W-77" in html and other.external_id not in html


def test_a_long_list_says_more_than_the_cap_instead_of_counting_all(agent_client, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 5)
    CustomerFactory.create_batch(7)
    html = agent_client.get("/admin/customers/customer/").content.decode()
    assert "More than 5 customers" in html


def test_the_customer_list_costs_the_same_queries_for_few_or_many(agent, django_assert_max_num_queries):
    def queries_for_page() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        client = Client()
        client.force_login(type(agent).objects.get(pk=agent.pk))
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/admin/customers/customer/").status_code == 200
        return len(captured)

    CustomerFactory.create_batch(3)
    queries_for_page()  # the permissions are cached from now on
    few = queries_for_page()
    CustomerFactory.create_batch(60)
    assert queries_for_page() == few
    assert few <= 8


def test_the_order_list_costs_the_same_queries_for_few_or_many(agent):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for_page() -> int:
        client = Client()
        client.force_login(type(agent).objects.get(pk=agent.pk))
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/admin/customers/order/").status_code == 200
        return len(captured)

    OrderFactory.create_batch(3)
    queries_for_page()  # the permissions are cached from now on
    few = queries_for_page()
    OrderFactory.create_batch(40)
    assert queries_for_page() == few


def test_the_customer_page_shows_lifetime_figures_and_orders(agent_client):
    customer = CustomerFactory()
    OrderFactory(
        customer=customer, external_id="K-1", total=Decimal("30.00"), placed_at=datetime(2024, 1, 2, tzinfo=UTC)
    )
    OrderFactory(
        customer=customer, external_id="K-2", total=Decimal("50.00"), placed_at=datetime(2024, 3, 2, tzinfo=UTC)
    )
    OrderFactory(customer=customer, external_id="K-3", total=Decimal("99.00"), status="refunded")
    html = agent_client.get(f"/admin/customers/customer/{customer.pk}/change/").content.decode()
    lifetime = re.sub(r"\s+", " ", html[html.index('id="customer-lifetime"') : html.index('id="customer-tickets"')])
    assert '<th scope="row">Orders</th><td>2</td>' in lifetime.replace("> <", "><")
    assert "80.00" in lifetime and "40.00" in lifetime
    assert "K-1" in html and "K-3" in html
    orders = agent_client.get(f"/admin/customers/order/?customer__id__exact={customer.pk}").content.decode()
    assert "K-2" in orders


def test_changing_and_deleting_orders_in_the_admin_keeps_the_metrics_exact(manager_client):
    order = OrderFactory(placed_at=datetime(2024, 5, 1, tzinfo=UTC), total=Decimal("10.00"))
    period = period_validate(start=date(2024, 5, 1), end=date(2024, 5, 31))
    assert retention_figures(period).orders == 1
    form = manager_client.get(f"/admin/customers/order/{order.pk}/change/").context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data.update(
        {
            "status": "refunded",
            "placed_at_0": "2024-05-01",
            "placed_at_1": "00:00:00",
            "lines-TOTAL_FORMS": "0",
            "lines-INITIAL_FORMS": "0",
        }
    )
    response = manager_client.post(f"/admin/customers/order/{order.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Order.objects.get().status == "refunded"
    assert retention_figures(period).orders == 0

    kept = OrderFactory(placed_at=datetime(2024, 5, 2, tzinfo=UTC))
    assert retention_figures(period).orders == 1
    manager_client.post(
        "/admin/customers/order/", {"action": "delete_selected", "_selected_action": [kept.pk], "post": "yes"}
    )
    assert not Order.objects.filter(pk=kept.pk).exists()
    assert retention_figures(period).orders == 0


def test_importing_from_the_admin_previews_then_imports(manager_client):
    content = csv_bytes(
        ("order_id", "customer_id", "placed_at", "total"),
        [("A-1", "C1", "2024-01-05", "10"), ("A-2", "C1", "someday", "5")],
    ).getvalue()
    preview = manager_client.post("/admin/customers/order/import/", {"file": SimpleUploadedFile("orders.csv", content)})
    html = preview.content.decode()
    assert "Nothing was imported: 1 row has a problem." in html
    assert "placed_at: &#x27;someday&#x27; is not a date" in html
    assert "token" not in preview.context or not preview.context.get("token")
    assert Order.objects.count() == 0

    preview = manager_client.post(
        "/admin/customers/order/import/",
        {"file": SimpleUploadedFile("orders.csv", content), "skip_invalid": "on"},
    )
    assert "It would give: Rows: 2; created: 1," in preview.content.decode()
    assert Order.objects.count() == 0
    token = preview.context["token"]
    done = manager_client.post("/admin/customers/order/import/", {"token": token})
    assert done.status_code == 302
    assert list(Order.objects.values_list("external_id", flat=True)) == ["A-1"]
    again = manager_client.post("/admin/customers/order/import/", {"token": token}, follow=True)
    assert "This preview has expired" in again.content.decode()


def test_each_import_page_offers_an_example_file_that_imports_as_it_is(manager_client, agent_client):
    for model in ("customer", "order"):  # customers first: the orders' example names one
        page = manager_client.get(f"/admin/customers/{model}/import/").content.decode()
        url = f"/admin/customers/{model}/import/example.csv"
        assert f'href="{url}"' in page
        example = manager_client.get(url)
        assert example["Content-Type"] == "text/csv; charset=utf-8"
        assert agent_client.get(url).status_code == 403
        preview = manager_client.post(
            f"/admin/customers/{model}/import/", {"file": SimpleUploadedFile("example.csv", example.content)}
        )
        assert preview.context["problems"] == [], preview.context["problems"]
        assert (
            manager_client.post(f"/admin/customers/{model}/import/", {"token": preview.context["token"]}).status_code
            == 302
        )
    assert Customer.objects.get(external_id="C-1001").email == "ann.archer@example.com"
    assert Customer.objects.get(external_id="C-1002").locale == "da"
    assert sorted(Order.objects.filter(customer__external_id="C-1001").values_list("external_id", flat=True)) == [
        "O-5001",
        "O-5002",
    ]


def test_an_import_token_is_only_good_for_the_user_who_previewed(manager_client, manager):
    content = csv_bytes(("customer_id", "name"), [("C1", "Ann")]).getvalue()
    token = manager_client.post(
        "/admin/customers/customer/import/", {"file": SimpleUploadedFile("c.csv", content)}
    ).context["token"]
    other = type(manager).objects.create_user("manager2", is_staff=True)
    other.groups.add(Group.objects.get(name="Support manager"))
    client = Client()
    client.force_login(other)
    response = client.post("/admin/customers/customer/import/", {"token": token}, follow=True)
    assert "This preview has expired" in response.content.decode()
    assert client.post("/admin/customers/customer/import/", {"token": "forged"}, follow=True).status_code == 200
    assert Customer.objects.count() == 0


def export(client, model: str, file_format: int):
    """Post the export form as a person would: every column ticked."""
    url = f"/admin/customers/{model}/export/"
    form = client.get(url).context["form"]
    data = {name: "on" for name, field in form.fields.items() if getattr(field, "is_selectable_field", False)}
    return client.post(url, {**data, "format": str(file_format), "resource": "0"})


def test_exports_neutralise_spreadsheet_formulas_and_re_import(manager_client):
    CustomerFactory(external_id="C1", name='=HYPERLINK("http://evil","click")', phone="+45 1234 5678")
    response = export(manager_client, "customer", 0)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0]["name"] == '\'=HYPERLINK("http://evil","click")'
    assert rows[0]["phone"] == "'+45 1234 5678"
    Customer.objects.all().delete()

    from customers.imports.customers import customers_import

    report = customers_import(io.BytesIO(response.content))
    assert report.committed, [str(p) for p in report.problems]
    customer = Customer.objects.get()
    assert (customer.name, customer.phone) == ('=HYPERLINK("http://evil","click")', "+45 1234 5678")


def test_an_xlsx_export_is_a_workbook(manager_client):
    OrderFactory()
    response = export(manager_client, "order", 1)
    assert response.status_code == 200
    assert response.content[:2] == b"PK"  # a zip container
