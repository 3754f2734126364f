"""The generated reference (docs/reference/{settings,commands,api}.md) covers what the code
reads."""

from __future__ import annotations

import os
import runpy
from collections.abc import MutableMapping
from pathlib import Path

import pytest
from django.core.management import get_commands

from studyserver import reference

ROOT = Path(__file__).resolve().parents[2]


class RecordingEnviron(MutableMapping):
    """os.environ that remembers every name the code asks for."""

    def __init__(self, values):
        self.values = dict(values)
        self.asked: set[str] = set()

    def __getitem__(self, key):
        self.asked.add(key)
        return self.values[key]

    def __contains__(self, key):
        self.asked.add(key)
        return key in self.values

    def get(self, key, default=None):
        self.asked.add(key)
        return self.values.get(key, default)

    def __setitem__(self, key, value):
        self.values[key] = value

    def __delitem__(self, key):
        del self.values[key]

    def __iter__(self):
        return iter(self.values)

    def __len__(self):
        return len(self.values)


def _names_settings_read(monkeypatch, tmp_path, **overrides) -> set[str]:
    base = {"MUSISCENE_NO_DOTENV": "1", "VAR_DIR": str(tmp_path), "SECRET_KEY": "x"}
    spy = RecordingEnviron({**base, **overrides})
    monkeypatch.setattr(os, "environ", spy)
    try:
        runpy.run_path(str(ROOT / "studyserver" / "settings.py"))
    except Exception:  # noqa: BLE001 - a branch may refuse (no django-storages): reads before count
        pass
    return spy.asked


def test_every_variable_the_settings_read_is_in_the_generated_page(monkeypatch, tmp_path):
    """Run settings.py under several environments (to reach its branches), record every name it
    asks the environment for, and require each on the generated settings page."""
    asked: set[str] = set()
    for overrides in (
        {},
        {"DEBUG": "1"},
        {"STORAGE_BACKEND": "s3", "AWS_STORAGE_BUCKET_NAME": "b"},
        {"DATABASE_URL": "postgres://u:p@127.0.0.1:5432/x", "DB_POOL": "1"},
    ):
        asked |= _names_settings_read(monkeypatch, tmp_path, **overrides)
    monkeypatch.undo()
    asked -= {"MUSISCENE_NO_DOTENV", "MUSISCENE_DOTENV"}  # the .env switches, on the .env page
    page = reference.settings_markdown()
    documented = set(reference.environment_variables())
    assert asked, "the spy saw nothing: the settings no longer read os.environ?"
    assert asked <= documented, f"read but not in the reference: {sorted(asked - documented)}"
    for name in asked:
        assert f"| `{name}` |" in page


def test_every_variable_has_a_description_and_no_description_is_stale():
    variables = set(reference.environment_variables())
    described = set(reference.load_descriptions())
    missing = variables - described
    stale = described - variables
    assert not missing, f"describe these in docs/_data/settings.yml: {sorted(missing)}"
    assert not stale, f"docs/_data/settings.yml describes variables nothing reads: {sorted(stale)}"
    for name, entry in reference.load_descriptions().items():
        assert entry["text"], f"{name} has an empty description"


@pytest.mark.parametrize("name,rel", sorted(reference.INDIRECT.items()))
def test_indirect_names_still_appear_in_their_file(name, rel):
    assert name in (ROOT / rel).read_text()


def test_scanned_files_exist_or_are_known_to_come():
    # studyserver/dotenv.py is scanned; a missing scanned file means a rename the page missed
    for rel in reference.SCANNED:
        assert (ROOT / rel).exists(), f"{rel} is scanned for environment variables but is gone"


def test_every_project_command_is_on_the_commands_page_with_its_options():
    page = reference.commands_markdown()
    own = [
        name for name, app in get_commands().items() if app.split(".")[0] in reference.PROJECT_APPS
    ]
    assert "demo" in own and "analysis_report" in own
    for name in own:
        assert f"### {name}\n" in page
    assert "--simulate-participants N" in page  # an option, as --help prints it
    for name in ("createsuperuser", "drf_create_token", "migrate"):
        assert f"### {name}\n" in page


def test_every_api_path_and_method_is_on_the_api_page():
    schema = reference.openapi_schema()
    page = reference.api_markdown(schema)
    assert schema["paths"]
    for path, ops in schema["paths"].items():
        for method in ops:
            if method in ("get", "post", "put", "patch", "delete"):
                assert f"## `{method.upper()} {path}`" in page
