"""The local .env: written once by `make env`, read by the settings, never above the environment."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from studyserver import dotenv

ROOT = Path(__file__).resolve().parents[2]


def test_parse_skips_comments_and_takes_export_quotes_and_inline_comments():
    text = (
        "# a comment\n"
        "\n"
        "DEBUG=1\n"
        "export DATABASE_URL=postgres://u:p@h:5432/db\n"
        "SECRET_KEY='a b#c'\n"
        'LOG_LEVEL="DEBUG"\n'
        "CACHE_URL=redis://h:6379/2 # shared counts\n"
        "EMPTY=\n"
    )
    assert dotenv.parse(text) == {
        "DEBUG": "1",
        "DATABASE_URL": "postgres://u:p@h:5432/db",
        "SECRET_KEY": "a b#c",
        "LOG_LEVEL": "DEBUG",
        "CACHE_URL": "redis://h:6379/2",
        "EMPTY": "",
    }


def test_parse_names_the_line_of_a_malformed_entry():
    with pytest.raises(dotenv.DotenvError, match=r"x\.env, line 3: expected NAME=value"):
        dotenv.parse("A=1\n# ok\nthis is not an assignment\n", source="x.env")


def test_the_environment_wins_over_the_file(tmp_path):
    path = tmp_path / ".env"
    path.write_text("DEBUG=1\nSECRET_KEY=from-file\nLOG_LEVEL=DEBUG\n")
    environ = {"MUSISCENE_DOTENV": str(path), "DEBUG": "0", "LOG_LEVEL": ""}
    applied = dotenv.load_dotenv(environ)
    assert applied == ["SECRET_KEY"]
    # a variable set in the environment is kept, even when it is set to the empty string
    assert environ["DEBUG"] == "0" and environ["LOG_LEVEL"] == ""
    assert environ["SECRET_KEY"] == "from-file"


def test_the_file_can_be_turned_off_and_may_be_missing(tmp_path):
    path = tmp_path / ".env"
    path.write_text("SECRET_KEY=from-file\n")
    off = {"MUSISCENE_DOTENV": str(path), "MUSISCENE_NO_DOTENV": "1"}
    assert dotenv.load_dotenv(off) == [] and "SECRET_KEY" not in off
    missing = {"MUSISCENE_DOTENV": str(tmp_path / "nothing-here")}
    assert dotenv.load_dotenv(missing) == [] and set(missing) == {"MUSISCENE_DOTENV"}


def test_make_env_writes_a_private_file_once_with_a_fresh_key(tmp_path):
    path = tmp_path / ".env"
    assert dotenv.write_local(path) is True
    values = dotenv.parse(path.read_text())
    assert values["DEBUG"] == "1"
    assert len(values["SECRET_KEY"]) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_text()
    assert dotenv.write_local(path) is False  # never overwritten
    assert path.read_text() == before
    other = tmp_path / "other.env"
    dotenv.write_local(other)
    assert dotenv.parse(other.read_text())["SECRET_KEY"] != values["SECRET_KEY"]


def _manage(args, tmp_path, extra=None, dotenv_file=None):
    """manage.py with the production settings module and none of the test suite's variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "MUSISCENE_NO_DOTENV", "DJANGO_SETTINGS_MODULE")
        and not k.startswith("MUSISCENE_TEST_VAR_DIR")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="studyserver.settings",
        VAR_DIR=str(tmp_path / "var"),
        MUSISCENE_DOTENV=str(dotenv_file or tmp_path / "no.env"),
        PYTHONPATH=str(ROOT),
    )
    env.pop("DATABASE_URL", None)
    env.update(extra or {})
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_documented_commands_work_after_make_env_and_not_without(tmp_path):
    """Finding 1 of issue 19: `python manage.py ...` failed with "SECRET_KEY must be set"."""
    probe = ["shell", "-c", "from django.conf import settings; print('DEBUG', settings.DEBUG)"]
    without = _manage(probe, tmp_path)
    assert without.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in without.stderr
    assert "make env" in without.stderr  # the message says what to do

    env_file = tmp_path / ".env"
    made = subprocess.run(
        [sys.executable, "-m", "studyserver.dotenv", str(env_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    assert f"wrote {env_file}" in made.stdout
    with_env = _manage(probe, tmp_path, dotenv_file=env_file)
    assert with_env.returncode == 0, with_env.stderr
    assert "DEBUG True" in with_env.stdout

    # production reads the real environment: DEBUG=0 there beats the file's DEBUG=1
    real = _manage(probe, tmp_path, extra={"DEBUG": "0", "SECURE": "0"}, dotenv_file=env_file)
    assert real.returncode == 0, real.stderr
    assert "DEBUG False" in real.stdout
