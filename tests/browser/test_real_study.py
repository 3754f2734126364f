"""Running a real study, as docs/tutorials/first-study.md tells it, in Chromium: a researcher
account (not a superuser, made by ``create_researcher``) creates a study in the admin from clips
with captions, adds the paper's forms, generates the missing tracks with the sketch generator,
validates, goes live; two participants finish (one switches device mid-study); the researcher
closes the study and downloads the report and the exports.

Each step saves a screenshot when it fails (in the test's temporary folder, named by the step);
with ``MUSISCENE_SCREENSHOTS=<folder>`` every step is saved there (the docs' screenshots).
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.browser.conftest import needs_chromium

pytestmark = needs_chromium


@pytest.fixture
def clips_with_captions(transactional_db, conditions, make_clip):
    """The clip pool the paper's forms draw from (15 videos), each with approved captions."""
    return [make_clip(f"clip-{i:02d}") for i in range(15)]


@pytest.fixture
def researcher(transactional_db):
    # An earlier transactional test may have flushed the migration-made group: the command
    # makes it again (survey.services.researcher_group_ensure).
    call_command(
        "create_researcher",
        "rita",
        "--password",
        "a-long-pass-phrase",
        "--no-token",
        stdout=io.StringIO(),
    )
    return "rita", "a-long-pass-phrase"


@pytest.fixture(autouse=True)
def _job_threads_reach_the_database(django_db_blocker):
    """The admin's in-process generation job ingests tracks in threads of the live server."""
    with django_db_blocker.unblock():
        yield


class Steps:
    def __init__(self, folder: Path, keep: Path | None):
        self.folder, self.keep, self.n = folder, keep, 0

    @contextlib.contextmanager
    def __call__(self, name: str, page):
        self.n += 1
        label = f"{self.n:02d}-{name}"
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):  # the screenshot must not hide the failure
                page.screenshot(
                    path=str(self.folder / f"{label}-FAILED.png"), full_page=True, timeout=10_000
                )
            raise
        if self.keep is not None:
            page.screenshot(path=str(self.keep / f"{label}.png"), full_page=True)


def _action(page, name: str):
    page.locator("input[name=_selected_action]").first.check()
    page.select_option("select[name=action]", name)
    page.locator("button[name=index]").click()


def _message(page) -> str:
    return page.locator("ul.messagelist").inner_text().lower()  # the admin's CSS capitalises


def _take_the_study(page, *, stop_after: int | None = None) -> int:
    """Answer items until the questionnaire (or ``stop_after`` saved items); returns how many."""
    from tests.browser.conftest import listen_and_rate

    saved = 0
    while stop_after is None or saved < stop_after:
        page.wait_for_selector("text=/Video \\d+ of \\d+|Almost done/")
        if page.locator("text=Almost done").count():
            break
        labels = page.locator(".rating:not([hidden])").evaluate_all(
            "els => els.map(e => e.dataset.label)"
        )
        listen_and_rate(page, {label: 0 for label in labels})  # 0 also passes attention items
        before = page.locator(".progress").inner_text()
        page.get_by_role("button", name="Save and continue").click()
        page.wait_for_function(
            "t => !document.querySelector('.progress') || "
            "document.querySelector('.progress').innerText !== t",
            arg=before,
            timeout=20000,
        )
        saved += 1
    return saved


def _finish(page) -> str:
    page.wait_for_selector("text=Almost done")
    page.select_option("#device", "headphones")
    page.get_by_role("button", name="Finish").click()
    page.wait_for_selector("[data-code]")
    return page.locator("[data-code]").inner_text()


