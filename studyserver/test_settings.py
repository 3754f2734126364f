"""Settings for the test suite: the real settings with test-only secrets filled in.

DATABASE_URL still chooses the database, so the same suite runs on SQLite and PostgreSQL.
"""

import os
import tempfile

# The suite never reads a developer's .env (and neither does a subprocess a test starts).
os.environ["MUSISCENE_NO_DOTENV"] = "1"
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("SECURE", "0")
# A connection per request, as before persistent connections became the default: test databases
# are dropped at the end, and live servers' threads must hold none then.
os.environ.setdefault("CONN_MAX_AGE", "0")
# One scratch folder (media, SQLite test database) per test process: each pytest-xdist worker has
# its own; a subprocess a test starts (a Celery worker, manage.py) inherits its parent's.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
_key = f"MUSISCENE_TEST_VAR_DIR_{_worker}"
os.environ.setdefault(
    _key, os.path.join(tempfile.gettempdir(), f"musiscene-test-{os.getpid()}-{_worker}")
)
os.environ["VAR_DIR"] = os.environ[_key]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from studyserver.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user creation in tests
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory: threads, live servers and worker processes in the tests
    # then see one database with SQLite's real locking (WAL, IMMEDIATE, busy timeout).
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["VAR_DIR"], "test-db.sqlite3")}  # noqa: F405

# Jobs without a broker run inline, so a test sees a job finished when its start returns; the
# background thread is tested on its own (tests/generation/jobs/test_background.py).
JOBS_EMBEDDED = "inline"

RATELIMIT_ENABLED = False  # the rate-limit tests turn it on; elsewhere every bot shares 127.0.0.1
LOGGING["handlers"]["console"]["formatter"] = "plain"  # noqa: F405

# Every 5xx the app answers in a test fails that test (studyserver/testing.py, tests/conftest.py).
MIDDLEWARE = ["studyserver.testing.RecordServerErrors", *MIDDLEWARE]  # noqa: F405
LOGGING["handlers"]["record_5xx"] = {  # noqa: F405
    "class": "studyserver.testing.RecordingHandler",
    "level": "ERROR",
}
LOGGING["loggers"]["django.request"] = {"handlers": ["record_5xx"]}  # noqa: F405
LOGGING["loggers"]["django.server"]["handlers"] = ["record_5xx"]  # noqa: F405
