"""mkdocs-gen-files script: the settings, command and API reference pages, from the code.

Run by `mkdocs build` (plugin `gen-files` in mkdocs.yml). Django is set up with development
defaults that never override a real environment, so the build needs no .env and no database.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyserver.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("MUSISCENE_NO_DOTENV", "1")  # the reference describes the code, not a .env
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="musiscene-docs-"))

import django  # noqa: E402

django.setup()

from studyserver import reference  # noqa: E402

with mkdocs_gen_files.open("reference/settings.md", "w") as fh:
    fh.write(reference.settings_markdown())
with mkdocs_gen_files.open("reference/commands.md", "w") as fh:
    fh.write(reference.commands_markdown())
schema = reference.openapi_schema()
with mkdocs_gen_files.open("reference/openapi.json", "w") as fh:
    json.dump(schema, fh, indent=1, default=str)
with mkdocs_gen_files.open("reference/api.md", "w") as fh:
    fh.write(reference.api_markdown(schema))
