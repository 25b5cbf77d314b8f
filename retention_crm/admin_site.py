"""The admin site: its first page is the dashboard (insights), above the list of apps."""

import functools

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog


class AdminJavaScriptCatalog(JavaScriptCatalog):
    """Django's JavaScript catalog for the admin, then ours (locale_js/): Django's lacks
    the permission selector's words in Simplified Chinese. Not under a folder named
    locale: makemessages would move the project's Python strings there."""

    def get_paths(self, packages):
        return [*super().get_paths(packages), str(settings.BASE_DIR / "locale_js")]


class CrmAdminSite(admin.AdminSite):
    site_header = _("Retention CRM")
    site_title = _("Retention CRM")
    index_title = _("Dashboard")
    index_template = "admin/dashboard_index.html"

    def i18n_javascript(self, request, extra_context=None):
        return AdminJavaScriptCatalog.as_view(packages=["django.contrib.admin"])(request)

    def get_urls(self):
        from django.urls import path

        from insights.views import service_retention_view

        return [
            path(
                "insights/service-against-retention/",
                self.admin_view(service_retention_view),
                name="insights_service_retention",
            ),
            *super().get_urls(),
        ]

    def admin_view(self, view, cacheable=False):
        model_admin = getattr(view, "__self__", None)
        if isinstance(model_admin, admin.ModelAdmin):
            tolerant = {
                "changelist_view": _tolerant_list,
                "export_action": _tolerant_list,  # django-import-export's, filtered as the list is
                "add_view": _tolerant_add,
            }.get(view.__name__)
            view = tolerant(view, model_admin) if tolerant else view
        return super().admin_view(view, cacheable)

    def autocomplete_view(self, request):
        """A NUL character in the search term, which PostgreSQL refuses in text, was a
        500: it is left out of the term."""
        if "\x00" in request.GET.get("term", ""):
            query = request.GET.copy()
            query["term"] = query["term"].replace("\x00", "")
            request.GET = query
        return super().autocomplete_view(request)

    def index(self, request, extra_context=None):
        from insights.views import dashboard_context

        return super().index(request, {**(extra_context or {}), **dashboard_context(request)})


def _tolerant_list(list_view, model_admin):
    """Every list of the admin and its export, ours and the libraries', answers a
    crafted request as Django's list answers a filter it does not know, never with a
    500 (found by sending every list's filters values no browser sends):

    - selected "ids" that cannot be ids are left out before an action runs: Django
      filtered the primary key by them and failed with a ValueError; with none left
      it says that items must be selected and changes nothing;
    - a NUL character in a filter's value, which PostgreSQL refuses in text, and a
      date hierarchy's year, month or day too large for a date (an OverflowError in
      Django) send the user to the unfiltered list with Django's "?e=1", as a filter
      on a field that does not exist does;
    - the export's filters that do not exist too: the list catches its own
      IncorrectLookupParameters, django-import-export's export did not."""
    primary_key = model_admin.model._meta.pk
    date_parts = (
        {f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")}
        if model_admin.date_hierarchy
        else set()
    )

    def is_an_id(value: str) -> bool:
        try:
            primary_key.get_prep_value(primary_key.to_python(value))
        except (ValidationError, ValueError, TypeError):
            return False
        return True

    def is_a_bad_filter(name: str, values: list[str]) -> bool:
        if any("\x00" in text for text in (name, *values)):
            return True
        return name in date_parts and not all(
            value.isascii() and value.isdigit() and len(value) <= 4 for value in values
        )

    def unfiltered_list() -> HttpResponseRedirect:
        opts = model_admin.opts
        url = reverse(f"{model_admin.admin_site.name}:{opts.app_label}_{opts.model_name}_changelist")
        return HttpResponseRedirect(f"{url}?{ERROR_FLAG}=1")

    @functools.wraps(list_view)
    def view(request, *args, **kwargs):
        if any(is_a_bad_filter(name, values) for name, values in request.GET.lists()):
            return unfiltered_list()
        if request.method == "POST" and ACTION_CHECKBOX_NAME in request.POST:
            posted = request.POST.copy()
            selected = posted.getlist(ACTION_CHECKBOX_NAME)
            posted.setlist(ACTION_CHECKBOX_NAME, [value for value in selected if is_an_id(value)])
            request.POST = posted
        try:
            return list_view(request, *args, **kwargs)
        except IncorrectLookupParameters:
            return unfiltered_list()

    return view


def _tolerant_add(add_view, model_admin):
    """The add form takes its first values from the address (Django's
    `?customer=12`), but a date and time there was a 500: the admin's split date and
    time widget cannot show text. Such values are left out; the form starts empty
    there."""
    date_and_time_fields = {
        field.name for field in model_admin.model._meta.concrete_fields if isinstance(field, models.DateTimeField)
    }

    @functools.wraps(add_view)
    def view(request, *args, **kwargs):
        if request.method == "GET" and date_and_time_fields & set(request.GET):
            query = request.GET.copy()
            for name in date_and_time_fields & set(query):
                del query[name]
            request.GET = query
        return add_view(request, *args, **kwargs)

    return view


class CrmAdminConfig(AdminConfig):
    """django.contrib.admin with the project's site (INSTALLED_APPS names this)."""

    default_site = "retention_crm.admin_site.CrmAdminSite"
