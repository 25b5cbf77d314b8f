from django.contrib import admin
from django.urls import include, path
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

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include(customers_api.urlpatterns)),
    path("api/", include(feedback_api.urlpatterns)),
    path("api/", include(surveys_api.urlpatterns)),
    path("api/", include(loyalty_api.urlpatterns)),
    path("api/", include(insights_api.urlpatterns)),
    path("api/", include(router.urls)),
    # Inbound email from an email service (django-anymail; HTTP basic auth with
    # ANYMAIL_WEBHOOK_SECRET), e.g. /inbound/postmark/inbound/.
    path("inbound/", include("anymail.urls")),
    # Customer pages: no login, in the customer's language.
    path("", include("feedback.urls")),
    path("", include("loyalty.urls")),
]
