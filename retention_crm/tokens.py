"""MACs of the customers' personal links (a survey invitation, a loyalty page): nothing
about a link is stored, and a database copy alone cannot forge one."""

import hashlib
import hmac
from base64 import urlsafe_b64encode

from django.conf import settings


def link_mac(purpose: str, *parts: object) -> str:
    """HMAC-SHA256 under SECRET_KEY over `purpose:part:part…`, URL-safe base64 without
    padding (43 characters)."""
    message = ":".join([purpose, *(str(part) for part in parts)]).encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode()
