"""The one collector of software versions that results record beside their numbers."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata


def software_versions(packages: Iterable[str], *, python: bool = True) -> dict[str, str]:
    """``{"python": "3.11.9", package: version or "not installed", ...}`` in the given order.

    >>> software_versions(["no-such-package-here"])["no-such-package-here"]
    'not installed'
    """
    out = {"python": platform.python_version()} if python else {}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out
