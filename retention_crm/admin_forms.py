"""Forms and pages the apps' admin share."""

from django import forms
from django.conf import settings
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from .texts import LANGUAGE_CODES

LANGUAGE_NAMES = dict(settings.LANGUAGES)


class TranslatedTextsForm(forms.ModelForm):
    """Shows each JSON text ({"en": …, "da": …}) named in `translated` as one box per
    language, and puts them back together on save. English is required where the text
    is; another language left empty falls back to English for the customer."""

    translated: tuple[str, ...] = ()
    required_in_english: tuple[str, ...] = ()
    multiline: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.translated:
            stored = getattr(self.instance, name, None) or {}
            label = self.Meta.model._meta.get_field(name).verbose_name
            for code in LANGUAGE_CODES:
                widget = (
                    forms.Textarea(attrs={"rows": 2}) if name in self.multiline else forms.TextInput(attrs={"size": 60})
                )
                self.fields[f"{name}__{code}"] = forms.CharField(
                    label=f"{label} ({LANGUAGE_NAMES[code]})",
                    required=code == "en" and name in self.required_in_english,
                    initial=stored.get(code, ""),
                    widget=widget,
                )

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
