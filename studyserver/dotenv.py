"""The local ``.env`` file: what ``make env`` (run by ``make demo``) writes and the settings read.

On a laptop every ``python manage.py ...`` should work as written after ``make demo``, without
exporting variables in each terminal. So ``make env`` writes ``.env`` in the project folder once
(``DEBUG=1``, a generated ``SECRET_KEY``, the embedded defaults as comments), and
``studyserver.settings`` calls :func:`load_dotenv` before it reads anything.

Rules:

- a variable already in the process environment always wins over the file (production sets the
  real environment; a one-off ``DATABASE_URL=... python manage.py ...`` works as usual);
- ``MUSISCENE_NO_DOTENV=1`` turns the file off (the test settings set it, so the suite never
  depends on a developer's ``.env``); ``MUSISCENE_DOTENV=PATH`` reads another file;
- the format is ``NAME=value`` per line, ``#`` comments, an optional ``export`` prefix and
  optional single or double quotes around the value; nothing is expanded;
- a malformed line stops the process with its line number, as a malformed variable does.

Only the standard library is imported here, so ``python -m studyserver.dotenv`` runs anywhere.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import MutableMapping
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PATH = BASE_DIR / ".env"
_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_TRUE = {"1", "true", "yes", "on"}


class DotenvError(ValueError):
    """A line of the file that is not ``NAME=value``."""


def parse(text: str, source: str = ".env") -> dict[str, str]:
    """``NAME=value`` lines to a dict; blank lines and ``#`` comments are skipped."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise DotenvError(f"{source}, line {number}: expected NAME=value, got {raw!r}")
        name, value = match.group(1), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:  # an unquoted value ends at a comment
            value = value.split(" #", 1)[0].rstrip()
        values[name] = value
    return values


def dotenv_path(environ: MutableMapping[str, str] = os.environ) -> Path:
    return Path(environ.get("MUSISCENE_DOTENV") or DEFAULT_PATH)


def load_dotenv(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Put the file's values into ``environ`` where it has none; return the names it set."""
    if environ.get("MUSISCENE_NO_DOTENV", "").strip().lower() in _TRUE:
        return []
    path = dotenv_path(environ)
    if not path.is_file():
        return []
    values = parse(path.read_text(encoding="utf-8"), source=str(path))
    applied = []
    for name, value in values.items():
        if name not in environ:
            environ[name] = value
            applied.append(name)
    return applied


def render_local(secret_key: str | None = None) -> str:
    """The text ``make env`` writes: development mode, a fresh secret, the defaults as comments."""
    key = secret_key or secrets.token_urlsafe(50)
    return (
        "# Written by `make env` (run by `make demo`) for local development on this machine.\n"
        "# The settings read it; a variable set in the real environment wins over this file.\n"
        "# Not for a server: there, set the real environment and keep DEBUG off.\n"
        "DEBUG=1\n"
        f"SECRET_KEY={key}\n"
        "\n"
        "# Everything else has an embedded default: SQLite in var/db.sqlite3, jobs in-process,\n"
        "# media in var/media. To change one, add a line, for example:\n"
        "#   DATABASE_URL=postgres://musiscene:password@127.0.0.1:5432/musiscene\n"
        "#   CELERY_BROKER_URL=redis://127.0.0.1:6379/0\n"
        "#   MUSISCENE_MODEL_DIR=/path/to/checkpoints\n"
        "# Every variable: docs/reference/settings.md (make docs-serve).\n"
    )


def write_local(path: Path) -> bool:
    """Write the local file unless one exists (it is never overwritten); True when written."""
    if path.exists():
        return False
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(render_local())
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_PATH
    if write_local(path):
        print(f"wrote {path} (DEBUG=1, a new SECRET_KEY) for local development")
    else:
        print(f"{path} exists; kept as it is (delete it to get a fresh one)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
