"""What every page customers use shares: headers that keep personal links private, and
the language they speak."""

from functools import wraps

from django.conf import settings
from django.utils import translation


def customer_page(view):
    """No Referer leaves the site (a page's URL may hold a personal token), nothing is
    cached on the way, and search engines do not index it. The strict
    Content-Security-Policy comes from django-csp (settings.CONTENT_SECURITY_POLICY).

    "same-origin" rather than "no-referrer": with no-referrer a browser posts our own
    forms with `Origin: null`, which Django's CSRF protection rightly refuses. Other
    sites still get no Referer at all."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "same-origin"
        response["Cache-Control"] = "no-store"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapped


def chosen_language(request) -> str:
    """The language the customer picked with the page's switch (its cookie), or ""."""
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    return chosen if chosen in {code for code, _name in settings.LANGUAGES} else ""


def speak(request, language: str) -> None:
    """Show the page in `language` (the ticket's, the invitation's), unless the customer
    picked another with the switch."""
    if not chosen_language(request):
        translation.activate(language)
        request.LANGUAGE_CODE = language
