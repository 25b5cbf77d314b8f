"""Every operation of the API, fuzzed from its own OpenAPI schema (schemathesis): whatever
a client sends, the answer is never a 500 ("a 500 is a bug") nor a constraint's
violation that validation should have caught, and whatever it manages to store, the
admin pages that show it still work.

Found this way: the reward API stored any JSON as a reward's names (a number, a list),
after which the admin's reward list failed (retention_crm/texts.py, TextsInLanguages).
"""

import schemathesis
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from retention_crm.wsgi import application

WRITES = {"POST", "PUT", "PATCH"}

# The schema /api/schema/ serves, made here: the parametrization needs it when the tests
# are collected, before any database or user exists.
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))


def served_in_the_test(environ, start_response):
    """The project's WSGI application, serving a request as Django's test client does:
    leaving the database connection alone (at a request's end Django would close it,
    being inside the test's transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = application(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            response.close()  # sends request_finished
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def broken_admin_pages(user: User, api_path: str) -> list[str]:
    """The admin's list of the model an API path serves, and the change page of its
    newest row: the URLs of them that answer with a 500."""
    queryset = getattr(resolve(api_path).func.cls, "queryset", None)  # None: not a model's endpoint
    model = getattr(queryset, "model", None)
    if model not in admin.site._registry:
        return []
    client = Client(raise_request_exception=False)
    client.force_login(user)
    base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    urls = [base]
    newest = model._default_manager.order_by("-pk").first()
    if newest is not None:
        urls.append(f"{base}{newest.pk}/change/")
    return [url for url in urls if client.get(url).status_code >= 500]


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_answer_is_a_500_and_nothing_stored_breaks_the_admin(case, db, settings, caplog):
    settings.ALLOWED_HOSTS = ["*"]  # the host schemathesis's WSGI client sends
    user, _created = User.objects.get_or_create(username="fuzz", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name="Support manager"))
    token, _created = Token.objects.get_or_create(user=user)
    caplog.clear()
    response = case.call(app=served_in_the_test, headers={"Authorization": f"Token {token.key}"})
    assert response.status_code < 500, case.as_curl_command()
    # One client alone races nobody: a 409 from the database's constraints (logged by
    # retention_crm.api.exception_handler) means the validation let bad input through.
    assert "Integrity error" not in caplog.text, (case.as_curl_command(), caplog.text)
    if case.method.upper() in WRITES and response.status_code < 300:
        broken = broken_admin_pages(user, case.formatted_path)
        assert not broken, (case.as_curl_command(), broken)


# Strings a client writes that name something already stored (a username), looked up
# and never written: no length to declare (retention_crm.api.SlugRelatedField).
LOOKUPS = {("PatchedTicketUpdateRequest", "assignee"), ("ReminderCreateRequest", "assignee")}


def _references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def test_every_string_a_client_writes_declares_its_longest():
    """A serializer field declared by hand loses its column's length: the customer's
    `email` (POST and PATCH /api/customers/) and an order's `customer_email` took any
    length, and an address over 254 characters failed the insert with a 500. The fuzz
    test above never tried one that long (hypothesis makes short addresses), so here the
    schema itself is read: every free string in a request body has a maxLength."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    components = generated["components"]["schemas"]
    pending = [
        name
        for path in generated["paths"].values()
        for op in path.values()
        for name in _references(op.get("requestBody", {}))
    ]
    seen = set()
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_references(components[name]))
    unbounded = [
        (name, field)
        for name in sorted(seen)
        for field, spec in components[name].get("properties", {}).items()
        if spec.get("type") == "string"
        and not spec.get("readOnly")
        and "enum" not in spec
        and spec.get("format") not in ("date", "date-time", "decimal")
        and "maxLength" not in spec
        and (name, field) not in LOOKUPS
    ]
    assert len(seen) > 10  # the request bodies were found
    assert unbounded == []
