"""Every address the project serves, given values no browser sends, answers without a
500: as anybody, as a superuser in the admin and as a manager through the API. Found
this way: a NUL in an account's id (PostgreSQL refuses it in text), the admin's
exports given a filter that does not exist, the webhooks of email services that are
not set up, every API create and ticket action asked with a ".json" suffix, and
OPTIONS on the API's documentation."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLResolver, get_resolver
from rest_framework.test import APIClient

ODD_VALUES = ("a\x00b", "99999999999999999999999", "abc")
# Query parameters the project's pages and lists read.
PARAMETERS = ("before", "r", "language", "q", "search", "cursor", "page", "ordering", "redeemed", "sent")


def routes(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def addresses_with(value: str) -> list[str]:
    """Every route with each of its parameters set to `value`."""
    addresses = set()
    for route in routes(get_resolver().url_patterns):
        route = route.replace("^", "").replace("$", "").replace("\\Z", "")
        route = route.replace("\\.(?P<format>[a-z0-9]+)/?", ".json")  # DRF's format suffixes
        route = re.sub(r"<[^>]+>|\(\?P<[^>]+>[^)]*\)", value, route).replace("\\", "")
        addresses.add("/" + route)
    return sorted(addresses)


@pytest.mark.django_db
def test_every_address_given_odd_values_answers_without_a_500(manager):
    superuser = Client(raise_request_exception=False)
    superuser.force_login(User.objects.create_superuser("root", "root@example.com", "x"))
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(manager)
    clients = {"anybody": Client(raise_request_exception=False), "superuser": superuser, "api": api}
    failures = []
    for value in ODD_VALUES:
        for address in addresses_with(value):
            for who, client in clients.items():
                for query in ({}, dict.fromkeys(PARAMETERS, value)):
                    status = client.get(address, query).status_code
                    if status >= 500:
                        failures.append((who, address, bool(query), status))
                # OPTIONS on the API docs was a 500 (the other methods once per address).
                for method in ("options", "put", "delete") if value == ODD_VALUES[0] else ():
                    status = getattr(client, method)(address).status_code
                    if status >= 500:
                        failures.append((who, method, address, status))
            if address.startswith("/api/") and address.endswith(".json"):
                # DRF's router passes the suffix to a view as `format`: a create or an
                # action without that argument failed with a TypeError.
                for method in (api.post, api.patch):
                    status = method(address, {}, format="json").status_code
                    if status >= 500:
                        failures.append((method.__name__, address, status))
    assert not failures
