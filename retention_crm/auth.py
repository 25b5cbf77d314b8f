"""Permissions, and an API token's user, read from the cache instead of the database on
every request.

Django's ModelBackend loads a user's permissions from the database once per request
(two joins over four tables), and DRF's token authentication reads the token and its
user; for an integration posting orders or redeeming points that was a fifth of the
request's time. Here the permission sets are cached per user, and a token's user with
the sets under the token's hash, so that an API request authenticates and is authorised
in one round trip to the cache. Any change to a user, a group, a permission, a
membership or a token bumps a version number that every entry is stored with, so no
stale entry is ever read after such a change has committed. When the cache is down,
everything is read from the database.
"""

import contextlib
import hashlib
import logging
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

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
        read = _read(key)
        if read is not None and read[1] is not None:
            return read[1]
        sets = self._from_database(user_obj)
        if read is not None:
            _store(key, read[0], sets)
        return sets


def _read(key: str) -> tuple[int, object | None] | None:
    """(the current version, what `key` holds if it was stored at that version, else
    None), in one round trip; None when the cache is down."""
    try:
        found = cache.get_many([VERSION_KEY, key])
        version = found.get(VERSION_KEY)
        if version is None:
            version = 1
            cache.add(VERSION_KEY, version, timeout=None)
    except Exception as exc:  # the cache is down: the caller reads the database
        logger.warning("Permission cache unavailable (%s); reading the database.", exc)
        return None
    stored = found.get(key)
    return version, stored[1] if stored is not None and stored[0] == version else None


def _store(key: str, version: int, value) -> None:
    """Keep `value` as read at `version`: a change committed since bumped the version,
    and this entry will never be read."""
    with contextlib.suppress(Exception):  # caching is an optimisation
        cache.set(key, (version, value), TIMEOUT)


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's `Authorization: Token <key>`, with the token's user and their permission
    sets from the cache (under a hash of the key, never the key itself; the password
    hash is left out and the user's `password` is deferred)."""

    def authenticate_credentials(self, key):
        cache_key = "auth:token:" + hashlib.sha256(key.encode()).hexdigest()
        read = _read(cache_key)
        if read is not None and read[1] is not None:
            fields, sets = read[1]
            user = User.from_db(DEFAULT_DB_ALIAS, list(fields), list(fields.values()))
            if user.is_active:
                user._cached_permission_sets = sets
                return user, Token(key=key, user=user)
        user, token = super().authenticate_credentials(key)  # AuthenticationFailed when unknown or inactive
        if read is not None:
            sets = CachedPermissionsBackend()._permission_sets(user)
            user._cached_permission_sets = sets
            fields = {
                field.attname: getattr(user, field.attname)
                for field in User._meta.concrete_fields
                if field.attname != "password"
            }
            _store(cache_key, read[0], (fields, sets))
        return user, token


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
for model in (User, Group, Permission, Token):
    post_save.connect(forget_all_permissions, sender=model, dispatch_uid=f"forget-perms-save-{model.__name__}")
    post_delete.connect(forget_all_permissions, sender=model, dispatch_uid=f"forget-perms-delete-{model.__name__}")
