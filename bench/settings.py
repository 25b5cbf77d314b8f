"""The project's settings as production runs them, plus a one-INSERT view to compare
the API with. DEBUG stays off: with it Django keeps every query in memory."""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")

from retention_crm.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# Except what a delivery passed over: the acknowledgment latency run reads it from the
# mailer's log when an acknowledgment is late.
LOGGING["loggers"]["customers.outbox"] = {"level": "INFO"}  # noqa: F405
# The ceiling view's template (bench/urls.py).
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], BASE_DIR / "bench" / "templates"]  # noqa: F405