def test_running_a_real_study(browser, live_server, clips_with_captions, researcher, tmp_path):
    from survey.models import Participant, Rating, Study

    keep = os.environ.get("MUSISCENE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
    step = Steps(tmp_path, Path(keep) if keep else None)
    admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    admin.set_default_timeout(300_000)  # the generation job runs in the request (no broker)
    url = live_server.url

    with step("log-in", admin):
        admin.goto(f"{url}/admin/")
        admin.fill("#id_username", researcher[0])
        admin.fill("#id_password", researcher[1])
        admin.get_by_role("button", name="Log in").click()
        admin.wait_for_selector("text=Studies")

    with step("add-study", admin):
        admin.goto(f"{url}/admin/survey/study/add/")
        admin.fill("#id_title", "First study")
        admin.fill("#id_min_listen_s", "0.3")
        admin.locator("#id_headphone_check").uncheck()
        admin.fill("#id_attention_trials", "1")
        admin.locator("input[name=_save]").click()
        admin.wait_for_selector("ul.messagelist")
        study = Study.objects.get(title="First study")
        assert study.slug == "first-study"  # made from the title
        assert study.researchers.filter(username="rita").exists()
        admin.wait_for_selector("text=1 study")  # in the researcher's own list

    with step("add-paper-forms", admin):
        _action(admin, "add_paper_forms")
        assert "paper forms added and sampled" in _message(admin)

    with step("generate-tracks", admin):
        _action(admin, "generate_tracks")
        admin.select_option("#id_generator", "sketch")
        admin.fill("#id_duration_s", "1")
        admin.get_by_role("button", name="Start the job").click()
        admin.wait_for_selector("ul.messagelist", timeout=300_000)

    with step("validate", admin):
        admin.goto(f"{url}/admin/survey/study/")
        _action(admin, "validate")
        assert "ready to go live" in _message(admin)

    with step("go-live", admin):
        _action(admin, "go_live")
        assert "first-study: live" in _message(admin)

    codes = []
    with step("participant-1", admin):
        page = browser.new_context(bypass_csp=True).new_page()
        page.goto(f"{url}/s/first-study/?PROLIFIC_PID=participant-one")
        page.get_by_role("button", name="I agree, start").click()
        page.get_by_role("button", name="Start the practice video").click()
        from tests.browser.conftest import listen_and_rate

        labels = page.locator(".rating:not([hidden])").evaluate_all(
            "els => els.map(e => e.dataset.label)"
        )
        listen_and_rate(page, {label: 50 for label in labels})
        page.get_by_role("button", name="Start the study").click()
        _take_the_study(page)
        codes.append(_finish(page))

    with step("participant-2-switches-device", admin):
        phone = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
        page = phone.new_page()
        page.goto(f"{url}/s/first-study/?PROLIFIC_PID=participant-two")
        page.get_by_role("button", name="I agree, start").click()
        page.get_by_role("button", name="Start the practice video").click()
        labels = page.locator(".rating:not([hidden])").evaluate_all(
            "els => els.map(e => e.dataset.label)"
        )
        listen_and_rate(page, {label: 50 for label in labels})
        page.get_by_role("button", name="Start the study").click()
        assert _take_the_study(page, stop_after=2) == 2
        phone.close()
        laptop = browser.new_context(bypass_csp=True).new_page()
        laptop.goto(f"{url}/s/first-study/?PROLIFIC_PID=participant-two")
        laptop.get_by_role("button", name="I agree, start").click()  # agreeing again resumes
        _take_the_study(laptop)
        codes.append(_finish(laptop))

    with step("progress", admin):
        study.refresh_from_db()
        assert codes == [study.completion_code] * 2
        people = Participant.objects.filter(study=study)
        assert people.count() == 2 and {p.status for p in people} == {"completed"}
        assert sorted({p.form.name for p in people}) == ["form1", "form2"]
        assert Rating.objects.filter(participant__study=study).count() == 15 * 3 + 8 * 2
        admin.goto(f"{url}/admin/survey/study/{study.pk}/progress/")
        admin.wait_for_selector("text=completed")

    with step("close", admin):
        admin.goto(f"{url}/admin/survey/study/")
        _action(admin, "close")
        assert "first-study: closed" in _message(admin)

    with step("report-and-exports", admin):
        report = admin.request.get(f"{url}/admin/survey/study/{study.pk}/report/")
        assert report.status == 200 and "form1" in report.text()
        tables = admin.request.get(f"{url}/admin/survey/study/{study.pk}/report/tables.zip")
        assert tables.status == 200
        names = zipfile.ZipFile(io.BytesIO(tables.body())).namelist()
        assert any("ratings" in n for n in names), names
        csv = admin.request.get(
            f"{url}/admin/survey/study/{study.pk}/export/?table=ratings&format=csv"
        )
        assert csv.status == 200 and len(csv.text().splitlines()) == 1 + 15 * 3 + 8 * 2 + 2
