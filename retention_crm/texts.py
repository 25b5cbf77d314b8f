"""Texts that managers write once per language ({"en": …, "da": …}): survey questions,
tier names and benefits, reward descriptions."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.deconstruct import deconstructible
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]


def in_language(texts: dict, language: str | None = None) -> str:
    """A text kept in several languages, in `language` (by default the reader's: the
    active language, as staff pages and customers' emails set it), else in English (a
    translation a manager has not written yet falls back), else in any language it has."""
    texts = texts or {}
    if language is None:
        language = get_language()
    return texts.get(language) or texts.get("en") or next((text for text in texts.values() if text), "")


def missing_languages(texts: dict) -> list[str]:
    return [code for code in LANGUAGE_CODES if not (texts or {}).get(code)]


@deconstructible
class TextsInLanguages:
    """The validator of such a field: an object whose keys are supported languages and
    whose values are strings, with the English text when `english_required`. The admin's
    boxes can only make these; the API, which takes the JSON as sent, checks here, so
    that a name of 2.5 or ["Gold"] is a 400 instead of every page that shows it a 500,
    and a NUL character a 400 instead of the database's refusal."""

    def __init__(self, *, english_required: bool = False):
        self.english_required = english_required

    def __call__(self, value) -> None:
        example = '{"en": "Gold", "da": "Guld"}'
        if not isinstance(value, dict):
            raise ValidationError(
                _("Give a text per language, e.g. %(example)s."), code="invalid", params={"example": example}
            )
        unknown = sorted(str(code) for code in value if code not in LANGUAGE_CODES)
        if unknown:
            raise ValidationError(
                _("Unknown language(s) %(unknown)s: use %(known)s."),
                code="invalid",
                params={"unknown": ", ".join(unknown), "known": ", ".join(LANGUAGE_CODES)},
            )
        if not all(isinstance(text, str) for text in value.values()):
            raise ValidationError(
                _("Each text is a string, e.g. %(example)s."), code="invalid", params={"example": example}
            )
        for text in value.values():  # PostgreSQL refuses a NUL in JSON text (a 500)
            ProhibitNullCharactersValidator()(text)
        if self.english_required and not value.get("en", "").strip():
            raise ValidationError(_("The English text is required."), code="required")

    def __eq__(self, other) -> bool:
        return isinstance(other, TextsInLanguages) and other.english_required == self.english_required
