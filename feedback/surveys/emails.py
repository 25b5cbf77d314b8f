"""The survey invitation email: written out at delivery in the customer's language,
with the first question's score buttons inside the email for NPS and CSAT (each opens
the form with that score chosen; nothing is recorded until the customer confirms)."""

from django.db.models import Prefetch
from django.utils import timezone

from customers.models import Message, Unsubscribe
from customers.outbox import reason_check, renderer

from ..services.emails import format_moment
from .models import InvitationStatus, Question, QuestionType, SurveyInvitation
from .services import INVITATION_KIND


def _invitation(message: Message) -> SurveyInvitation | None:
    return (
        SurveyInvitation.objects.select_related("survey")
        .prefetch_related(Prefetch("survey__questions", queryset=Question.objects.order_by("position", "id")))
        .filter(pk=message.context.get("invitation"))
        .first()
    )


@reason_check(INVITATION_KIND)
def _invitation_still_wanted(message: Message) -> str | None:
    invitation = _invitation(message)
    if invitation is None:
        return "the invitation was deleted"
    if invitation.status not in (InvitationStatus.SENT, InvitationStatus.OPENED):
        return "the survey was answered already"
    if invitation.is_expired(timezone.now()):
        return "the link expired before it could be sent"
    if Unsubscribe.objects.filter(email=message.to_email).exists():
        return "the address unsubscribed"
    message.invitation = invitation  # the renderer uses it without reading it again
    return None


@renderer(INVITATION_KIND)
def _write_out_invitation(message: Message) -> dict:
    invitation = getattr(message, "invitation", None) or _invitation(message)
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
        "intro": survey.intro.get(language) or survey.intro.get("en", ""),
        "question": first.text_in(language) if first else "",
        "low_label": (first.low_label.get(language) or first.low_label.get("en", "")) if first else "",
        "high_label": (first.high_label.get(language) or first.high_label.get("en", "")) if first else "",
        "buttons": buttons,
        "link": url,
        "expires_at": format_moment(
            invitation.expires_at, zone=message.customer.time_zone if message.customer else "UTC", language=language
        ),
    }
