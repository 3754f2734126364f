"""Issue 13, defect 3, in Chromium: a participant switches device (a second browser context with
no cookies, the same PROLIFIC_PID) in the middle of the study, saves there, and goes back."""

from __future__ import annotations

import pytest

from tests.browser.conftest import listen_and_rate, needs_chromium

pytestmark = needs_chromium


@pytest.fixture
def study(transactional_db, small_study):
    from survey import services

    small_study.min_listen_s = 0.6
    small_study.save()
    services.study_go_live(study=small_study)
    return small_study


def test_a_participant_resumes_on_another_device_and_saves(browser, live_server, study):
    from survey.models import Participant, Rating

    entry = f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=two-devices"
    phone = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    first = phone.new_page()
    first.goto(entry)
    first.get_by_role("button", name="I agree, start").click()
    first.get_by_role("button", name="Start the practice video").click()
    first.wait_for_selector("text=Practice video")

    laptop = browser.new_context(bypass_csp=True)  # a fresh device: no cookie of any kind
    second = laptop.new_page()
    refused = []
    second.on("response", lambda r: r.status == 403 and refused.append(r.url))
    second.goto(entry)
    second.get_by_role("button", name="I agree, start").click()  # agreeing again resumes
    second.wait_for_selector("text=Practice video")  # where the participant was
    listen_and_rate(second, {"A": 30, "B": 70})
    second.get_by_role("button", name="Start the study").click()  # a POST from this device
    second.wait_for_selector("text=Video 1 of 2")
    listen_and_rate(second, {"A": 20, "B": 80})
    second.get_by_role("button", name="Save and continue").click()  # a fetch POST
    second.wait_for_selector("text=Video 2 of 2")
    assert refused == []

    first.reload()  # back on the first device: it follows
    first.wait_for_selector("text=Video 2 of 2")
    listen_and_rate(first, {"A": 60, "B": 40})
    first.get_by_role("button", name="Save and continue").click()
    first.wait_for_selector("text=Almost done")
    first.select_option("#device", "headphones")
    first.get_by_role("button", name="Finish").click()
    first.wait_for_selector("[data-code]")

    p = Participant.objects.get(prolific_pid="two-devices")
    assert p.status == "completed" and Participant.objects.count() == 1
    assert sorted(Rating.objects.filter(participant=p).values_list("value", flat=True)) == [
        20,
        40,
        60,
        80,
    ]
    phone.close()
    laptop.close()
