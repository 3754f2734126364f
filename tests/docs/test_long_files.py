"""No Python file of the project over 600 lines without a reason at its top (issue 15): a line of
its module docstring that starts with "One file because". Migrations are generated: exempt."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("modeling", "generation", "survey", "analysis", "studyserver", "benchmarks", "tests")
LIMIT = 600
MARKER = "One file because"

# Files allowed to lack a reason for a while (e.g. during a rewrite); the test fails once an
# entry is stale. Empty since every long file says why it is one.
PENDING: set[str] = set()


def _long_files() -> dict[str, int]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > LIMIT:
                out[path.relative_to(ROOT).as_posix()] = n
    return out


def _has_reason(name: str) -> bool:
    doc = ast.get_docstring(ast.parse((ROOT / name).read_text(encoding="utf-8"))) or ""
    return any(line.startswith(MARKER) for line in doc.splitlines())


def test_it_finds_the_long_files():
    # a guard against a walk that silently finds nothing
    assert "analysis/stats.py" in _long_files()


def test_every_long_file_says_why_it_is_one_file():
    missing = [
        f"{name} ({n} lines)"
        for name, n in sorted(_long_files().items())
        if name not in PENDING and not _has_reason(name)
    ]
    assert not missing, (
        f'files over {LIMIT} lines need a docstring line starting "{MARKER}" (or a split): '
        + ", ".join(missing)
    )


def test_no_stale_pending_entry():
    long_files = _long_files()
    stale = [n for n in sorted(PENDING) if n not in long_files or _has_reason(n)]
    assert not stale, f"remove from PENDING (now short or with a reason): {stale}"
