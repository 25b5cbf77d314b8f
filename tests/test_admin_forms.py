"""Admin forms given what no browser sends: the form shows what is wrong, never a 500.
Found by posting random values to every add and change form of the admin."""

import pytest
from django.test import Client

from customers.models import Customer, Entry, Message
from feedback.services import ticket_open
from loyalty.services import program_rules

ORDER_LINES = {
    "lines-TOTAL_FORMS": "1",
    "lines-INITIAL_FORMS": "0",
    "lines-MIN_NUM_FORMS": "0",
    "lines-MAX_NUM_FORMS": "1000",
}


@pytest.fixture
def manager_client(manager) -> Client:
    client = Client()
    client.force_login(manager)
    return client


@pytest.mark.parametrize(
    "url, field, extra",
    [
        ("/admin/customers/order/add/", "customer", ORDER_LINES),
        ("/admin/customers/order/add/", "lines-0-product", {**ORDER_LINES, "lines-0-quantity": "1"}),
        ("/admin/customers/message/add/", "customer", {}),
        ("/admin/customers/message/add/", "ticket", {}),
        ("/admin/feedback/ticket/add/", "customer", {}),
        ("/admin/feedback/ticket/add/", "order", {}),
        ("/admin/feedback/reminder/add/", "customer", {}),
        ("/admin/loyalty/tier/add/", "membership_product", {}),
        ("/admin/loyalty/program/{program}/change/", "welcome_reward", {}),
    ],
)
def test_an_autocomplete_value_that_cannot_be_an_id_is_a_form_error(manager_client, url, field, extra):
    """Django's autocomplete widget looked "abc" up as an id when it showed the form
    again, and failed with a ValueError."""
    response = manager_client.post(url.format(program=program_rules().pk), {field: "abc", **extra})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_a_logged_call_without_words_or_on_another_customers_ticket_is_a_form_error(manager_client):
    """The service's rules raised from save_model were a 500; the form now shows them."""
    ticket = ticket_open(email="ann@example.com", name="Ann", description="Broken.", kind="complaint")
    other = Customer.objects.create(external_id="OTHER", email="other@example.com")
    payload = {
        "customer": other.pk,
        "ticket": ticket.pk,
        "entry": Entry.CALL,
        "channel": "phone",
        "body": "  ",
        "occurred_at_0": "2026-11-30",
        "occurred_at_1": "10:00:00",
    }
    response = manager_client.post("/admin/customers/message/add/", payload)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Write what was said or done." in page and "The ticket belongs to another customer." in page
    assert not Message.objects.filter(entry=Entry.CALL).exists()


def test_every_admin_with_autocomplete_fields_uses_the_tolerant_widget():
    """So that an admin added later does not bring Django's widget, and its 500, back."""
    from django.contrib import admin

    from retention_crm.admin_forms import TolerantAutocompleteMixin

    admins = list(admin.site._registry.values())
    admins += [inline for model_admin in admins for inline in model_admin.inlines]
    without = [
        getattr(model_admin, "__name__", type(model_admin).__name__)
        for model_admin in admins
        if model_admin.autocomplete_fields
        and not issubclass(
            model_admin if isinstance(model_admin, type) else type(model_admin), TolerantAutocompleteMixin
        )
    ]
    assert not without
