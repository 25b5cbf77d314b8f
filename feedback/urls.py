from django.urls import path

from . import views

urlpatterns = [
    path("support/", views.support_form, name="support"),
    path("support/thanks/", views.support_thanks, name="support-thanks"),
    path("support/t/<str:token>/", views.ticket_page, name="support-ticket"),
]
