"""The survey pages customers reach from their invitation: the form (in their language,
no JavaScript needed), the thank-you page, and unsubscribing in one step.

Opening a link never records an answer (mail scanners open every link): the score a
button in the email carries is only preselected, and the customer confirms with one
press, a POST with CSRF."""

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from customers.models import Customer
from customers.outbox import unsubscribed_address
from retention_crm.pages import chosen_language, customer_page, speak

from .models import LANGUAGE_CODES, QuestionType, Survey, in_language
from .services import (
    ContactRefused,
    LinkInvalid,
    invitation_for_embed,
    invitation_for_token,
    invitation_opened,
    survey_response_submit,
    unsubscribe,
)

THANKS_SALT = "feedback.survey.thanks"


def survey_fields(survey: Survey, values: dict, errors: dict, *, language: str) -> list[dict]:
    """What the form template needs of each question, in `language` (the customer page
    and the admin's preview)."""
    fields = []
    for question in survey.questions.select_related("show_if_question"):
        given = values.get(question.key)
        chosen = {str(item) for item in given} if isinstance(given, list) else {str(given)} if given else set()
        if question.type == QuestionType.SCALE:
            options = [{"value": value, "label": value} for value in question.choice_values()]
        else:
            options = [
                {"value": str(choice.get("value")), "label": in_language(choice.get("label") or {}, language)}
                for choice in question.choices or []
            ]
        for option in options:
            option["checked"] = option["value"] in chosen
        fields.append(
            {
                "key": question.key,
                "type": question.type,
                "text": question.text_in(language),
                "required": question.required,
                "options": options,
                "low_label": in_language(question.low_label, language),
                "high_label": in_language(question.high_label, language),
                "value": given if isinstance(given, str) else "",
                "max_length": question.max_length,
                "errors": errors.get(question.key, []),
                "show_if_key": question.show_if_question.key if question.show_if_question_id else "",
                "show_if_values": " ".join(str(value) for value in question.show_if_values or []),
            }
        )
    return fields


def _answers_from(query) -> dict:
    """The posted answers: a list where a key came more than once (ticked boxes); the
    service reads a single value as a list of one where the question wants a list."""
    return {key: query.getlist(key) if len(query.getlist(key)) > 1 else query.get(key) for key in query}


def _framable(response, embed: bool):
    """In embed mode, the shop's pages named in SURVEY_EMBED_ORIGINS may frame ours (and
    no other site); elsewhere frame-ancestors 'none' and X-Frame-Options DENY stay."""
    if embed and settings.SURVEY_EMBED_ORIGINS:
        response._csp_replace = {"frame-ancestors": list(settings.SURVEY_EMBED_ORIGINS)}
        response.xframe_options_exempt = True
    return response


def _invalid(request, embed: bool):
    return _framable(render(request, "public/link_invalid.html", {"embed": embed}, status=404), embed)


def _survey(request, token: str, *, embed: bool):
    now = timezone.now()
    errors: dict = {}
    if request.method == "POST":
        # One trip through the service, which finds the invitation, checks the answers
        # in the customer's language and stores them if the invitation is still open.
        answers = _answers_from(request.POST)
        answers.pop("csrfmiddlewaretoken", None)
        try:
            submitted = survey_response_submit(token=token, answers=answers, language=chosen_language(request))
        except LinkInvalid:
            return _invalid(request, embed)
        except ValidationError as exc:
            errors, values = exc.message_dict, answers
        else:
            language = submitted.response.language
            signed = signing.dumps(
                {"link": submitted.promoter_link, "language": language, "embed": embed}, salt=THANKS_SALT
            )
            return HttpResponseRedirect(f"{reverse('survey-thanks')}?r={signed}")
    try:
        invitation = invitation_for_token(token, now=now)
    except LinkInvalid:
        # Unknown, forged, used or expired: one friendly page for all.
        return _invalid(request, embed)
    speak(request, invitation.language)
    language = translation.get_language()
    if request.method != "POST":
        invitation_opened(invitation, now=now)
        # A score button in the email preselects its answer; nothing is stored yet.
        values = {key: request.GET.get(key) for key in request.GET if key != "embed"}
    context = {
        "survey": invitation.survey,
        "title": invitation.survey.title_in(language),
        "intro": in_language(invitation.survey.intro, language),
        "fields": survey_fields(invitation.survey, values, errors, language=language),
        "errors": errors,
        "embed": embed,
        # Inside a shop's iframe our cookies are third-party (SameSite) and a CSRF cookie
        # would not come back: the form posts to the embed view, which the unguessable,
        # single-use token in its URL protects instead.
        "action": reverse("survey-embedded", args=[token]) if embed else "",
    }
    response = render(request, "public/survey_form.html", context, status=400 if errors else 200)
    return _framable(response, embed)


@customer_page
def survey_page(request, token: str):
    return _survey(request, token, embed=request.method == "GET" and request.GET.get("embed") == "1")


@csrf_exempt  # see _survey: the token in the URL is the secret a forged post would need
@require_POST
@customer_page
def survey_embedded(request, token: str):
    return _survey(request, token, embed=True)


@customer_page
def survey_embed(request, token: str):
    """Where embed.js points the iframe: the invitation for the signed token (made on
    first sight, without an email), then its form in embed mode."""
    try:
        invitation = invitation_for_embed(token)
    except LinkInvalid:
        return _invalid(request, True)
    except ContactRefused as refusal:
        speak(request, refusal.language)
        return _framable(render(request, "public/survey_nothing.html", {"embed": True}), True)
    return HttpResponseRedirect(reverse("survey", args=[invitation.token]) + "?embed=1")


@customer_page
def survey_thanks(request):
    try:
        payload = signing.loads(request.GET.get("r", ""), salt=THANKS_SALT, max_age=3600)
    except signing.BadSignature:
        payload = {}
    if payload.get("language") in LANGUAGE_CODES:
        speak(request, payload["language"])  # the language the survey was answered in
    embed = bool(payload.get("embed"))
    context = {"promoter_link": payload.get("link", ""), "embed": embed}
    return _framable(render(request, "public/survey_thanks.html", context), embed)


@customer_page
def unsubscribe_page(request, token: str):
    """One press: the page names what stops and has one button (a POST with CSRF)."""
    address = unsubscribed_address(token)
    if address is None:
        return render(request, "public/link_invalid.html", status=404)
    # In the language of the customer with this address, as their other pages are.
    locale = Customer.objects.with_email(address).values_list("locale", flat=True).first()
    if locale:
        speak(request, locale)
    done = False
    if request.method == "POST":
        unsubscribe(email_address=address)
        done = True
    return render(request, "public/unsubscribe.html", {"address": address, "done": done})


@csrf_exempt  # RFC 8058: the mail program POSTs "List-Unsubscribe=One-Click" with no page, hence no CSRF token;
@require_POST  # the signed token alone decides, and it can only ever unsubscribe its own address.
def unsubscribe_one_click(request, token: str):
    address = unsubscribed_address(token)
    if address is None:
        return HttpResponse(status=404)
    unsubscribe(email_address=address)
    return HttpResponse(status=200)
