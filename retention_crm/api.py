"""What every app's API shares: permissions, pagination and the error format."""

import copy
import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError
from django.http import Http404
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination, permissions, serializers, status
from rest_framework.response import Response

from .errors import Conflict

logger = logging.getLogger(__name__)


class ModelPermissions(permissions.DjangoModelPermissions):
    """The staff roles' model permissions, reading included.

    DRF's own class lets any authenticated user read; here an agent needs `view_<model>`
    (which the "Support agent" group has) and writes need add/change/delete.
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class DetailActionPermissions(ModelPermissions):
    """A POST to an object's action (resolve a ticket, mark a reminder done) changes that
    object: it needs `change_<model>`, not `add_<model>`."""

    def has_permission(self, request, view) -> bool:
        if request.method == "POST" and getattr(view, "detail", False):
            if not (request.user and request.user.is_authenticated):
                return False
            queryset = self._queryset(view)
            perm = f"{queryset.model._meta.app_label}.change_{queryset.model._meta.model_name}"
            return request.user.has_perm(perm)
        return super().has_permission(request, view)


def permission_required(perm: str) -> type[permissions.BasePermission]:
    """A permission class for views without a model, e.g. the metrics."""

    class HasPermission(permissions.BasePermission):
        def has_permission(self, request, view) -> bool:
            return bool(request.user and request.user.is_authenticated and request.user.has_perm(perm))

    HasPermission.__name__ = f"Has_{perm.replace('.', '_')}"
    return HasPermission


class SlugRelatedField(serializers.SlugRelatedField):
    """DRF's, with a value holding a NUL character not found: PostgreSQL refuses NUL in
    text, and the lookup was a 500 (tests/test_api_fuzz.py found it)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data.replace("\x00", ""))
        return super().to_internal_value(data)


class Serializer(serializers.Serializer):
    """DRF's Serializer with cheaper copies of its fields (`_field_copies`)."""

    def get_fields(self):
        return _field_copies(self._declared_fields)


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer with its fields worked out from the model once per class.

    DRF builds them anew for every instance (every response, every request body): the
    model's fields read, their keyword arguments derived, their labels translated. On a
    redemption that was a quarter of the web worker's time. The labels depend on the
    language (DRF compares the translated verbose name with the field's name), so the
    fields are kept per language; each instance gets copies (`_field_copies`).
    """

    def get_fields(self):
        built = type(self).__dict__.get("_fields_by_language")
        if built is None:
            built = {}
            type(self)._fields_by_language = built  # this class's own, not a parent's
        language = get_language()
        if language not in built:
            built[language] = super().get_fields()
        return _field_copies(built[language])


def _field_copies(fields: dict) -> dict:
    """Fields for one serializer instance, to bind to it.

    DRF deep-copies every field for every instance, which makes each one again from its
    arguments: for a small request or response that cost more than the rest of the
    serializer's work. A plain field holds nothing of its own after it is made but what
    `bind` sets on it, so a shallow copy is a field of its own; what the copies share
    (validators, choices, querysets, which DRF clones before use) is never changed after
    the field is made. A nested serializer, or a field with a child bound to it (a
    list, a many-relation), still gets DRF's deep copy.
    """
    return {name: copy.deepcopy(field) if _has_parts(field) else copy.copy(field) for name, field in fields.items()}


def _has_parts(field) -> bool:
    return isinstance(field, serializers.BaseSerializer) or hasattr(field, "child") or hasattr(field, "child_relation")


class IdCursorPagination(pagination.CursorPagination):
    """Newest first, stable under inserts, and no COUNT(*) over millions of rows."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def exception_handler(exc, context):
    """DRF's handler, plus: a model's ValidationError is a 400 with a message per field.

    Deleting something still referenced, or an IntegrityError that validation could not
    foresee (two requests racing for one unique value), is a 409 in JSON; any other error
    stays a 500, i.e. a bug.
    """
    if isinstance(exc, Conflict):
        return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    # Imported here: rest_framework.views imports this module through the settings.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None and isinstance(exc, ProtectedError):
        return Response(
            {"detail": _("This is still used by other records (for example orders) and cannot be deleted.")},
            status=status.HTTP_409_CONFLICT,
        )
    if response is None and isinstance(exc, IntegrityError):
        logger.warning("Integrity error in %s: %s", context.get("view"), exc)
        return Response(
            {"detail": _("The request conflicts with the current data; nothing was saved.")},
            status=status.HTTP_409_CONFLICT,
        )
    return response
