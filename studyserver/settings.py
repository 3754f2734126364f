"""Settings for MusiScene Studio, read from the environment (see .env.example).

Embedded default: SQLite under var/, Celery tasks run eagerly in-process, media under var/media.
Scale-out: DATABASE_URL=postgres://..., CELERY_BROKER_URL=redis://..., STORAGE_BACKEND=s3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from studyserver.dotenv import load_dotenv
from studyserver.env import env_bool, env_choice, env_float, env_int, env_list, env_str

# A local .env (written by `make env` / `make demo`) fills in what the environment does not set;
# the real environment always wins, and MUSISCENE_NO_DOTENV=1 turns the file off (tests do).
load_dotenv()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

_secret = env_str("SECRET_KEY", "")
if not _secret:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'`). On a laptop, `make env` (run by `make demo`) "
            "writes a local .env with DEBUG=1 and a generated key; run commands in the project "
            "folder."
        )
    _secret = "insecure-development-key-only-used-with-DEBUG-on"
SECRET_KEY = _secret

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "generation",
    "survey",
    "analysis",
]

MIDDLEWARE = [
    "studyserver.ops.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "studyserver.i18n.SiteLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "studyserver.ops.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "studyserver.urls"
WSGI_APPLICATION = "studyserver.wsgi.application"

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

# --- database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
# Connections are kept (per thread) and checked before reuse: a new PostgreSQL connection per
# request costs more CPU than the request (docs/explanation/capacity.md).
_db = dj_database_url.parse(
    DATABASE_URL,
    conn_max_age=env_int("CONN_MAX_AGE", 60),
    conn_health_checks=env_bool("CONN_HEALTH_CHECKS", True),
)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    if _db["NAME"] and _db["NAME"] != ":memory:":
        Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so that
    # concurrent writers queue on busy_timeout instead of failing with "database is locked".
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("SQLITE_BUSY_TIMEOUT_S", 20),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db.setdefault("OPTIONS", {})
    # Values sent apart from the SQL, and a statement a connection runs DB_PREPARE_THRESHOLD
    # times prepared there (parsed and planned once): less database CPU per trial and shorter
    # waits (docs/explanation/capacity.md). Off for a pooler that does not keep a connection's
    # prepared statements (PgBouncer in transaction mode without max_prepared_statements).
    if env_bool("DB_SERVER_SIDE_BINDING", True):
        _db["OPTIONS"]["server_side_binding"] = True
        _db["OPTIONS"]["prepare_threshold"] = env_int("DB_PREPARE_THRESHOLD", 5)
elif "sqlite" not in _db["ENGINE"]:
    raise ImproperlyConfigured(f"DATABASE_URL {DATABASE_URL!r}: use sqlite:/// or postgres://")
if _db["ENGINE"] == "django.db.backends.postgresql" and env_bool("DB_POOL", False):
    # psycopg's connection pool (Django 5.1+): a warm pool per worker process instead of a new
    # connection per request. Incompatible with CONN_MAX_AGE, which is then left at 0.
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"]["pool"] = {
        "min_size": env_int("DB_POOL_MIN", 2),
        "max_size": env_int("DB_POOL_MAX", 10),
        "timeout": env_int("DB_POOL_TIMEOUT", 10),
    }
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- i18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
# The languages the participant pages are translated into (locale/<code>/LC_MESSAGES). A study
# offers some of them (Study.languages); a participant gets one of those, never another. Staff
# pages (the admin, the API) stay in LANGUAGE_CODE.
LANGUAGES = [
    ("en", "English"),
    ("de", "German"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("zh-hans", "Simplified Chinese"),
    ("ar", "Arabic"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static and media -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Media is never served as a public folder: every file goes through a view that checks who asks
# (staff for previews, the participant a file was issued to). MEDIA_URL is that view's prefix.
MEDIA_URL = env_str("MEDIA_URL", "/media/")
STORAGE_BACKEND = env_choice("STORAGE_BACKEND", "local", ("local", "s3"))
if STORAGE_BACKEND == "s3":
    try:
        import storages  # noqa: F401
    except ImportError:
        raise ImproperlyConfigured(
            "STORAGE_BACKEND=s3 needs django-storages: pip install 'django-storages[s3]'"
        ) from None
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 300),
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- media ingest ---------------------------------------------------------------------------
MEDIA_MAX_DURATION_S = env_float("MEDIA_MAX_DURATION_S", 120.0)
DEFAULT_LOUDNESS_LUFS = env_float("DEFAULT_LOUDNESS_LUFS", -23.0)

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "")
# No broker configured: the embedded default runs every task in-process, at once.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"generation.tasks.generate_*": {"queue": "gpu"}}
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 3300)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Without a broker, generation and caption jobs started from the admin run on one background
# thread of the serving process ("background": the page answers at once and follows progress);
# "inline" runs them inside the request, as Celery's eager mode does (generation/engine.py).
JOBS_EMBEDDED = env_choice("JOBS_EMBEDDED", "background", ("background", "inline"))
# Celery beat (`celery -A studyserver beat`): the retention purge once a day.
CELERY_BEAT_SCHEDULE = {
    "purge-identifying-data": {"task": "survey.purge_identifying_data", "schedule": 24 * 3600.0}
}

# Generation jobs (generation/jobs.py, claims in generation/engine.py): stale claims are handed
# back after the timeout.
GENERATION_CLAIM_TIMEOUT_S = env_int("GENERATION_CLAIM_TIMEOUT_S", 300)
GENERATION_HEARTBEAT_S = env_float("GENERATION_HEARTBEAT_S", 30.0)
GENERATION_MAX_RECLAIMS = env_int("GENERATION_MAX_RECLAIMS", 3)
GENERATION_BATCH_TIME_LIMIT_S = env_int("GENERATION_BATCH_TIME_LIMIT_S", 1800)
GENERATION_INGEST_TIME_LIMIT_S = env_int("GENERATION_INGEST_TIME_LIMIT_S", 300)
GENERATION_DEVICE = env_str("GENERATION_DEVICE", "")
GENERATION_DTYPE = env_choice("GENERATION_DTYPE", "", ("", "float32", "bfloat16", "float16"))
GENERATION_MUSICGEN_CACHE = env_choice("GENERATION_MUSICGEN_CACHE", "", ("", "static"))

# Caption jobs (generation/captioning.py): the same claims, with their own values where set
# (0 or "": the GENERATION_* value).
CAPTION_CLAIM_TIMEOUT_S = env_int("CAPTION_CLAIM_TIMEOUT_S", 0)
CAPTION_BATCH_TIME_LIMIT_S = env_int("CAPTION_BATCH_TIME_LIMIT_S", 0)
CAPTION_DEVICE = env_str("CAPTION_DEVICE", "")
CAPTION_GPU_QUEUE = env_str("CAPTION_GPU_QUEUE", "gpu")
CAPTION_MAX_MODELS = env_int("CAPTION_MAX_MODELS", 2)  # captioners a worker keeps loaded

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "survey.throttle.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_CLASSES": ["survey.throttle.ClientAnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": "60/minute"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MusiScene Studio researcher API",
    "DESCRIPTION": "Studies, forms, progress and rating exports. Token or session authentication.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- cache and rate limits ------------------------------------------------------------------
CACHE_URL = env_str("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
# Sliding windows (survey/throttle.py), per client address unless said otherwise.
# A participant makes ~3 requests per trial plus media fetches.
RATELIMIT_PARTICIPANT_PER_MIN = env_int("RATELIMIT_PARTICIPANT_PER_MIN", 600)
RATELIMIT_ENTRY_PER_MIN = env_int("RATELIMIT_ENTRY_PER_MIN", 120)
# New participants (consent given) per client address in any 10 minutes. A lab whose
# participants share one address raises it (docs/how-to/ops/security.md).
RATELIMIT_STARTS_PER_CLIENT_PER_10MIN = env_int("RATELIMIT_STARTS_PER_CLIENT_PER_10MIN", 10)
# New participants per study in any minute, when the study sets no cap of its own.
RATELIMIT_STUDY_STARTS_PER_MIN = env_int("RATELIMIT_STUDY_STARTS_PER_MIN", 30)
RATELIMIT_READYZ_PER_MIN = env_int("RATELIMIT_READYZ_PER_MIN", 60)
# Failed logins in any 15 minutes: per (address, account), per address, per account.
ADMIN_LOGIN_MAX_FAILURES = env_int("ADMIN_LOGIN_MAX_FAILURES", 5)
ADMIN_LOGIN_MAX_FAILURES_PER_IP = env_int("ADMIN_LOGIN_MAX_FAILURES_PER_IP", 20)
ADMIN_LOGIN_MAX_FAILURES_PER_ACCOUNT = env_int("ADMIN_LOGIN_MAX_FAILURES_PER_ACCOUNT", 100)
# Failed API token logins per address in any 15 minutes.
API_TOKEN_MAX_FAILURES = env_int("API_TOKEN_MAX_FAILURES", 20)
# A participant's cookie is honoured for this long after it was set (checked by the server).
PARTICIPANT_COOKIE_MAX_AGE_S = env_int("PARTICIPANT_COOKIE_MAX_AGE_S", 7 * 24 * 3600)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# Each response says how much CPU its thread spent on it (Server-Timing: cpu;dur=ms): for the
# load benchmark (benchmarks/participants.py); off in production.
SERVER_TIMING = env_bool("SERVER_TIMING", False)

# --- security -------------------------------------------------------------------------------
# Behind a TLS-terminating proxy in production; DEBUG (the embedded demo) serves plain HTTP.
SECURE = not DEBUG and env_bool("SECURE", True)
SECURE_SSL_REDIRECT = SECURE
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000) if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE and env_bool("SECURE_HSTS_PRELOAD", True)
BEHIND_PROXY = env_bool("BEHIND_PROXY", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
# Participant pages load only their own scripts, styles and media (blob: for Web Audio buffers).
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src "
    "'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action "
    "'self' https:",
)
# Media by nginx: X-Accel-Redirect to this internal location (e.g. /protected-media/) after the
# per-participant check, instead of Django streaming the file.
MEDIA_ACCEL_REDIRECT_PREFIX = env_str("MEDIA_ACCEL_REDIRECT_PREFIX", "")
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOG_FORMAT = env_choice("LOG_FORMAT", "plain" if DEBUG else "json", ("plain", "json"))
LOGGING: dict[str, Any] = {  # the test settings add handlers
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "studyserver.ops.RequestIdFilter"},
        "scrub": {"()": "studyserver.logscrub.ScrubFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "studyserver.ops.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "scrub"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}
