"""Settings for the retention CRM, read from the environment (django-environ).

With no environment at all this is the *embedded default* that `make run` uses on a
bare machine: SQLite under var/, Celery on kombu's filesystem transport under var/,
outgoing mail written to var/mail/. Every variable in .env.example overrides its part;
production sets DATABASE_URL, CELERY_BROKER_URL, REDIS_URL, EMAIL_URL, SECRET_KEY,
DEBUG=false and ALLOWED_HOSTS (docs/deployment.md).
"""

import secrets
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file beside manage.py is read when present (never committed; .env.example is).
# The process environment wins over it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Where the embedded default keeps its database, broker folders, mail and uploads.
VAR_DIR = BASE_DIR / env.str("VAR_DIR", default="var")  # an absolute VAR_DIR stays as it is


# --- Core ----------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment; in DEBUG a random key kept in var/ instead.

    Production must set SECRET_KEY: a default would be a real secret in the repository.
    """
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false.")
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Absolute base for every link that leaves the site (emails, API links to customer pages).
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "retention_crm.admin_site.CrmAdminConfig",  # django.contrib.admin with the dashboard
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "import_export",
    "anymail",
    "csp",
    "retention_crm",
    "customers",
    "feedback",
    "loyalty",
    "insights",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "retention_crm.urls"
WSGI_APPLICATION = "retention_crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]


# --- Database ------------------------------------------------------------------------

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections: a new PostgreSQL connection costs more than most requests.
    # Django's backend, with a health check that asks the server only when it has written
    # to the idle connection (retention_crm/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "retention_crm.postgresql"
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=600))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # The statements the busy paths send past the ORM (retention_crm/db.py) are prepared
    # on their connection once seen this often, so PostgreSQL parses and plans them once;
    # the ORM's own cursors bind on the client and never prepare. (A pooler must be in
    # session mode anyway: docs/deployment.md.)
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
else:
    # SQLite serves the web server, a worker and beat at once: wait for the lock instead
    # of failing with "database is locked". Transactions take the write lock when they
    # begin (IMMEDIATE): a transaction that read first and then wanted to write while
    # another process wrote would fail at once instead of waiting.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Cache ---------------------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "retention_crm.cache.ClientKeepingRedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that is down or stuck must cost a request well under a second:
            # what uses the cache (rate limits, permission sets) works without it.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


# --- Auth ----------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# ModelBackend with each user's permission set cached (retention_crm/auth.py).
AUTHENTICATION_BACKENDS = ["retention_crm.auth.CachedPermissionsBackend"]


# --- Languages and time --------------------------------------------------------------

LANGUAGE_CODE = "en"
# The languages of the people this is for. Customer-facing pages and emails use the
# customer's own; staff get the one their browser asks for.
LANGUAGES = [
    ("en", _("English")),
    ("zh-hans", _("Simplified Chinese")),
    ("ru", _("Russian")),
    ("da", _("Danish")),
    ("ko", _("Korean")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
# Day and month boundaries of every metric are those of this zone (METRICS.md).
TIME_ZONE = env.str("TIME_ZONE", default="UTC")


# --- Static and uploaded files -------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Uploaded import files wait here between the preview and the confirmed import; they are
# never served.
MEDIA_ROOT = VAR_DIR / "media"
# An admin upload bigger than this goes through the import commands instead.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
ADMIN_IMPORT_MAX_BYTES = env.int("ADMIN_IMPORT_MAX_BYTES", default=50 * 1024 * 1024)


# --- Email ---------------------------------------------------------------------------

if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    # The embedded default: one file per email under var/mail/. (Set here rather than as
    # a filemail:// URL, whose parsing drops the leading slash of an absolute path.)
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Customer care <care@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Seconds before a mail server that does not answer is given up on (the attempt is
# retried later): a hanging server must not hold a worker for long.
EMAIL_TIMEOUT = 15
# Where customers' replies should go (the address your mail server pipes into
# `manage.py receive_email`, or your email service's inbound address). Empty: replies
# go to DEFAULT_FROM_EMAIL.
SUPPORT_REPLY_TO = env.str("SUPPORT_REPLY_TO", default="")
# The domain part of our Message-IDs; empty: the host of SITE_URL.
EMAIL_MESSAGE_ID_DOMAIN = env.str("EMAIL_MESSAGE_ID_DOMAIN", default="")
# The language of emails to staff (warnings, escalations, reminders).
STAFF_LANGUAGE = env.str("STAFF_LANGUAGE", default="en")
# django-anymail: sending through an email service (EMAIL_BACKEND=anymail.backends.…)
# and its inbound webhooks under /inbound/. The webhooks demand HTTP basic auth with
# ANYMAIL_WEBHOOK_SECRET ("user:password"); unset or empty, a random one nobody knows is
# used, so an unconfigured webhook accepts nothing.
ANYMAIL = {
    "WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default="")
    or f"{secrets.token_urlsafe(16)}:{secrets.token_urlsafe(32)}",
}
if env.str("EMAIL_BACKEND", default=""):
    EMAIL_BACKEND = env.str("EMAIL_BACKEND")
    ANYMAIL.update(env.dict("ANYMAIL_OPTIONS", default={}))


# --- The outbox (customers/outbox.py) ------------------------------------------------

# A pending email that nobody delivered within this many seconds (the broker was down,
# a worker died) is queued again by the sweep.
OUTBOX_REQUEUE_AFTER_SECONDS = env.int("OUTBOX_REQUEUE_AFTER_SECONDS", default=120)
# Failed attempts are retried after about base, 2×base, 4×base … seconds (±50%
# jitter), at most OUTBOX_RETRY_MAX_SECONDS apart; after OUTBOX_MAX_ATTEMPTS attempts the
# email is marked failed and listed in the admin.
OUTBOX_RETRY_BASE_SECONDS = env.int("OUTBOX_RETRY_BASE_SECONDS", default=60)
OUTBOX_RETRY_MAX_SECONDS = env.int("OUTBOX_RETRY_MAX_SECONDS", default=6 * 60 * 60)
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)
# At most this many automatic emails (acknowledgments, follow-ups…) to one address per
# hour; more are kept on the timeline as "not sent". Staff replies are not capped.
AUTOMATIC_EMAILS_PER_ADDRESS_PER_HOUR = env.int("AUTOMATIC_EMAILS_PER_ADDRESS_PER_HOUR", default=10)


# --- Personal data -------------------------------------------------------------------

# Customers with no sign of life for this many days (no order, message or ticket, none
# still open) have their personal data erased by the nightly job, as an erasure at their
# request would (customers.services.inactive_customers_erase). 0, the default: never. At
# least a year: a typo of 3 would otherwise erase nearly everybody overnight.
CUSTOMER_ERASE_INACTIVE_DAYS = env.int("CUSTOMER_ERASE_INACTIVE_DAYS", default=0)
if 0 < CUSTOMER_ERASE_INACTIVE_DAYS < 365:
    raise ImproperlyConfigured("CUSTOMER_ERASE_INACTIVE_DAYS must be 0 (never) or at least 365.")

# --- Tickets -------------------------------------------------------------------------

# A resolved ticket closes itself after this many days without a word from the customer.
TICKET_AUTO_CLOSE_DAYS = env.int("TICKET_AUTO_CLOSE_DAYS", default=7)
# How long the personal link in a ticket email opens the ticket's page.
TICKET_LINK_DAYS = env.int("TICKET_LINK_DAYS", default=90)
# The public form's limits: posts per client IP and tickets per email address, each per
# hour. Kept in the cache (Redis); when it is unreachable the form lets posts through
# and logs that it did.
SUPPORT_POSTS_PER_IP_PER_HOUR = env.int("SUPPORT_POSTS_PER_IP_PER_HOUR", default=20)
SUPPORT_TICKETS_PER_EMAIL_PER_HOUR = env.int("SUPPORT_TICKETS_PER_EMAIL_PER_HOUR", default=5)
# Proxies in front of the app that append to X-Forwarded-For (0: use the peer address).
NUM_PROXIES = env.int("NUM_PROXIES", default=0)


# --- Surveys -----------------------------------------------------------------------

# Contact fatigue: no survey invitation to a customer who was sent one in the last N
# days, nor while they have an open complaint or within N days of one.
SURVEY_FATIGUE_DAYS = env.int("SURVEY_FATIGUE_DAYS", default=30)
SURVEY_COMPLAINT_QUIET_DAYS = env.int("SURVEY_COMPLAINT_QUIET_DAYS", default=14)
# Scheduled invitations go out on weekday mornings in the customer's time zone, spread
# over these hours (from, to): [9:00, 12:00) by default.
SURVEY_SEND_HOURS = tuple(env.list("SURVEY_SEND_HOURS", cast=int, default=[9, 12]))
SURVEY_TEXT_MAX = env.int("SURVEY_TEXT_MAX", default=2000)
# The hourly choice of NPS and CLI invitations looks again at customers whose turn came
# in the last N days (held back by a complaint, say); after a longer pause of beat it
# looks at every customer once.
SURVEY_SCHEDULE_CATCHUP_DAYS = env.int("SURVEY_SCHEDULE_CATCHUP_DAYS", default=2)
# The shop's own pages that may show a survey in an iframe (embed.js): their origins,
# e.g. https://shop.example.com. Empty: no page may frame ours.
SURVEY_EMBED_ORIGINS = env.list("SURVEY_EMBED_ORIGINS", default=[])
# How long a token the shop's server got from POST /api/survey-embeds/ opens the survey.
SURVEY_EMBED_TOKEN_SECONDS = env.int("SURVEY_EMBED_TOKEN_SECONDS", default=600)


# --- Celery --------------------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: folders under var/, no server, handles beat and the
    # worker's broadcast (fanout) messages.
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
        # The transport looks for new messages this often (seconds); its default of 1 s
        # lets a worker take only about two tasks a second.
        "polling_interval": 0.1,
    }
    # The transport expects its folders to exist; whichever process starts first makes them.
    for _folder in ("queue", "control", "processed"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    # Redis redelivers an unacknowledged task after this many seconds; well under an
    # hour so that a task lost with a killed worker comes back soon.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 900}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {
            # Publishing from a web request while Redis is down fails in about a second
            # instead of blocking the request; the outbox sweep queues the work later.
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.2,
            "socket_connect_timeout": 1,
            "socket_timeout": 10,
        }
    )
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# Two queues: "mail" for deliveries, "celery" for the sweep and everything else, so a
# mail server that hangs cannot starve the sweep (production runs a worker per queue,
# see Procfile; `make run` runs one worker on both).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"customers.tasks.deliver_messages": {"queue": "mail"}}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged after it ran, and given back if its worker dies: work is done at
# least once, so every task must be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every task
# unless this is set (then it closes it every this many tasks): each task would open a
# new PostgreSQL connection, which costs more than delivering an email (bench/README.md).
# Set out of reach: a worker's connections follow CONN_MAX_AGE and CONN_HEALTH_CHECKS
# instead, checked around each task as Django checks them around each request
# (retention_crm/celery.py).
CELERY_DB_REUSE_MAX = 10**9
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Every periodic job, in one place. The database scheduler copies these into the admin
# (Periodic tasks), where managers can see them run; exactly one beat process runs them.
# The sweep of every deadline (DESIGN.md, mechanism 1); tests run it every second.
SWEEP_INTERVAL_SECONDS = env.float("SWEEP_INTERVAL_SECONDS", default=60)
CELERY_BEAT_SCHEDULE = {
    "sweep-deadlines": {
        "task": "retention_crm.tasks.sweep_deadlines",
        "schedule": SWEEP_INTERVAL_SECONDS,
        # A sweep queued while no worker ran is pointless once the next one is queued.
        "options": {"expires": max(SWEEP_INTERVAL_SECONDS * 2, 10)},
    },
    "purge-import-uploads": {"task": "customers.tasks.purge_import_uploads", "schedule": 60 * 60},
    "fold-pending-activity": {"task": "customers.tasks.fold_pending_activity", "schedule": 60},
    # Chooses who gets the periodic NPS and CLI invitations (idempotent per customer and
    # day; the sweep sends them when their morning comes).
    "schedule-surveys": {"task": "feedback.tasks.schedule_surveys", "schedule": 60 * 60},
    # Birthday bonuses (at 9 in each customer's time zone) and warnings of points that
    # expire within 30 days; the nightly tier evaluation.
    "loyalty-hourly": {"task": "loyalty.tasks.loyalty_hourly", "schedule": 60 * 60},
    "loyalty-nightly": {"task": "loyalty.tasks.loyalty_nightly", "schedule": crontab(hour=2, minute=30)},
    # Churn risk and predicted CLV of every customer, after the tiers changed.
    "insights-nightly": {"task": "insights.tasks.insights_nightly", "schedule": crontab(hour=3, minute=15)},
    # Personal data of customers inactive for CUSTOMER_ERASE_INACTIVE_DAYS (when set).
    "erase-inactive-customers": {
        "task": "customers.tasks.erase_inactive_customers",
        "schedule": crontab(hour=4, minute=0),
    },
    # Last week's figures to the managers, Monday morning.
    "insights-weekly": {
        "task": "insights.tasks.insights_weekly",
        "schedule": crontab(day_of_week="mon", hour=7, minute=0),
    },
}


# --- REST API ------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "retention_crm.auth.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["retention_crm.api.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "retention_crm.api.IdCursorPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "retention_crm.api.exception_handler",
    "PAGE_SIZE": 50,
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Retention CRM API",
    "DESCRIPTION": "Customers, orders and retention metrics. Authenticate with `Authorization: Token <key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the installed sidecar package: nothing is loaded from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that share a field name across resources get their own schema names.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "customers.models.OrderStatus",
        "TicketStatusEnum": "feedback.models.TicketStatus",
        "TicketKindEnum": "feedback.models.TicketKind",
        "TicketChannelEnum": "feedback.models.TicketChannel",
        "ReminderKindEnum": "feedback.models.ReminderKind",
        "MessageChannelEnum": "customers.models.Channel",
        "MessageEntryEnum": "customers.models.Entry",
        "LanguageEnum": "retention_crm.settings.LANGUAGES",
    },
}


# --- Import / export -----------------------------------------------------------------

# Exports only (CSV and XLSX, set on the admin classes): imports go through
# customers.imports, the same code as the commands.
# Formula injection is neutralised by customers.resources (django-import-export's own
# option only strips a leading "=", losing data and missing "+", "-" and "@").
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"


# --- Orders --------------------------------------------------------------------------

# The currency of an order that names none (API and import). Revenue figures add totals
# as they are: a shop reports in one currency.
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="EUR")

# --- Loyalty -----------------------------------------------------------------------------
# The page a referral link opens (the shop's sign-up page, which reads ?ref=CODE); empty:
# the site's own address.
LOYALTY_REFERRAL_URL = env.str("LOYALTY_REFERRAL_URL", default="")
# How long a link to a customer's loyalty page works (each loyalty email has a fresh one).
LOYALTY_LINK_DAYS = env.int("LOYALTY_LINK_DAYS", default=60)
# Contact fatigue: at most this many loyalty emails (thanks, tier, birthday, expiring
# points, referral) and win-back offers reach one customer in seven days; the rest are
# cancelled, not queued.
LOYALTY_EMAILS_PER_WEEK = env.int("LOYALTY_EMAILS_PER_WEEK", default=3)
# The thank-you for a first paid order goes out this many minutes after it.
LOYALTY_THANKS_DELAY_MINUTES = env.int("LOYALTY_THANKS_DELAY_MINUTES", default=30)
# A customer gets at most one win-back offer in this many days, whatever the campaign.
WIN_BACK_QUIET_DAYS = env.int("WIN_BACK_QUIET_DAYS", default=90)


# --- Retention metrics ---------------------------------------------------------------

# The activity window W of METRICS.md: a customer is active at t with a counted order in
# [t - W days, t). Changing it needs `manage.py rebuild_metrics` for the fast path.
RETENTION_WINDOW_DAYS = env.int("RETENTION_WINDOW_DAYS", default=365)


# --- Security ------------------------------------------------------------------------

SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Customer pages (/support/, and the survey and loyalty pages to come) load nothing but
# our own static files: no inline script or style, no third party, no framing. The
# admin and the API documentation keep Django's and Swagger UI's own ways.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/admin/", "/api/"],
    "DIRECTIVES": {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
    },
}
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    if env.bool("SECURE_PROXY_SSL_HEADER", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


# --- Logging -------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
