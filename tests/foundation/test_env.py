import os
import subprocess
import sys
from pathlib import Path

import pytest

from parloir import env

ROOT = Path(__file__).resolve().parents[2]


def test_it_reads_a_secret_from_a_file(tmp_path, monkeypatch):
    secret_file = tmp_path / "key"
    secret_file.write_text("from-file\n")
    monkeypatch.setenv("PARLOIR_TEST_SECRET_FILE", str(secret_file))
    monkeypatch.delenv("PARLOIR_TEST_SECRET", raising=False)
    assert env.secret("PARLOIR_TEST_SECRET", required=True) == "from-file"


def test_it_refuses_both_value_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PARLOIR_TEST_SECRET", "a")
    monkeypatch.setenv("PARLOIR_TEST_SECRET_FILE", str(tmp_path / "b"))
    with pytest.raises(env.ConfigurationError, match="not both"):
        env.secret("PARLOIR_TEST_SECRET", required=True)


def test_it_refuses_a_bad_boolean(monkeypatch):
    monkeypatch.setenv("PARLOIR_TEST_FLAG", "maybe")
    with pytest.raises(env.ConfigurationError, match="boolean"):
        env.flag("PARLOIR_TEST_FLAG")


def _start_django(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PARLOIR_")}
    clean.pop("DJANGO_SETTINGS_MODULE", None)
    clean.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_fails_loudly_at_startup_without_the_production_secret_key(tmp_path):
    result = _start_django({"PARLOIR_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "PARLOIR_SECRET_KEY" in result.stderr


def test_it_starts_with_the_secret_key_from_a_file(tmp_path):
    key = tmp_path / "secret"
    key.write_text("x" * 50)
    result = _start_django(
        {
            "PARLOIR_VAR_DIR": str(tmp_path),
            "PARLOIR_SECRET_KEY_FILE": str(key),
            "PARLOIR_AUDIT_KEY_FILE": str(key),
        }
    )
    assert result.returncode == 0, result.stderr


def test_it_fails_loudly_at_startup_without_the_audit_key(tmp_path):
    """The audit chain's key is what makes it tamper-evident (docs/security.md)."""
    key = tmp_path / "secret"
    key.write_text("x" * 50)
    result = _start_django({"PARLOIR_VAR_DIR": str(tmp_path), "PARLOIR_SECRET_KEY_FILE": str(key)})
    assert result.returncode != 0
    assert "PARLOIR_AUDIT_KEY" in result.stderr


def test_it_uses_sqlite_in_wal_mode_without_database_url(tmp_path):
    code = (
        "import django; django.setup();"
        "from django.db import connection;"
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PARLOIR_")}
    clean.pop("DATABASE_URL", None)
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "parloir.settings",
            "PARLOIR_DEBUG": "1",
            "PARLOIR_VAR_DIR": str(tmp_path),
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True
    )
    assert result.stdout.strip() == "wal", result.stderr


def test_it_picks_the_channel_layer_from_redis_url(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings;"
        "print(settings.CHANNEL_LAYERS['default']['BACKEND'])"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("PARLOIR_")}
    base.update({"DJANGO_SETTINGS_MODULE": "parloir.settings", "PARLOIR_DEBUG": "1"})
    base["PARLOIR_VAR_DIR"] = str(tmp_path)
    base.pop("REDIS_URL", None)
    without = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True
    )
    assert without.stdout.strip() == "channels.layers.InMemoryChannelLayer", without.stderr
    with_redis = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "REDIS_URL": "redis://127.0.0.1:6379/0"},
        capture_output=True,
        text=True,
    )
    assert with_redis.stdout.strip() == "channels_redis.core.RedisChannelLayer"


def test_the_web_server_refuses_to_start_without_its_secrets(tmp_path):
    key = tmp_path / "secret"
    key.write_text("x" * 50)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PARLOIR_")}
    clean.pop("DJANGO_SETTINGS_MODULE", None)
    clean.update(
        {
            "PARLOIR_VAR_DIR": str(tmp_path),
            "PARLOIR_SECRET_KEY_FILE": str(key),
            "PARLOIR_AUDIT_KEY_FILE": str(key),
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", "import parloir.asgi"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    for name in ("PARLOIR_JANUS_ADMIN_SECRET", "PARLOIR_JANUS_ROOM_ADMIN_KEY"):
        assert name in result.stderr
