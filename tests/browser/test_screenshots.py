"""The documentation's screenshots, taken from the demo in Chromium, so they follow the interface.

The test seeds a small demo, takes a participant to the first trial with a soundtrack playing,
and writes the report of simulated participants; it photographs both. By default the pictures go
to a temporary folder and the test only checks that they show the page; with
``MUSISCENE_SCREENSHOTS=1`` (``make screenshots``) they replace ``docs/images/trial.png`` and
``docs/images/report.png``, which the README and the tutorial show.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason="Debian's chromium is not installed (apt-get install chromium)",
    ),
]


@pytest.fixture(autouse=True)
def _sync_playwright_beside_the_live_server(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_screenshots_of_the_trial_page_and_the_report(live_server, transactional_db, tmp_path):
    from playwright.sync_api import sync_playwright

    out = ROOT / "docs" / "images" if os.environ.get("MUSISCENE_SCREENSHOTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    call_command("demo", "--no-serve", "--clips", "4", "--duration", "4", verbosity=0)
    call_command(
        "demo",
        "--no-serve",
        "--clips",
        "4",
        "--duration",
        "4",
        "--simulate-participants",
        "40",
        verbosity=0,
    )
    report = tmp_path / "report.html"
    call_command("analysis_report", "--study", "musiscene-demo", "--out", str(report), verbosity=0)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
        )
        try:
            # bypass_csp lets the test evaluate JavaScript; the CSP tests check the policy itself
            ctx = browser.new_context(viewport={"width": 1100, "height": 820}, bypass_csp=True)
            page = ctx.new_page()
            page.goto(f"{live_server.url}/s/musiscene-demo/?PROLIFIC_PID=screenshot")
            page.get_by_role("button", name="I agree, start").click()
            page.get_by_role("button", name="Start the practice video").click()
            buttons = page.locator("button[data-audio]")
            for i in range(buttons.count()):
                buttons.nth(i).click()
                page.wait_for_function(
                    f"document.querySelectorAll('.rating input')[{i}].disabled === false",
                    timeout=30000,
                )
            for i in range(buttons.count()):
                slider = page.locator(".rating input").nth(i)
                slider.focus()
                slider.press("Home")
                for _ in range(4 + 2 * i):
                    slider.press("PageUp")
            page.get_by_role("button", name="Start the study").click()
            page.wait_for_selector("text=Video 1 of")
            page.locator("button[data-audio]").nth(0).click()
            page.wait_for_function("document.querySelector('video').currentTime > 0.5")
            trial = out / "trial.png"
            page.screenshot(path=str(trial), full_page=True)

            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            page.goto(report.as_uri())
            page.wait_for_selector("svg.main-svg", timeout=60000)
            report_png = out / "report.png"
            page.screenshot(path=str(report_png))
        finally:
            browser.close()

    w, h = _png_size(trial)
    assert w == 1100 and h >= 600
    assert trial.stat().st_size > 20_000  # a page with a video frame, not a blank one
    w, h = _png_size(report_png)
    assert (w, h) == (1100, 1400) and report_png.stat().st_size > 40_000
