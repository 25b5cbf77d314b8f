"""What every page customers use shares: headers that keep personal links private."""

from functools import wraps


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
