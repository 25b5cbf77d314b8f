"""The pages customers use: the contact form and a ticket's own page (reached from the
personal link in every email about it). No account, their own language, no JavaScript
needed."""

import logging
import re
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.template.defaultfilters import linebreaksbr
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from customers.models import Channel, Entry
from retention_crm.idempotency import form_submission_key
from retention_crm.pages import customer_page, speak
from retention_crm.ratelimit import allow, client_ip

from .forms import CustomerMessageForm, SupportForm
from .models import REFERENCE_PATTERN, TicketAccess, TicketChannel, TicketStatus
from .services import ticket_message_receive, ticket_open
from .services.emails import format_moment, ticket_link, token_hash

logger = logging.getLogger(__name__)

THANKS_SALT = "feedback.support.thanks"


def _too_many(request):
    return render(request, "public/rate_limited.html", status=429)


@customer_page
def support_form(request):
    form = SupportForm(request.POST or None)
    if request.method == "POST":
        if not allow("support-ip", client_ip(request), limit=settings.SUPPORT_POSTS_PER_IP_PER_HOUR):
            return _too_many(request)
        if form.is_valid():
            data = form.cleaned_data
            if data["website"]:
                logger.info("Support form: honeypot filled from %s; nothing saved.", client_ip(request))
                return HttpResponseRedirect(reverse("support-thanks"))
            if not allow("support-email", data["email"], limit=settings.SUPPORT_TICKETS_PER_EMAIL_PER_HOUR):
                return _too_many(request)
            try:
                ticket = ticket_open(
                    email=data["email"],
                    name=data["name"],
                    description=data["message"],
                    kind=data["kind"],
                    channel=TicketChannel.WEB_FORM,
                    order_reference=data["order_reference"],
                    language=translation.get_language(),
                    survey_consent=data["survey_consent"],
                    key=form_submission_key(data["submission"], data["email"].lower(), data["message"]),
                )
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, messages)
            else:
                signed = signing.dumps(ticket.reference, salt=THANKS_SALT)
                return HttpResponseRedirect(f"{reverse('support-thanks')}?r={signed}")
    return render(request, "public/support_form.html", {"form": form}, status=400 if form.errors else 200)


@customer_page
def support_thanks(request):
    try:
        reference = signing.loads(request.GET.get("r", ""), salt=THANKS_SALT, max_age=3600)
    except signing.BadSignature:
        reference = ""
    return render(request, "public/support_thanks.html", {"reference": reference})


def _access(token: str) -> TicketAccess | None:
    if not token or len(token) > 100:
        return None
    return (
        TicketAccess.objects.select_related("ticket__customer", "ticket__policy")
        .filter(token_hash=token_hash(token), expires_at__gt=timezone.now())
        .first()
    )


def _personal_link_paths() -> tuple[str, ...]:
    """The paths of the personal links an email's footer carries (the ticket's page,
    unsubscribing, the loyalty page), to know its paragraphs meant for the inbox. A
    survey link stays: it is what a survey invitation is about."""
    return tuple(
        reverse(name, args=["TOKEN"]).split("TOKEN")[0] for name in ("support-ticket", "unsubscribe", "loyalty-page")
    )


def page_text(body: str) -> str:
    """An email as the ticket's page shows it: without the paragraphs meant for the inbox
    (the link to this very page, unsubscribing), each of which carries a personal link."""
    paths = _personal_link_paths()
    paragraphs = re.split(r"\n\s*\n", body.strip())
    return "\n\n".join(paragraph for paragraph in paragraphs if not any(path in paragraph for path in paths))


def as_page_html(text: str) -> SafeString:
    """Plain text as HTML with its line breaks, each ticket reference kept on one line:
    on a phone "C-000013" broke at its hyphen."""
    escaped = str(escape(text))
    whole = REFERENCE_PATTERN.sub(lambda match: f'<span class="ref">{match.group(0)}</span>', escaped)
    return mark_safe(linebreaksbr(whole, autoescape=False))  # escaped above; only the spans are ours


@customer_page
def ticket_page(request, token: str):
    access = _access(token)
    if access is None:
        # Unknown, forged or expired: one friendly page for all (nothing to enumerate).
        return render(request, "public/link_invalid.html", status=404)
    ticket = access.ticket
    speak(request, ticket.language)
    form = CustomerMessageForm(request.POST or None)
    if request.method == "POST":
        if not allow("ticket-page-ip", client_ip(request), limit=settings.SUPPORT_POSTS_PER_IP_PER_HOUR):
            return _too_many(request)
        if form.is_valid():
            try:
                data = form.cleaned_data
                landed, _message = ticket_message_receive(
                    ticket=ticket,
                    body=data["message"],
                    channel=Channel.WEB,
                    key=form_submission_key(data["submission"], str(ticket.pk), data["message"]),
                )
            except ValidationError as exc:
                form.add_error("message", exc.messages)
            else:
                if landed.pk != ticket.pk:  # the ticket was closed: a new one was opened
                    return HttpResponseRedirect(ticket_link(landed) + "?sent=1")
                return HttpResponseRedirect(request.path + "?sent=1")
    customer = ticket.customer
    expected = ticket.told_resolve_by if ticket.is_active and ticket.resolve_by else None
    # An email not written out yet (the outbox renders it as it sends) has no text to show.
    messages = ticket.messages.visible_to_customer().exclude(body="").order_by("occurred_at", "id")
    context = {
        "ticket": ticket,
        "status_label": TicketStatus(ticket.status).label,
        "expected": format_moment(expected, zone=customer.time_zone, language=translation.get_language()),
        "conversation": [
            {
                "entry": message.entry,
                "occurred_at": message.occurred_at,
                "html": as_page_html(page_text(message.body) if message.entry == Entry.OUTBOUND else message.body),
            }
            for message in messages
        ],
        "form": form,
        "sent": request.GET.get("sent") == "1",
        "closed": ticket.status == TicketStatus.CLOSED,
    }
    with timezone.override(ZoneInfo(customer.time_zone)):  # the times as the customer reads them
        response = render(request, "public/ticket.html", context, status=400 if form.errors else 200)
    return response
