"""Fill the catalogs' untranslated entries from a Python file defining
T = {msgid: (da, ru, ko, zh-hans)} (a helper for `make messages`; the tests check the
result). For a plural msgid each language's value is a tuple of its plural forms (the
last form repeats when the catalog has more). Usage: python scripts/translate_po.py
translations.py"""

import runpy
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = {"da": 0, "ru": 1, "ko": 2, "zh_Hans": 3}


def main(source: str) -> int:
    table = runpy.run_path(source)["T"]
    left = 0
    for language, index in LANGUAGES.items():
        path = ROOT / "locale" / language / "LC_MESSAGES" / "django.po"
        catalog = polib.pofile(str(path))
        for entry in catalog:
            if entry.msgid in table and (not entry.translated() or "fuzzy" in entry.flags):
                value = table[entry.msgid][index]
                if entry.msgid_plural:
                    forms = (value,) if isinstance(value, str) else tuple(value)
                    count = len(entry.msgstr_plural) or len(forms)
                    entry.msgstr_plural = {n: forms[min(n, len(forms) - 1)] for n in range(count)}
                else:
                    entry.msgstr = value
                if "fuzzy" in entry.flags:
                    entry.flags.remove("fuzzy")
                entry.previous_msgid = entry.previous_msgid_plural = entry.previous_msgctxt = None
        catalog.save(str(path))
        missing = [entry.msgid for entry in catalog if not entry.translated() or "fuzzy" in entry.flags]
        left += len(missing)
        for msgid in missing:
            print(f"{language}: untranslated: {msgid!r}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
