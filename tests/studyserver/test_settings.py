"""Settings come from the environment through typed helpers that fail loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from studyserver.env import env_bool, env_choice, env_float, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


def test_typed_helpers(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_FLOAT", "-23.5")
    monkeypatch.setenv("X_LIST", "a.org, b.org,,")
    assert (
        env_bool("X_BOOL") is True
        and env_int("X_INT", 0) == 12
        and env_float("X_FLOAT", 0) == -23.5
    )
    assert env_list("X_LIST", []) == ["a.org", "b.org"]
    assert env_bool("X_UNSET", True) is True


@pytest.mark.parametrize("fn,value", [(env_bool, "maybe"), (env_int, "12a"), (env_float, "loud")])
def test_malformed_values_fail_loudly(monkeypatch, fn, value):
    monkeypatch.setenv("X_BAD", value)
    with pytest.raises(ImproperlyConfigured, match="X_BAD"):
        fn("X_BAD", *(() if fn is env_bool else (0,)))


def test_choice(monkeypatch):
    monkeypatch.setenv("X_STORE", "ftp")
    with pytest.raises(ImproperlyConfigured, match="local, s3"):
        env_choice("X_STORE", "local", ("local", "s3"))


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    drop = {
        "SECRET_KEY",
        "DEBUG",
        "SECURE",
        "VAR_DIR",
        "DATABASE_URL",
        "DJANGO_SETTINGS_MODULE",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
    }
    base = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = _manage("check", DEBUG="0", VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean_with_production_values(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        VAR_DIR=str(tmp_path),
        SECRET_KEY="x7" * 30 + "Qz!kPp",
        ALLOWED_HOSTS="study.example.org",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_without_a_broker_tasks_run_in_process(settings):
    from studyserver.celery import app

    assert settings.CELERY_BROKER_URL == "" or os.environ.get("CELERY_BROKER_URL")
    if not settings.CELERY_BROKER_URL:
        assert app.conf.task_always_eager is True


def _database_options(monkeypatch, tmp_path, **env) -> dict:
    import runpy

    base = {"MUSISCENE_NO_DOTENV": "1", "VAR_DIR": str(tmp_path), "SECRET_KEY": "x"}
    monkeypatch.setattr(os, "environ", {**base, **env})
    return runpy.run_path(str(ROOT / "studyserver" / "settings.py"))["DATABASES"]["default"]


def test_postgresql_binds_on_the_server_unless_told_not_to(monkeypatch, tmp_path):
    url = "postgres://u:p@127.0.0.1:5432/x"
    on = _database_options(monkeypatch, tmp_path, DATABASE_URL=url)["OPTIONS"]
    assert on["server_side_binding"] is True and on["prepare_threshold"] == 5
    off = _database_options(monkeypatch, tmp_path, DATABASE_URL=url, DB_SERVER_SIDE_BINDING="0")
    assert "server_side_binding" not in off["OPTIONS"]
    sqlite = _database_options(monkeypatch, tmp_path)
    assert "server_side_binding" not in sqlite["OPTIONS"]


@pytest.mark.django_db
def test_the_suites_postgresql_connection_binds_on_the_server():
    """The suite's PostgreSQL half runs with the setting the server runs with."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    assert connection.connection.cursor_factory is ServerBindingCursor
