"""Habits the project keeps: migrations match the models, production settings pass
Django's deployment checklist, the periodic jobs are where beat finds them."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_the_models_have_no_unmade_migrations():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def production_env(**extra) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DEBUG"))}
    env.update(
        DEBUG="false",
        SECRET_KEY="a-long-random-production-secret-" + "x" * 40,
        ALLOWED_HOSTS="crm.example.com",
        SITE_URL="https://crm.example.com",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/retention_crm",
        **extra,
    )
    return env


def test_production_settings_pass_the_deployment_checklist():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = production_env()
    del env["SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_every_periodic_job_names_a_registered_task():
    from retention_crm.celery import app

    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name


def test_abandoned_import_uploads_are_purged(tmp_path, settings):
    from customers.tasks import import_uploads_purge

    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "imports").mkdir()
    old, fresh = tmp_path / "imports" / "old.csv", tmp_path / "imports" / "fresh.csv"
    old.write_text("x")
    fresh.write_text("x")
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    assert import_uploads_purge() == 1
    assert not old.exists() and fresh.exists()


# Deleting an SLA policy is refused while tickets use it (PROTECT), and policies are few
# and rarely deleted: an index on every ticket for that would cost every ticket write.
FOREIGN_KEYS_WITHOUT_INDEX = {("feedback_ticket", "policy_id")}


@pytest.mark.django_db
def test_every_foreign_key_has_an_index_for_the_checks_a_delete_makes():
    """Deleting a row makes PostgreSQL look for rows that point to it, one lookup per
    deleted row and foreign key: without an index, a scan of the whole table each time
    (deleting 7,000 orders once took minutes because two survey tables had none)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
            " WHERE c.contype = 'f' AND array_length(c.conkey, 1) = 1 AND NOT EXISTS ("
            "  SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])"
        )
        missing = set(cursor.fetchall()) - FOREIGN_KEYS_WITHOUT_INDEX
    assert missing == set()


PROJECT_APPS = ("customers", "feedback", "loyalty", "insights", "retention_crm")


@pytest.mark.parametrize("language", ["en", "da"])
def test_every_command_of_the_project_shows_its_help(language):
    """`manage.py <command> --help` for each of the project's commands, in English and in
    a translation: a lazily translated help text once made argparse fail with a
    TypeError."""
    from django.core.management import get_commands, load_command_class
    from django.utils import translation

    commands = {name: app for name, app in get_commands().items() if app in PROJECT_APPS}
    assert {"import_orders", "retention_report", "survey_report"} <= commands.keys()
    with translation.override(language):
        for name, app in sorted(commands.items()):
            command = load_command_class(app, name)
            text = command.create_parser("manage.py", name).format_help()
            assert str(command.help).split()[0] in text, name
