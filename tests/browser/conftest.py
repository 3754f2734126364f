"""Shared by the browser tests: Debian's Chromium launched by path (never downloaded), beside
Django's live server."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=user-gesture-required",
]
needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
]


@pytest.fixture(autouse=True)
def _sync_playwright_beside_the_live_server(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def listen_and_rate(page, values: dict[str, int]):
    """Play every soundtrack until its slider unlocks, then set the given sliders by keyboard."""
    buttons = page.locator("button[data-audio]")
    for i in range(buttons.count()):
        buttons.nth(i).click()
        page.wait_for_function(
            f"document.querySelectorAll('.rating input')[{i}].disabled === false", timeout=15000
        )
    for label, value in values.items():
        slider = page.locator(f"#r{label}")
        slider.focus()
        slider.press("Home")
        for _ in range(value // 10):
            slider.press("PageUp")
    return page
