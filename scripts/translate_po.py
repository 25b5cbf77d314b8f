"""Fill the catalogs' untranslated entries from a Python file defining
T = {msgid: (da, ru, ko, zh-hans)} (a helper for `make messages`; the tests check the
result). Usage: python scripts/translate_po.py translations.py"""

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
                entry.msgstr = table[entry.msgid][index]
                if "fuzzy" in entry.flags:
                    entry.flags.remove("fuzzy")
                entry.previous_msgid = None
        catalog.save(str(path))
        missing = [entry.msgid for entry in catalog if not entry.translated() or "fuzzy" in entry.flags]
        left += len(missing)
        for msgid in missing:
            print(f"{language}: untranslated: {msgid!r}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
