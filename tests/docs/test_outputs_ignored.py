"""What the README and the tutorials tell a user to write into the checkout (`--out`,
`--bundle`) is ignored by git, so that following them leaves `git status` clean."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_output_the_docs_name_is_ignored():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs" / "tutorials").glob("*.md"))]
    outputs = {
        m.group(1)
        for page in pages
        for m in re.finditer(r"--(?:out|bundle) ([\w./-]+)", page.read_text())
    }
    assert {"report.html", "tables.zip", "first-report.html", "runs/paper"} <= outputs
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "--verbose", "--non-matching", *sorted(outputs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: none ignored
    not_ignored = [ln.split("\t")[1] for ln in result.stdout.splitlines() if ln.startswith("::")]
    assert not not_ignored, f"not in .gitignore: {not_ignored}"
