"""Permission sets are cached, and forgotten the moment a change to them commits."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no per-request cache on the object


def test_a_second_request_reads_the_permissions_from_the_cache():
    user = User.objects.create_user("cached", is_staff=True)
    user.groups.add(Group.objects.get(name="Support agent"))
    assert fresh(user).has_perm("customers.view_customer")
    again = fresh(user)
    with CaptureQueriesContext(connection) as queries:
        assert again.has_perm("customers.view_customer")
    assert len(queries) == 0


@pytest.mark.parametrize("change", ["group", "user_permission", "group_permission", "deactivate"])
def test_a_committed_change_is_seen_at_once(change):
    agents = Group.objects.get(name="Support agent")
    user = User.objects.create_user(f"changing-{change}", is_staff=True)
    user.groups.add(agents)
    assert not fresh(user).has_perm("customers.add_order")
    assert fresh(user).has_perm("customers.view_order")
    add_order = Permission.objects.get(codename="add_order")
    if change == "group":
        user.groups.add(Group.objects.get(name="Support manager"))
        assert fresh(user).has_perm("customers.add_order")
    elif change == "user_permission":
        user.user_permissions.add(add_order)
        assert fresh(user).has_perm("customers.add_order")
    elif change == "group_permission":
        agents.permissions.remove(Permission.objects.get(codename="view_order"))
        assert not fresh(user).has_perm("customers.view_order")
    else:
        user.is_active = False
        user.save()
        assert not fresh(user).has_perm("customers.view_order")


# --- An API token's user, with the permission sets, from the cache ---------------------


def token_client(user: User):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client, token


def agent(name: str) -> User:
    user = User.objects.create_user(name, is_staff=True)
    user.groups.add(Group.objects.get(name="Support agent"))
    return user


def test_a_second_api_request_authenticates_and_is_authorised_without_the_database():
    client, _token = token_client(agent("integration"))
    assert client.get("/api/customers/").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/customers/").status_code == 200
    tables = " ".join(query["sql"] for query in queries)
    assert "authtoken_token" not in tables
    assert "auth_permission" not in tables
    assert "auth_user" not in tables


def test_the_cache_keeps_neither_the_token_nor_the_password_hash():
    import hashlib

    from django.core.cache import cache

    user = agent("hashed")
    user.set_password("a long enough password")
    user.save()
    client, token = token_client(user)
    assert client.get("/api/customers/").status_code == 200
    stored = cache.get("auth:token:" + hashlib.sha256(token.key.encode()).hexdigest())
    assert stored is not None
    fields, _sets = stored[1]
    assert fields["id"] == user.pk
    assert "password" not in fields
    assert cache.get(f"auth:token:{token.key}") is None


@pytest.mark.parametrize("change", ["token_deleted", "deactivated", "group_removed"])
def test_a_committed_change_to_a_token_or_its_user_is_seen_by_the_next_request(change):
    user = agent(f"api-{change}")
    client, token = token_client(user)
    assert client.get("/api/customers/").status_code == 200
    if change == "token_deleted":
        token.delete()
        expected = 401
    elif change == "deactivated":
        user.is_active = False
        user.save()
        expected = 401
    else:
        user.groups.clear()
        expected = 403
    assert client.get("/api/customers/").status_code == expected


def test_with_the_cache_down_a_token_still_authenticates_from_the_database(settings):
    client, _token = token_client(agent("no-cache"))
    settings.CACHES = {
        "default": {
            "BACKEND": "retention_crm.cache.ClientKeepingRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    assert client.get("/api/customers/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token wrong")
    assert client.get("/api/customers/").status_code == 401
