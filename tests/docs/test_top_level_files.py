"""The files at the top of the repository: links that resolve, a licence and a citation that
parse."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"])
def test_every_relative_link_and_image_resolves(name):
    text = (ROOT / name).read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [t for t in targets if not re.match(r"^[a-z]+:|^#", t)]
    for target in relative:
        path = ROOT / target.split("#", 1)[0]
        assert path.exists(), f"{name} links to {target}, which does not exist"


def test_the_readme_stays_short_and_points_into_the_docs():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 170
    for page in ("docs/tutorials/demo.md", "docs/reference/licences.md", "docs/images/trial.png"):
        assert page in text


def test_licence_matches_the_package_metadata_and_the_citation_parses():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT"
    paper = cff["preferred-citation"]
    assert paper["title"].startswith("MusiScene")
    assert [a["family-names"] for a in paper["authors"]] == ["Izzati", "Li", "Wu", "Xia"]
