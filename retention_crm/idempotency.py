"""Requests sent twice do the work once.

`form_submission_key` keys a form's post (a one-time token per page load, with what
was written) for the services that take a key: the contact form, a ticket's page, the
loyalty page's redeem button, the admin's adjustment and goodwill.

`Idempotency-Key` for the API's POSTs that spend or give points, open a ticket or
schedule a reminder. A client that lost the answer to a POST sends it again with the
same key and gets the first answer, not a second redemption, ticket or email. The same
key with another body is refused: it is a client bug, and guessing which body was meant
would be worse. (Not for survey invitations: their answer holds the personal link,
which is kept only hashed, and the contact rules refuse a second invitation anyway.)

The first answer is stored in the transaction that did the work, so either both the
work and the answer are kept or neither. Two requests with one key at once: both do the
work, one of them commits the answer first, and the other's insert of its answer hits
the unique (user, key) index, which rolls its work back; it then replays the first
answer.
"""

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import timedelta

from django import forms
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.response import Response

from loyalty.models import IdempotentRequest  # kept where the redemptions first needed it
from retention_crm.errors import Conflict

HEADER = "Idempotency-Key"
KEY_MAX_LENGTH = 200
# The header in the OpenAPI schema of each POST that honours it.
HEADER_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Send the same key again to get the first answer instead of doing the work twice "
    "(kept 7 days; the same key with another body is a 422).",
)
# Stored answers older than this are deleted by the nightly job; a key reused later is new.
KEEP_DAYS = 7


def _body_hash(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _replay(stored: IdempotentRequest, *, path: str, body_hash: str) -> Response:
    if stored.path != path or stored.body_hash != body_hash:
        return Response(
            {"detail": _("This Idempotency-Key was used with another request; use a new key for a new request.")},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    response = Response(stored.response, status=stored.status_code)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(request, work: Callable[[], Response]) -> Response:
    """Run `work` (which returns the response) once per Idempotency-Key of this user.

    A Conflict raised by the work (too few points) is an answer like any other: stored
    and replayed. Invalid input (400) is not stored: the corrected request may reuse
    the key."""
    key = request.headers.get(HEADER, "").strip()

    def run() -> Response:
        # The work is a service in a transaction of its own (a Conflict rolls it back).
        try:
            return work()
        except Conflict as exc:
            return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_409_CONFLICT)

    if not key:
        return run()
    if len(key) > KEY_MAX_LENGTH:
        return Response(
            {"detail": _("The Idempotency-Key is longer than %(max)d characters.") % {"max": KEY_MAX_LENGTH}},
            status=status.HTTP_400_BAD_REQUEST,
        )
    path = request.path
    body_hash = _body_hash(request.data)
    stored = IdempotentRequest.objects.filter(user=request.user, key=key).first()
    if stored is not None:
        return _replay(stored, path=path, body_hash=body_hash)
    try:
        with transaction.atomic():
            response = run()
            if response.status_code == status.HTTP_400_BAD_REQUEST:
                return response
            IdempotentRequest.objects.create(
                user=request.user,
                key=key,
                path=path,
                body_hash=body_hash,
                status_code=response.status_code,
                response=response.data,
            )
    except IntegrityError:
        # A twin request with this key committed first: its work stands, ours is undone.
        stored = IdempotentRequest.objects.get(user=request.user, key=key)
        return _replay(stored, path=path, body_hash=body_hash)
    return response


def one_time_token_field() -> forms.CharField:
    """The hidden field of a form that must do its work once per page load: a fresh
    token each time the form is shown, for `form_submission_key`."""
    return forms.CharField(widget=forms.HiddenInput, required=False, initial=lambda: uuid.uuid4().hex)


def form_submission_key(submission: str, *written: str) -> str | None:
    """The key of a public form's post: its page's one-time token with what was
    written (the email, the words), so that a double click is one ticket or message,
    but the same page sent again with other words (after going back) is another."""
    if not submission:
        return None
    digest = hashlib.sha256("\n".join((submission, *written)).encode()).hexdigest()
    return f"form:{digest[:40]}"


def idempotent_requests_prune(*, now=None) -> int:
    now = now or timezone.now()
    deleted, _by_model = IdempotentRequest.objects.filter(created_at__lt=now - timedelta(days=KEEP_DAYS)).delete()
    return deleted
