"""Every string staff or customers read exists in every supported language, and what is
served is what the catalogs say."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ["da", "ko", "ru", "zh_Hans"]
PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|%[sd]")


def catalog(language: str) -> polib.POFile:
    return polib.pofile(str(ROOT / "locale" / language / "LC_MESSAGES" / "django.po"))


def test_every_supported_language_has_a_catalog():
    codes = {code for code, _name in settings.LANGUAGES} - {"en"}
    assert {translation.to_locale(code) for code in codes} == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_is_translated_with_the_same_placeholders(language):
    problems = []
    for entry in catalog(language):
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {entry.msgid!r}")
        forms = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        if not all(forms):
            problems.append(f"untranslated: {entry.msgid!r}")
            continue
        expected = sorted(PLACEHOLDER.findall(entry.msgid))
        for form in forms:
            if sorted(PLACEHOLDER.findall(form)) != expected:
                problems.append(f"placeholders differ: {entry.msgid!r} -> {form!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_matches_its_source(language):
    source = catalog(language)
    compiled = polib.mofile(str(ROOT / "locale" / language / "LC_MESSAGES" / "django.mo"))

    def entries(file):
        return {
            (e.msgid, e.msgid_plural): tuple(sorted(e.msgstr_plural.items())) if e.msgid_plural else e.msgstr
            for e in file
            if e.msgid
        }

    assert entries(compiled) == entries(source), "run `make messages` to compile the catalogs"


def test_the_catalogs_hold_every_marked_string_of_the_code(tmp_path):
    if not shutil.which("xgettext"):
        pytest.fail("GNU gettext is needed to extract strings: apt-get install gettext")
    copy = tmp_path / "src"
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in tracked.split():
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "-l",
            "da",
            "--no-obsolete",
            "--ignore=tests/*",
            "--ignore=*/tests/*",
        ],
        cwd=copy,
        check=True,
        capture_output=True,
    )
    fresh = {e.msgid for e in polib.pofile(str(copy / "locale/da/LC_MESSAGES/django.po"))}
    committed = {e.msgid for e in catalog("da")}
    assert fresh == committed, f"new: {sorted(fresh - committed)}; gone: {sorted(committed - fresh)}"


@pytest.mark.django_db
def test_staff_pages_speak_the_browsers_language(agent):
    client = Client()
    client.force_login(agent)
    page = client.get("/admin/customers/customer/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Клиенты" in page or "клиенты" in page
    page = client.get("/admin/customers/customer/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "客户" in page


@pytest.mark.django_db
def test_api_errors_come_in_the_requested_language(manager_api):
    response = manager_api.get("/api/metrics/retention/?start=2024-04-01&end=2024-03-01", HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 400
    assert response.json()["end"] == ["종료일(2024-03-01)이 시작일(2024-04-01)보다 앞섭니다."]
    response = manager_api.get("/api/metrics/retention/?start=2024-04-01&end=2024-03-01", HTTP_ACCEPT_LANGUAGE="da")
    assert response.json()["end"] == ["slut (2024-03-01) ligger før start (2024-04-01)."]


@pytest.mark.parametrize("language", LANGUAGES)
def test_what_django_translates_for_one_of_our_languages_it_translates_for_each(language):
    """Django 5.2's catalogs leave some of its newer admin strings ("Model name", the
    navigation's captions) untranslated in Simplified Chinese; ours carry them. A Django
    upgrade that adds such strings fails here instead of showing English to staff."""
    import django

    base = Path(django.__file__).parent
    parts = ("contrib/admin", "contrib/auth", "conf")

    def translated(part: str, lang: str) -> set[str]:
        path = base / part / "locale" / lang / "LC_MESSAGES" / "django.mo"
        return {entry.msgid for entry in polib.mofile(str(path)) if entry.msgid} if path.exists() else set()

    def current(part: str) -> set[str]:  # the strings this Django uses (others' catalogs keep old ones)
        path = base / part / "locale" / "en" / "LC_MESSAGES" / "django.po"
        return {entry.msgid for entry in polib.pofile(str(path)) if entry.msgid}

    ours = {entry.msgid for entry in catalog(language) if entry.translated()}
    missing = {}
    for part in parts:
        elsewhere = set().union(*(translated(part, other) for other in LANGUAGES)) & current(part)
        missing[part] = sorted(elsewhere - translated(part, language) - ours)
    assert not any(missing.values()), missing


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_admins_javascript_speaks_each_language_too(language):
    """Django's JavaScript catalog for the admin leaves the permission selector's words
    untranslated in Simplified Chinese; ours (locale_js/) fills them in."""
    import django

    base = Path(django.__file__).parent / "contrib" / "admin" / "locale"

    def translated(folder: Path, lang: str) -> set[str]:
        path = folder / lang / "LC_MESSAGES" / "djangojs.mo"
        return {entry.msgid for entry in polib.mofile(str(path)) if entry.msgid} if path.exists() else set()

    current = {entry.msgid for entry in polib.pofile(str(base / "en" / "LC_MESSAGES" / "djangojs.po"))}
    elsewhere = set().union(*(translated(base, other) for other in LANGUAGES)) & current
    ours = translated(ROOT / "locale_js", language)
    assert sorted(elsewhere - translated(base, language) - ours) == []
    mine = ROOT / "locale_js" / language / "LC_MESSAGES"
    if mine.exists():  # the compiled catalog is the one written
        written = {entry.msgid: entry.msgstr for entry in polib.pofile(str(mine / "djangojs.po"))}
        assert {entry.msgid: entry.msgstr for entry in polib.mofile(str(mine / "djangojs.mo"))} == written


@pytest.mark.django_db
def test_the_admin_serves_its_javascript_strings_in_chinese_and_still_in_danish(admin_client):
    chinese = admin_client.get("/admin/jsi18n/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "\\u9009\\u62e9\\u5168\\u90e8 %s" in chinese or "选择全部 %s" in chinese  # "Choose all %s"
    danish = admin_client.get("/admin/jsi18n/", HTTP_ACCEPT_LANGUAGE="da").content.decode()
    assert "Udv\\u00e6lg alle %s" in danish or "Udvælg alle %s" in danish
