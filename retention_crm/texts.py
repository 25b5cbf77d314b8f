"""Texts that managers write once per language ({"en": …, "da": …}): survey questions,
tier names and benefits, reward descriptions."""

from django.conf import settings

LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]


def in_language(texts: dict, language: str) -> str:
    """A text kept in several languages, in `language`, else in English (a translation
    a manager has not written yet falls back), else in any language it has."""
    texts = texts or {}
    return texts.get(language) or texts.get("en") or next((text for text in texts.values() if text), "")


def missing_languages(texts: dict) -> list[str]:
    return [code for code in LANGUAGE_CODES if not (texts or {}).get(code)]
