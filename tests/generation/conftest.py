"""Every generation test writes into a media folder of its own (``private_media``, shared in
tests/conftest.py): these tests sweep unreferenced files and count the files they make."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _own_media(private_media):
    return private_media
