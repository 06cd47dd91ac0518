"""Aremko CRM settings.

Every value comes from the environment through django-environ (see `.env.example`); nothing else in the
project reads `os.environ`. Defaults are safe for development; production sets DEBUG=False, which makes
SECRET_KEY and ALLOWED_HOSTS mandatory and turns on the HTTPS hardening below.
"""

import datetime
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="django-insecure-dev-only-key-never-use-in-production")
else:
    SECRET_KEY = env("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "falta SECRET_KEY (DEBUG está desactivado): usa DEBUG=true para desarrollo, o define SECRET_KEY "
            "(y ALLOWED_HOSTS) para producción."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "crm.apps.TasksDbConfig",  # django_tasks_db with a Spanish name in the admin
    "crm.apps.AxesConfig",  # django-axes with a Spanish name in the admin
    "ventas",
    "crm",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "aremko.middleware.RejectUnusableQueryMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "aremko.middleware.SpanishNotFoundMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the Spanish lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "aremko.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "aremko.wsgi.application"

# Database: SQLite next to the code unless DATABASE_URL says otherwise (PostgreSQL in production and CI).
DATABASE_URL = env("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if not DATABASES["default"].get("ENGINE", "").startswith(("django.db.backends.", "django.contrib.gis.")):
    raise ImproperlyConfigured(
        f"DATABASE_URL no es válida (esquema «{DATABASE_URL.split(':', 1)[0]}» desconocido): usa "
        "postgres://usuario@127.0.0.1:5432/aremko, o déjala vacía para usar SQLite."
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets staff read while a worker writes; IMMEDIATE avoids "database is locked" on upgrade.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
            "transaction_mode": "IMMEDIATE",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login throttling (staff login and admin login) with django-axes: failures are counted in the database, so
# every worker process sees them; LOGIN_FAILURE_LIMIT failures of one username from one address lock that
# pair out for LOGIN_LOCKOUT_MINUTES (a new failure while locked restarts the wait).
AUTHENTICATION_BACKENDS = [
    "crm.services.ratelimit.LoginThrottleBackend",
    "crm.roles.RoleBackend",  # Django's ModelBackend, permissions in one query
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "crm.views.access.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "crm.services.ratelimit.client_ip"
AXES_USERNAME_CALLABLE = "crm.services.ratelimit.login_username"
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "crm_dashboard"
LOGOUT_REDIRECT_URL = "login"

# Chile: Spanish, Santiago time, "1.246.535" thousands.
LANGUAGE_CODE = "es-cl"
LANGUAGES = [("es", "Español")]
TIME_ZONE = "America/Santiago"
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True
# Locale formats win over the plain settings: aremko/formats/es holds "25-11-2026", "26.158" and what forms accept.
FORMAT_MODULE_PATH = ["aremko.formats"]
LOCALE_PATHS = [BASE_DIR / "locale"]  # Spanish for third-party apps without it (the task results admin)
DATE_INPUT_FORMATS = ["%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d"]  # what staff type; the formats module uses these too

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

# Email: console in development; e.g. EMAIL_URL=smtp+tls://user:password@smtp.example.com:587 in production.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Aremko Spa <reservas@aremko.invalid>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
REPLY_TO = env("REPLY_TO", default="")

# Background work through Django's tasks API (django-tasks backport on 5.2).
TASKS_BACKEND = env("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend")
TASKS = {"default": {"BACKEND": TASKS_BACKEND}}
if TASKS_BACKEND.startswith("django_tasks_rq"):
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_QUEUES = {"default": {"URL": env("REDIS_URL", default="redis://127.0.0.1:6379/0")}}

# Two caches. "default": per-process memory for computed values (statistics), or Redis with REDIS_URL.
# "shared": what every worker process must see the same (the proposal rate limit): Redis with REDIS_URL, else
# a database table (`crm_cache`; `migrate` creates it, crm migration 0005 runs `createcachetable`).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "crm_cache"},
}
if env("REDIS_URL", default=""):
    redis_cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_URL")}
    CACHES = {"default": redis_cache, "shared": redis_cache}

# CRM: RFM thresholds (days, services, CLP).
RFM_RECENCY_DAYS = env.list("RFM_RECENCY_DAYS", cast=int, default=[90, 180])
RFM_FREQUENCY = env.list("RFM_FREQUENCY", cast=int, default=[10, 5])
RFM_MONETARY = env.list("RFM_MONETARY", cast=int, default=[1_000_000, 500_000])
# Legacy exports put unknown dates on this day; such rows are kept but ignored for recency and seasonality.
HISTORY_PLACEHOLDER_DATE = datetime.date.fromisoformat(env("HISTORY_PLACEHOLDER_DATE", default="2021-01-01"))
# Imports: an email/phone written with this many different names in one file is shared (front desk, agency,
# wrong lookup) and never identifies a customer; HOUSE_CONTACTS are the business's own, always ignored.
IMPORT_SHARED_CONTACT_NAMES = env.int("IMPORT_SHARED_CONTACT_NAMES", default=3)
HOUSE_CONTACTS = env.list("HOUSE_CONTACTS", default=[])
# Imports: uploads above this size go to a background task (progress on the run's page); smaller ones import
# while the browser waits. The limits refuse hostile files (xlsx bombs) before reading them.
IMPORT_INLINE_MAX_BYTES = env.int("IMPORT_INLINE_MAX_BYTES", default=5 * 1024 * 1024)
# A background import renews its lease after every batch; one silent for longer (its worker died) is queued again
# by the recovery job (the import is idempotent), up to IMPORT_MAX_ATTEMPTS times, then marked failed.
IMPORT_LEASE_SECONDS = env.int("IMPORT_LEASE_SECONDS", default=600)
IMPORT_MAX_ATTEMPTS = env.int("IMPORT_MAX_ATTEMPTS", default=3)
IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES = env.int("IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES", default=512 * 1024 * 1024)
IMPORT_XLSX_MAX_PART_BYTES = env.int("IMPORT_XLSX_MAX_PART_BYTES", default=64 * 1024 * 1024)
IMPORT_XLSX_MAX_ROWS = env.int("IMPORT_XLSX_MAX_ROWS", default=1_048_576)
IMPORT_XLSX_MAX_COLUMNS = env.int("IMPORT_XLSX_MAX_COLUMNS", default=100)
IMPORT_MAX_CELL_CHARS = env.int("IMPORT_MAX_CELL_CHARS", default=32_767)
# `manage.py demo`: staff user it creates or resets; an empty password means a random one, printed.
DEMO_USER = env("DEMO_USER", default="admin")
DEMO_PASSWORD = env("DEMO_PASSWORD", default="")

# Proposals.
PROPOSAL_BACKEND = env("PROPOSAL_BACKEND", default="local")
PROPOSAL_MAX_DISCOUNT = env.int("PROPOSAL_MAX_DISCOUNT", default=20)
PROPOSAL_RATE_LIMIT_PER_MINUTE = env.int("PROPOSAL_RATE_LIMIT_PER_MINUTE", default=10)
PROPOSAL_MIN_DAYS_BETWEEN = env.int("PROPOSAL_MIN_DAYS_BETWEEN", default=14)
PROPOSAL_CONVERSION_DAYS = env.int("PROPOSAL_CONVERSION_DAYS", default=30)
ANTHROPIC_API_KEY = env("ANTHROPIC_API_KEY", default="")
ANTHROPIC_MODEL = env("ANTHROPIC_MODEL", default="claude-haiku-4-5")
ANTHROPIC_BASE_URL = env("ANTHROPIC_BASE_URL", default="") or None
PROPOSAL_SERVER_URL = env("PROPOSAL_SERVER_URL", default="")
PROPOSAL_SERVER_API_KEY = env("PROPOSAL_SERVER_API_KEY", default="")
PROPOSAL_SERVER_TENANT = env("PROPOSAL_SERVER_TENANT", default="aremko")
EMAIL_MAX_PER_MINUTE = env.int("EMAIL_MAX_PER_MINUTE", default=60)
# A campaign worker or a send silent this long counts as dead: the campaign is re-enqueued, the send "interrumpida".
SEND_LEASE_SECONDS = env.int("SEND_LEASE_SECONDS", default=300)

# Daily WhatsApp retention tray (crm.services.whatsapp).
WHATSAPP_TRAY_SIZE = env.int("WHATSAPP_TRAY_SIZE", default=50)
WHATSAPP_HOLDOUT_SHARE = env.float("WHATSAPP_HOLDOUT_SHARE", default=0.10)
WHATSAPP_DORMANT_MIN_VALUE = env.int("WHATSAPP_DORMANT_MIN_VALUE", default=150_000)
WHATSAPP_CODE_DAYS = env.int("WHATSAPP_CODE_DAYS", default=30)
WHATSAPP_REWRITE = env.bool("WHATSAPP_REWRITE", default=False)
WHATSAPP_BACKEND = env("WHATSAPP_BACKEND", default="click_to_chat")
WHATSAPP_CLOUD_URL = env("WHATSAPP_CLOUD_URL", default="https://graph.facebook.com/v21.0")
WHATSAPP_CLOUD_TOKEN = env("WHATSAPP_CLOUD_TOKEN", default="")
WHATSAPP_CLOUD_PHONE_ID = env("WHATSAPP_CLOUD_PHONE_ID", default="")
WHATSAPP_CLOUD_TIMEOUT = env.float("WHATSAPP_CLOUD_TIMEOUT", default=15.0)

# Ley 21.719: days to answer a data-subject request, and how long the access log is kept.
DATA_REQUEST_DAYS = env.int("DATA_REQUEST_DAYS", default=30)
ACCESS_LOG_RETENTION_DAYS = env.int("ACCESS_LOG_RETENTION_DAYS", default=365)
# AI generations at once per worker process (below GUNICORN_THREADS, so pages keep threads); 0: no cap.
AI_MAX_CONCURRENT_GENERATIONS = env.int("AI_MAX_CONCURRENT_GENERATIONS", default=3)
# Campaigns sending to more customers than this need approval by a second user with `crm.approve_campaign`.
# Share of each campaign's audience kept as a random control group, never contacted, to measure its real effect.
CAMPAIGN_HOLDOUT_SHARE = env.float("CAMPAIGN_HOLDOUT_SHARE", default=0.10)
CAMPAIGN_APPROVAL_THRESHOLD = env.int("CAMPAIGN_APPROVAL_THRESHOLD", default=50)

# Security. Production (DEBUG off) gets HTTPS-only cookies, HSTS and redirects unless told otherwise.
# BEHIND_PROXY=true only when a reverse proxy on this host terminates TLS and sets X-Forwarded-Proto and
# X-Forwarded-For (overwriting what the client sent); otherwise a client could claim https or any address.
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"  # the proposal preview frames with srcdoc or @xframe_options_sameorigin
SESSION_COOKIE_HTTPONLY = True
# Django's database sessions, loaded with SQL written once per process (aremko/sessions.py).
SESSION_ENGINE = "aremko.sessions"
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Content Security Policy: no inline script or style, nothing from other origins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "frame-src": ["'self'"],
        "frame-ancestors": ["'self'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's default logging gives "django" its own console handler (DEBUG only) on top of propagating to
        # root: every django.* warning was printed twice. Listing it here drops that handler; root prints once.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # django-axes logs every login at INFO; lockouts are WARNING.
        "axes": {"level": "WARNING"},
    },
}
