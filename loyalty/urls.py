from django.urls import path

from . import views

urlpatterns = [
    path("loyalty/<str:token>/", views.loyalty_page, name="loyalty-page"),
]
