"""The REST API: permissions per role, validation, idempotency, filters, metrics."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from customers.models import Customer, Order, Product

from .factories import CustomerFactory, OrderFactory, OrderLineFactory
from .helpers import load_orders

pytestmark = pytest.mark.django_db

ORDER = {
    "order_id": "W-1001",
    "customer_id": "SHOP-7",
    "placed_at": "2024-05-01T10:00:00Z",
    "total": "59.90",
    "customer_email": "mia@example.com",
    "customer_name": "Mia",
    "lines": [{"sku": "TEA-1", "product_name": "Green tea", "quantity": 2, "unit_price": "29.95"}],
}


# --- who may do what -----------------------------------------------------------------


def test_anonymous_requests_are_401(api_client):
    assert api_client.get("/api/customers/").status_code == 401
    assert api_client.post("/api/orders/", ORDER, format="json").status_code == 401


def test_staff_without_a_role_sees_nothing(outsider):
    client = APIClient()
    client.force_authenticate(outsider)
    assert client.get("/api/customers/").status_code == 403
    assert client.get("/api/metrics/retention/?start=2024-01-01&end=2024-01-31").status_code == 403


def test_an_agent_reads_but_does_not_write(agent_api):
    assert agent_api.get("/api/customers/").status_code == 200
    assert agent_api.get("/api/orders/").status_code == 200
    assert agent_api.post("/api/orders/", ORDER, format="json").status_code == 403
    assert agent_api.post("/api/customers/", {"customer_id": "X"}, format="json").status_code == 403
    assert agent_api.get("/api/metrics/retention/?start=2024-01-01&end=2024-01-31").status_code == 403


def test_a_token_in_the_authorization_header_authenticates(manager):
    token = Token.objects.create(user=manager)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.post("/api/orders/", ORDER, format="json").status_code == 201
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    assert client.get("/api/orders/").status_code == 401


# --- orders --------------------------------------------------------------------------


def test_posting_an_order_creates_it_with_its_customer_and_lines(manager_api):
    response = manager_api.post("/api/orders/", ORDER, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["order_id"] == "W-1001" and body["customer_id"] == "SHOP-7"
    assert body["status"] == "placed" and body["currency"] == "EUR"
    assert body["lines"] == [{"sku": "TEA-1", "product_name": "Green tea", "quantity": 2, "unit_price": "29.95"}]
    customer = Customer.objects.get(external_id="SHOP-7")
    assert (customer.email, customer.name) == ("mia@example.com", "Mia")
    assert Product.objects.get(sku="TEA-1").name == "Green tea"


def test_posting_the_same_order_id_again_returns_the_stored_order(manager_api):
    first = manager_api.post("/api/orders/", ORDER, format="json").json()
    again = manager_api.post("/api/orders/", {**ORDER, "total": "1.00"}, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["total"] == "59.90"
    assert Order.objects.count() == 1


def test_a_paid_order_costs_a_fixed_number_of_queries(manager_api, django_assert_num_queries):
    """What the shop's every order costs. A new customer: the customer by id and by email
    (one round trip), the customer, the order aggregates' lock with what the customer
    had, the order, its products, its line, the loyalty account's lock with the tier's
    figures (none yet: opened, locked again), the tier, the points, the aggregates'
    contributions after, and the day's pending row. Their next order: the same less the
    opening, and with the account there already."""
    paid = {**ORDER, "status": "paid", "placed_at": "2026-01-05T10:00:00Z"}
    warm = {**paid, "order_id": "WARM", "customer_id": "OTHER", "customer_email": ""}
    assert manager_api.post("/api/orders/", warm, format="json").status_code == 201  # the product, the rules
    with django_assert_num_queries(15):  # 13 statements, and BEGIN and COMMIT (a savepoint here)
        assert manager_api.post("/api/orders/", paid, format="json").status_code == 201
    with django_assert_num_queries(11):
        response = manager_api.post("/api/orders/", {**paid, "order_id": "W-1002"}, format="json")
        assert response.status_code == 201


def test_bad_order_input_is_a_400_with_a_message_per_field(manager_api):
    response = manager_api.post(
        "/api/orders/",
        {
            "order_id": "",
            "placed_at": "yesterday",
            "total": "-1",
            "currency": "euro",
            "status": "lost",
            "customer_email": "nope",
            "lines": [{"sku": "X", "quantity": 0, "unit_price": "1"}],
        },
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {
        "order_id",
        "customer_id",
        "placed_at",
        "total",
        "currency",
        "status",
        "customer_email",
        "lines",
    }
    assert errors["customer_id"] == ["This field is required."]
    assert errors["lines"] == {"0": {"quantity": ["Ensure this value is greater than or equal to 1."]}}
    assert Order.objects.count() == 0


def test_an_order_in_the_future_or_too_large_is_refused(manager_api):
    response = manager_api.post(
        "/api/orders/", {**ORDER, "placed_at": "2999-01-01T00:00:00Z", "total": "123456789012.00"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"placed_at", "total"}


def test_days_before_1900_are_refused_as_the_import_refuses_them(manager_api):
    """A day near Python's year 1 overflowed when a page or a report moved it into a
    time zone west of UTC."""
    response = manager_api.post("/api/orders/", {**ORDER, "placed_at": "0001-01-01T00:00:00Z"}, format="json")
    assert response.status_code == 400 and response.json() == {"placed_at": ["is before 1900."]}
    customer = {"customer_id": "N-1", "email": "n1@example.com"}
    response = manager_api.post("/api/customers/", {**customer, "first_seen": "1899-12-31T00:00:00Z"}, format="json")
    assert response.status_code == 400 and response.json() == {"first_seen": ["1899-12-31 is before 1900."]}
    for birthday in ("0001-01-01", "9999-12-31"):
        response = manager_api.post("/api/customers/", {**customer, "birthday": birthday}, format="json")
        assert response.json() == {"birthday": [f"{birthday} is not a plausible birthday."]}
    assert Order.objects.count() == 0 and not Customer.objects.filter(external_id="N-1").exists()
    assert manager_api.post("/api/customers/", {**customer, "birthday": "1990-02-28"}, format="json").status_code == 201


def test_an_email_of_another_customer_is_a_400(manager_api):
    CustomerFactory(external_id="OTHER", email="MIA@example.com")
    response = manager_api.post("/api/orders/", ORDER, format="json")
    assert response.status_code == 400
    assert response.json() == {"customer_email": ["mia@example.com is the email of customer OTHER."]}
    assert Order.objects.count() == 0 and Product.objects.count() == 0


def test_malformed_json_is_a_400(manager_api):
    response = manager_api.generic("POST", "/api/orders/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_patching_the_status_updates_the_order_and_the_metrics(manager_api):
    order = OrderFactory(placed_at=datetime(2024, 5, 1, tzinfo=UTC), total=Decimal("10.00"))
    url = "/api/metrics/retention/?start=2024-05-01&end=2024-05-31"
    assert manager_api.get(url).json()["orders"] == 1
    response = manager_api.patch(f"/api/orders/{order.pk}/", {"status": "refunded"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "refunded"
    assert manager_api.get(url).json()["orders"] == 0
    assert manager_api.patch(f"/api/orders/{order.pk}/", {"status": "gone"}, format="json").status_code == 400


def test_orders_cannot_be_deleted_or_replaced_through_the_api(manager_api):
    order = OrderFactory()
    assert manager_api.delete(f"/api/orders/{order.pk}/").status_code == 405
    assert manager_api.put(f"/api/orders/{order.pk}/", {}, format="json").status_code == 405


@pytest.mark.parametrize("url", ["/api/orders/999999/", "/api/orders/abc/", "/api/customers/999999/"])
def test_an_unknown_object_is_a_404(manager_api, url):
    assert manager_api.get(url).status_code == 404


def test_a_forged_cursor_is_a_404_not_a_500(agent_api):
    assert agent_api.get("/api/orders/?cursor=garbage").status_code == 404


def test_the_order_list_costs_the_same_queries_for_3_or_30_orders(agent, django_assert_num_queries):
    def make(count):
        for _ in range(count):
            OrderLineFactory.create_batch(2, order=OrderFactory())

    def listed() -> int:
        client = APIClient()
        client.force_authenticate(type(agent).objects.get(pk=agent.pk))  # no cached permissions
        return len(client.get("/api/orders/").json()["results"])

    make(3)
    listed()  # the permissions are cached from now on
    # the user + the page with customers + the lines with products
    with django_assert_num_queries(3):
        assert listed() == 3
    make(27)
    with django_assert_num_queries(3):
        assert listed() == 30


def test_orders_filter_by_what_support_asks(agent_api):
    ann = CustomerFactory(external_id="ANN")
    OrderFactory(external_id="A1", customer=ann, placed_at=datetime(2024, 1, 10, tzinfo=UTC), total=Decimal(10))
    OrderFactory(
        external_id="A2",
        customer=ann,
        placed_at=datetime(2024, 2, 10, tzinfo=UTC),
        total=Decimal(80),
        status="refunded",
    )
    OrderFactory(external_id="B1", placed_at=datetime(2024, 1, 31, 23, tzinfo=UTC), total=Decimal(30))

    def ids(query):
        response = agent_api.get(f"/api/orders/?{query}")
        assert response.status_code == 200, response.json()
        return sorted(order["order_id"] for order in response.json()["results"])

    assert ids("customer_id=ANN") == ["A1", "A2"]
    assert ids(f"customer={ann.pk}") == ["A1", "A2"]
    assert ids("status=refunded&status=cancelled") == ["A2"]
    assert ids("placed_after=2024-01-10&placed_before=2024-01-31") == ["A1", "B1"]
    assert ids("total_min=20&total_max=50") == ["B1"]
    assert ids("order_id=B1") == ["B1"]
    assert agent_api.get("/api/orders/?status=lost").status_code == 400
    assert agent_api.get("/api/orders/?placed_after=soon").status_code == 400


def test_pages_follow_a_cursor(agent_api):
    for _ in range(5):
        OrderFactory()
    first = agent_api.get("/api/orders/?page_size=2").json()
    assert len(first["results"]) == 2 and first["next"]
    second = agent_api.get(first["next"]).json()
    assert {o["id"] for o in first["results"]}.isdisjoint({o["id"] for o in second["results"]})


# --- customers and products ----------------------------------------------------------


def test_customers_filter_by_email_id_channel_and_join_date(agent_api):
    CustomerFactory(
        external_id="C1",
        email="Ann@Example.com",
        acquisition_channel="social",
        first_seen=datetime(2024, 3, 1, tzinfo=UTC),
    )
    CustomerFactory(external_id="C2", acquisition_channel="email", first_seen=datetime(2023, 3, 1, tzinfo=UTC))

    def ids(query):
        return [c["customer_id"] for c in agent_api.get(f"/api/customers/?{query}").json()["results"]]

    assert ids("email=ann@example.COM") == ["C1"]
    assert ids("customer_id=C2") == ["C2"]
    assert ids("acquisition_channel=social&acquisition_channel=email") == ["C2", "C1"]
    assert ids("joined_after=2024-01-01") == ["C1"]


def test_a_manager_creates_and_changes_customers_with_clear_errors(manager_api):
    response = manager_api.post(
        "/api/customers/", {"customer_id": "C1", "email": "ann@example.com", "locale": "da"}, format="json"
    )
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    response = manager_api.post(
        "/api/customers/",
        {"customer_id": "C1", "email": "ANN@example.com", "locale": "fr", "time_zone": "Mars/Base"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"customer_id", "email", "locale", "time_zone"}
    response = manager_api.patch(f"/api/customers/{pk}/", {"name": "Ann", "email": ""}, format="json")
    assert response.status_code == 200 and response.json()["email"] is None
    assert manager_api.delete(f"/api/customers/{pk}/").status_code == 405


def test_a_product_in_use_cannot_be_deleted(manager_api):
    line = OrderLineFactory()
    response = manager_api.delete(f"/api/products/{line.product_id}/")
    assert response.status_code == 409
    assert "cannot be deleted" in response.json()["detail"]


# --- metrics -------------------------------------------------------------------------


def test_the_retention_endpoint_serves_the_period_figures(manager_api):
    load_orders([("o1", "a", "2024-02-01", "10.00", "paid"), ("o2", "a", "2024-05-01", "30.00", "paid")])
    body = manager_api.get("/api/metrics/retention/?start=2024-04-01&end=2024-06-30").json()
    assert body["customers_at_start"] == 1 and body["retention_rate"] == 100.0
    assert body["revenue"] == 30.0 and body["window_days"] == 365


def test_the_cohorts_endpoint_serves_the_matrix(manager_api):
    load_orders([("o1", "a", "2024-02-01", "10.00", "paid"), ("o2", "a", "2024-03-01", "30.00", "paid")])
    body = manager_api.get("/api/metrics/cohorts/?start=2024-02-01&end=2024-03-31").json()
    assert body == {"cohorts": [{"cohort": "2024-02", "customers": 1, "retention": [100.0, 100.0]}]}


def test_a_cohort_matrix_may_span_more_than_the_window(manager_api):
    load_orders([("o1", "a", "2023-01-05", "10.00", "paid"), ("o2", "a", "2025-12-01", "30.00", "paid")])
    body = manager_api.get("/api/metrics/cohorts/?start=2023-01-01&end=2025-12-31").json()
    assert body["cohorts"][0]["cohort"] == "2023-01"
    assert len(body["cohorts"][0]["retention"]) == 36 and body["cohorts"][0]["retention"][35] == 100.0


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("start=2024-04-01&end=2024-03-01", "end", "end (2024-03-01) is before start (2024-04-01)."),
        ("start=2024-01-01&end=2024-01-31&window_days=30", "window_days", "window_days (30) is shorter"),
        ("end=2024-03-01", "start", "This field is required."),
        ("start=2024-02-30&end=2024-03-01", "start", "Date has wrong format"),
        ("start=2024-01-01&end=2024-01-02&window_days=0", "window_days", "greater than or equal to 1"),
        # Days at the ends of Python's dates overflowed in the arithmetic: a 500.
        ("start=9999-12-01&end=9999-12-31", "start", "start must be a day from 1900-01-01 to 2999-12-31."),
        ("start=0001-01-01&end=0001-01-31", "start", "start must be a day from 1900-01-01 to 2999-12-31."),
        ("start=2024-01-01&end=9999-12-31", "end", "end must be a day from 1900-01-01 to 2999-12-31."),
    ],
)
def test_a_refused_period_is_a_400_naming_the_field(manager_api, query, field, message):
    endpoints = ("retention",) if field == "window_days" else ("retention", "cohorts", "service", "surveys")
    for endpoint in endpoints:
        response = manager_api.get(f"/api/metrics/{endpoint}/?{query}")
        assert response.status_code == 400
        assert message in response.json()[field][0]
    if "must be a day" in message:
        response = manager_api.get(f"/api/metrics/dashboard/?{query}")
        assert response.status_code == 400 and message in str(response.json())


# --- documentation -------------------------------------------------------------------


def test_the_openapi_schema_and_docs_are_served_without_a_cdn(agent_api):
    schema = agent_api.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/orders/", "/api/metrics/retention/", "/api/metrics/cohorts/"} <= paths.keys()
    docs = agent_api.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower() and "https://" not in html


def test_every_operation_of_the_api_says_what_it_does(agent_api):
    """Seventeen operations (products, rewards, one of each record) were listed in the
    docs with nothing but their path."""
    paths = agent_api.get("/api/schema/?format=json").json()["paths"]
    bare = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        for method, operation in operations.items()
        if not (operation.get("summary") or operation.get("description"))
    ]
    assert bare == []
