"""Errors every app's services may raise, mapped to HTTP by retention_crm.api."""

from django.core.exceptions import ValidationError


class Conflict(ValidationError):
    """The request is valid but the current state forbids it (an impossible status
    change, too few points): HTTP 409 with the message."""
