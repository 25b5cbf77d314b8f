from django.urls import path

from . import views
from .surveys import views as survey_views

urlpatterns = [
    path("support/", views.support_form, name="support"),
    path("support/thanks/", views.support_thanks, name="support-thanks"),
    path("support/t/<str:token>/", views.ticket_page, name="support-ticket"),
    path("s/thanks/", survey_views.survey_thanks, name="survey-thanks"),
    path("s/embed/<str:token>/", survey_views.survey_embed, name="survey-embed"),
    path("s/<str:token>/", survey_views.survey_page, name="survey"),
    path("s/<str:token>/embedded/", survey_views.survey_embedded, name="survey-embedded"),
    path("unsubscribe/<str:token>/", survey_views.unsubscribe_page, name="unsubscribe"),
    path("unsubscribe/<str:token>/one-click/", survey_views.unsubscribe_one_click, name="unsubscribe-one-click"),
]
