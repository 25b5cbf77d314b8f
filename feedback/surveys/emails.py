"""The survey invitation email: written out at delivery in the customer's language,
with the first question's score buttons inside the email for NPS and CSAT (each opens
the form with that score chosen; nothing is recorded until the customer confirms)."""

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Message, Unsubscribe
from customers.outbox import name_kinds, preparer, reason_check, renderer

from ..services.emails import format_moment
from .models import InvitationStatus, Question, QuestionType, SurveyInvitation, in_language
from .services import INVITATION_KIND

name_kinds({INVITATION_KIND: _("Survey invitation")})


@preparer(INVITATION_KIND)
def _read_invitations(messages: list[Message]) -> None:
    """The chunk's invitations with their surveys and questions, and which of its
    addresses unsubscribed: three queries for the chunk."""
    invitations = (
        SurveyInvitation.objects.select_related("survey")
        .prefetch_related(Prefetch("survey__questions", queryset=Question.objects.order_by("position", "id")))
        .in_bulk([message.context.get("invitation") for message in messages])
    )
    unsubscribed = set(
        Unsubscribe.objects.filter(email__in={message.to_email for message in messages}).values_list("email", flat=True)
    )
    for message in messages:
        message.invitation = invitations.get(message.context.get("invitation"))
        message.unsubscribed = message.to_email in unsubscribed


@reason_check(INVITATION_KIND)
def _invitation_still_wanted(message: Message) -> str | None:
    invitation = message.invitation
    if invitation is None:
        return "the invitation was deleted"
    if invitation.status not in (InvitationStatus.SENT, InvitationStatus.OPENED):
        return "the survey was answered already"
    if invitation.is_expired(timezone.now()):
        return "the link expired before it could be sent"
    if message.unsubscribed:
        return "the address unsubscribed"
    return None


@renderer(INVITATION_KIND)
def _write_out_invitation(message: Message) -> dict:
    invitation = message.invitation
    survey, language = invitation.survey, message.language
    questions = list(survey.questions.all())
    first = questions[0] if questions else None
    url = invitation.url()
    buttons = []
    if first is not None and first.type == QuestionType.SCALE and first.scale_max - first.scale_min <= 10:
        buttons = [
            {"value": value, "url": f"{url}?{first.key}={value}"}
            for value in range(first.scale_min, first.scale_max + 1)
        ]
    return {
        "customer_name": message.customer.name if message.customer else "",
        "title": survey.title_in(language),
        "intro": in_language(survey.intro, language),
        "question": first.text_in(language) if first else "",
        "low_label": in_language(first.low_label, language) if first else "",
        "high_label": in_language(first.high_label, language) if first else "",
        "buttons": buttons,
        "link": url,
        "expires_at": format_moment(
            invitation.expires_at, zone=message.customer.time_zone if message.customer else "UTC", language=language
        ),
    }
