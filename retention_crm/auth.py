"""Permissions read from the cache instead of two queries on every request.

Django's ModelBackend loads a user's permissions from the database once per request
(two joins over four tables); for an integration posting orders that is a large part of
the request. Here the set is cached per user. Any change to a user's groups or
permissions, or to a group's permissions, bumps a version number that is part of every
key, so no stale set is ever read after such a change has committed.
"""

import contextlib
import logging
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

logger = logging.getLogger(__name__)

VERSION_KEY = "auth:permissions-version"
TIMEOUT = 300


class CachedPermissionsBackend(ModelBackend):
    """ModelBackend whose user and group permission sets come from the cache, both with
    the version number in one round trip (MGET)."""

    def _get_permissions(self, user_obj, obj, from_name):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return super()._get_permissions(user_obj, obj, from_name)
        if not hasattr(user_obj, "_cached_permission_sets"):
            user_obj._cached_permission_sets = self._permission_sets(user_obj)
        return user_obj._cached_permission_sets[from_name]

    def _from_database(self, user_obj) -> dict:
        return {
            name: super(CachedPermissionsBackend, self)._get_permissions(user_obj, None, name)
            for name in ("user", "group")
        }

    def _permission_sets(self, user_obj) -> dict:
        key = f"auth:perms:{user_obj.pk}"
        try:
            found = cache.get_many([VERSION_KEY, key])
            version = found.get(VERSION_KEY)
            if version is None:
                version = 1
                cache.add(VERSION_KEY, version, timeout=None)
        except Exception as exc:  # the cache is down: read the database
            logger.warning("Permission cache unavailable (%s); reading permissions from the database.", exc)
            return self._from_database(user_obj)
        stored = found.get(key)
        if stored is not None and stored[0] == version:
            return stored[1]
        sets = self._from_database(user_obj)
        with contextlib.suppress(Exception):  # caching is an optimisation
            cache.set(key, (version, sets), TIMEOUT)
        return sets


def forget_all_permissions(**kwargs) -> None:
    """Every cached set becomes unreachable (after the change commits)."""

    def bump():
        try:
            cache.incr(VERSION_KEY)
        except ValueError:  # not set yet, or evicted: start again from a number never used
            cache.set(VERSION_KEY, int(time.time() * 1000), timeout=None)
        except Exception as exc:  # the cache is down; its entries expire
            logger.warning("Could not invalidate cached permissions (%s).", exc)

    transaction.on_commit(bump)


User = get_user_model()
for relation in (User.groups.through, User.user_permissions.through, Group.permissions.through):
    m2m_changed.connect(forget_all_permissions, sender=relation, dispatch_uid=f"forget-perms-{relation.__name__}")
for model in (User, Group, Permission):
    post_save.connect(forget_all_permissions, sender=model, dispatch_uid=f"forget-perms-save-{model.__name__}")
    post_delete.connect(forget_all_permissions, sender=model, dispatch_uid=f"forget-perms-delete-{model.__name__}")
