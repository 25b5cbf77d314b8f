"""Strings that installed apps show to staff but do not translate into every language we
support (django-import-export has no Danish catalog). Marked here so that makemessages
keeps them in our catalogs, which take precedence over the apps' own. Never imported."""

from django.utils.translation import gettext_noop

IMPORT_EXPORT_EXPORT_PAGE = [
    gettext_noop("Export"),
    gettext_noop("Format"),
    gettext_noop("Resource"),
    gettext_noop("Select all"),
    gettext_noop("Submit"),
    gettext_noop("This exporter will export the following fields: "),
]
