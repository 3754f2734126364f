"""Every module, object and file the documentation names in code spans exists.

The code moves (the restructure moves apps and tests); a page that still names the old place is
a dead end for its reader. This test reads every `backticked` name in docs/ and the top-level
Markdown files that looks like a project module path (``survey.exports.ratings_frame``) or a
project file (``survey/exports.py``, ``tests/analysis/``) and checks that it resolves.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("studyserver", "generation", "survey", "analysis", "modeling")
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [
    ROOT / name for name in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")
]
DOTTED = re.compile(r"`((?:{})(?:\.[A-Za-z_][A-Za-z0-9_]*)+)".format("|".join(PACKAGES)))
PATH = re.compile(
    r"`((?:{}|tests|benchmarks|deploy|docs)/[A-Za-z0-9_./-]*)`".format("|".join(PACKAGES))
)


def _names(pattern):
    found = []
    for page in PAGES:
        for match in pattern.finditer(page.read_text()):
            found.append((page.relative_to(ROOT).as_posix(), match.group(1).rstrip(".")))
    return sorted(set(found))


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("page,dotted", _names(DOTTED))
def test_named_module_or_object_exists(page, dotted):
    assert _resolves(dotted), f"{page} names `{dotted}`, which does not exist"


@pytest.mark.parametrize("page,path", _names(PATH))
def test_named_file_or_folder_exists(page, path):
    if "<" in path or "*" in path or path.startswith("docs/reference/"):
        pytest.skip("a pattern or a page generated at build time")
    assert (ROOT / path).exists(), f"{page} names `{path}`, which does not exist"
