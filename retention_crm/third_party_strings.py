"""Strings that installed apps show to staff but do not translate into every language we
support (django-import-export has no Danish catalog). Marked here so that makemessages
keeps them in our catalogs, which take precedence over the apps' own. Never imported."""

from django.utils.translation import gettext_noop, ngettext

IMPORT_EXPORT_EXPORT_PAGE = [
    gettext_noop("Export"),
    gettext_noop("Format"),
    gettext_noop("Resource"),
    gettext_noop("Select all"),
    gettext_noop("Submit"),
    gettext_noop("This exporter will export the following fields: "),
]

# Django 5.2's own strings without a Simplified Chinese translation in its catalogs: the
# admin's navigation captions (read by screen readers), the form errors' prefix, the
# user pages, a password rule and an invalid choice. Our catalogs carry them, with the
# other languages' taken from Django's.
DJANGO_WITHOUT_CHINESE = [
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
    gettext_noop("Error:"),
    gettext_noop("Forgotten your login credentials?"),
    gettext_noop("After you’ve created a user, you’ll be able to edit more user options."),
    gettext_noop("In case you’ve forgotten, you are:"),
    gettext_noop("%(model)s instance with %(field)s %(value)r is not a valid choice."),
    ngettext(
        "This password is too short. It must contain at least %d character.",
        "This password is too short. It must contain at least %d characters.",
        8,
    ),
]
