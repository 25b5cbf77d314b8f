"""The admin site: its first page is the dashboard (insights), above the list of apps."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class CrmAdminSite(admin.AdminSite):
    site_header = _("Retention CRM")
    site_title = _("Retention CRM")
    index_title = _("Dashboard")
    index_template = "admin/dashboard_index.html"

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

    def index(self, request, extra_context=None):
        from insights.views import dashboard_context

        return super().index(request, {**(extra_context or {}), **dashboard_context(request)})


class CrmAdminConfig(AdminConfig):
    """django.contrib.admin with the project's site (INSTALLED_APPS names this)."""

    default_site = "retention_crm.admin_site.CrmAdminSite"
