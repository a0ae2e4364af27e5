"""Settings for the test suite: the real settings, with test-only secrets and a scratch var dir."""

import os
import tempfile

os.environ.setdefault("PARLOIR_SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("PARLOIR_VAR_DIR", tempfile.mkdtemp(prefix="parloir-test-"))
for _name in (
    "PARLOIR_JANUS_ADMIN_SECRET",
    "PARLOIR_JANUS_ROOM_ADMIN_KEY",
    "PARLOIR_RECORDING_MASTER_KEY",
    "PARLOIR_AUDIT_KEY",
):
    if not os.environ.get(_name) and not os.environ.get(f"{_name}_FILE"):
        os.environ[_name] = f"test-only-{_name.lower()}"

from parloir.settings import *  # noqa: E402,F403

CHECK_EVENT_SCHEMAS = True  # every event the tests make is checked
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never in prod
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
WHITENOISE_AUTOREFRESH = True
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not Django's shared in-memory database: with threads, shared-cache SQLite
    # fails with "table is locked" instead of queueing writers as WAL + IMMEDIATE do.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405
WHITENOISE_USE_FINDERS = True

# Tests that drive the ASGI application must not leave workers running in the test
# process, racing the tests that claim jobs themselves. The end-to-end stack's web server
# turns them back on (tests/e2e/stack.py), as a single-process installation has them.
IN_PROCESS_WORKERS = env.flag("PARLOIR_IN_PROCESS_WORKERS", default=False)  # noqa: F405
