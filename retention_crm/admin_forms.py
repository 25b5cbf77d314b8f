"""Forms and pages the apps' admin share."""

import re
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.forms.models import ModelFormMetaclass
from django.template.response import TemplateResponse
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext_lazy as _

from .texts import LANGUAGE_CODES

LANGUAGE_NAMES = dict(settings.LANGUAGES)


class _TranslatedBoxes(ModelFormMetaclass):
    """Declares a box per language for each text named in `translated`, when the class
    is made: the admin builds its fieldsets and forms from declared fields, so boxes
    added later, in __init__, would never be shown."""

    def __new__(mcs, name, bases, attrs):
        meta = attrs.get("Meta")
        translated = attrs.get("translated", ())
        if meta is not None and translated:
            required = attrs.get("required_in_english", ())
            multiline, tall = attrs.get("multiline", ()), attrs.get("tall", ())
            for text in translated:
                label = meta.model._meta.get_field(text).verbose_name
                for code in LANGUAGE_CODES:
                    attrs[f"{text}__{code}"] = forms.CharField(
                        label=format_lazy("{} ({})", capfirst(label), LANGUAGE_NAMES[code]),
                        required=code == "en" and text in required,
                        widget=(
                            forms.Textarea(attrs={"rows": 12 if text in tall else 3, "cols": 80})
                            if text in multiline or text in tall
                            else forms.TextInput(attrs={"size": 60})
                        ),
                    )
        return super().__new__(mcs, name, bases, attrs)


class TranslatedTextsForm(forms.ModelForm, metaclass=_TranslatedBoxes):
    """Shows each JSON text ({"en": …, "da": …}) named in `translated` as one box per
    language, and puts them back together on save. English is required where the text
    is; another language left empty falls back to English for the customer."""

    translated: tuple[str, ...] = ()
    required_in_english: tuple[str, ...] = ()
    multiline: tuple[str, ...] = ()
    tall: tuple[str, ...] = ()  # multiline, and long: an email's text

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.translated:
            stored = getattr(self.instance, name, None) or {}
            for code in LANGUAGE_CODES:
                self.initial.setdefault(f"{name}__{code}", stored.get(code, ""))

    def clean(self):
        cleaned = super().clean()
        for name in self.translated:
            cleaned[name] = {
                code: cleaned.get(f"{name}__{code}", "").strip()
                for code in LANGUAGE_CODES
                if cleaned.get(f"{name}__{code}", "").strip()
            }
        return cleaned

    def save(self, commit=True):
        for name in self.translated:
            setattr(self.instance, name, self.cleaned_data[name])
        return super().save(commit)


class TolerantAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete widget, except when it shows a form again whose submitted
    value cannot be an id at all ("abc" for a number): Django's looks the value up anyway
    and fails with a ValueError, a 500. Here such a value is left out of the lookup; the
    field's own error ("Select a valid choice") says what is wrong."""

    def optgroups(self, name, value, attr=None):
        remote = self.field.remote_field
        target = remote.model._meta.get_field(getattr(remote, "field_name", None) or remote.model._meta.pk.name)

        def could_be_an_id(candidate) -> bool:
            try:
                target.to_python(candidate)
            except ValidationError:
                return False
            return True

        return super().optgroups(name, [candidate for candidate in value if could_be_an_id(candidate)], attr)


class TolerantAutocompleteMixin:
    """For a ModelAdmin or inline with autocomplete_fields: TolerantAutocompleteSelect
    instead of Django's widget."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = TolerantAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def action_form_page(
    modeladmin, request, *, form, title, action: str, intro="", template: str = "admin/action_form.html", **extra
):
    """The intermediate page of an admin action that asks for input first (points and a
    reason, a survey to send), carrying the changelist's selection along."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": title,
        "intro": intro,
        "form": form,
        "action": action,
        "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        **extra,
    }
    return TemplateResponse(request, template, context)


class ReadOnlyAdminMixin:
    """A list to read: rows are written by the project's services, never in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


_DURATION = re.compile(
    r"^(?:(?P<days>\d+)\s*d)?\s*(?:(?P<hours>\d+)\s*h)?\s*(?:(?P<minutes>\d+)\s*m(?:in)?)?\s*(?:(?P<seconds>\d+)\s*s)?$",
    re.IGNORECASE,
)


class ShortDurationField(forms.DurationField):
    """A duration written "3d 4h", "90m" or "1h 30m", and shown that way: Django's box
    showed "3 00:00:00" and took only that (or ISO 8601), so a manager who wrote "4
    hours" got an error that did not say what to write. Django's forms still work."""

    default_error_messages = {"invalid": _("Write a duration such as 3d 4h, 90m or 1h 30m.")}

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 12, "placeholder": "1d 4h 30m"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if not isinstance(value, timedelta) or value < timedelta(0) or value.microseconds:
            return super().prepare_value(value)
        seconds = int(value.total_seconds())
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        parts = [
            f"{amount}{unit}" for amount, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if amount
        ]
        return " ".join(parts) or "0m"

    def to_python(self, value):
        text = value.strip() if isinstance(value, str) else value
        match = _DURATION.match(text) if isinstance(text, str) and text else None
        if match and any(match.groupdict().values()):
            try:
                return timedelta(**{unit: int(amount) for unit, amount in match.groupdict().items() if amount})
            except OverflowError:
                message = self.error_messages["overflow"].format(
                    min_days=timedelta.min.days, max_days=timedelta.max.days
                )
                raise forms.ValidationError(message, code="overflow") from None
        return super().to_python(text)
