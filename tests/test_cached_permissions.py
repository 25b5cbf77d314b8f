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
