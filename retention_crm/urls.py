import functools
import logging

from anymail import urls as anymail_urls
from anymail.exceptions import AnymailConfigurationError
from django.contrib import admin
from django.http import Http404
from django.urls import URLPattern, include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from customers import api as customers_api
from feedback import api as feedback_api
from feedback.surveys import api as surveys_api
from insights import api as insights_api
from loyalty import api as loyalty_api

router = DefaultRouter()
customers_api.register(router)
feedback_api.register(router)
surveys_api.register(router)
loyalty_api.register(router)


def _not_found_unless_set_up(webhook):
    """django-anymail serves a webhook for every email service it knows; one whose
    settings are missing (its signing key, its API key) raised a configuration error
    on every request, before any authentication: a 500 anybody could cause. It is a
    404 here, and a warning in the log for whoever is setting the service up."""

    @functools.wraps(webhook)
    def view(request, *args, **kwargs):
        try:
            return webhook(request, *args, **kwargs)
        except AnymailConfigurationError as exc:
            logging.getLogger(__name__).warning("An email service's webhook is not set up: %s", exc)
            raise Http404 from exc

    return view


inbound_webhooks = [
    URLPattern(pattern.pattern, _not_found_unless_set_up(pattern.callback), pattern.default_args, pattern.name)
    for pattern in anymail_urls.urlpatterns
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # GET only: drf-spectacular answers OPTIONS with its HTML renderer and no template (a 500).
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", http_method_names=["get", "head"]),
        name="api-docs",
    ),
    path("api/", include(customers_api.urlpatterns)),
    path("api/", include(feedback_api.urlpatterns)),
    path("api/", include(surveys_api.urlpatterns)),
    path("api/", include(loyalty_api.urlpatterns)),
    path("api/", include(insights_api.urlpatterns)),
    path("api/", include(router.urls)),
    # Inbound email from an email service (django-anymail; HTTP basic auth with
    # ANYMAIL_WEBHOOK_SECRET), e.g. /inbound/postmark/inbound/.
    path("inbound/", include((inbound_webhooks, "anymail"))),
    # Customer pages: no login, in the customer's language. The site's root (the admin's
    # "View site") is the support form, the one page anybody may open.
    path("", RedirectView.as_view(pattern_name="support"), name="home"),
    path("", include("feedback.urls")),
    path("", include("loyalty.urls")),
]
