"""Smaller researcher-side defects: search by public id, the progress page's counts and way back,
screening thresholds as report options, an annotation study's wording."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from survey import participation, services
from survey.models import ANNOTATION_INSTRUCTIONS, Participant, Study
from tests.harness.bots import Bot

RULES_OFF = {
    "require_completed": "no",
    "max_attention_failures": "off",
    "headphone": "no",
    "flat_sd_below": "off",
    "min_trial_duration_s": "off",
    "max_fast_fraction": "off",
}


@pytest.fixture
def super_client(client, charlie):
    client.force_login(charlie)
    return client


@pytest.fixture
def people(live_study):
    """One participant per status."""
    made = {}
    for status in ("completed", "active", "abandoned", "screened_out"):
        p, _ = participation.participant_start(study=live_study, prolific_pid=f"pid-{status}")
        Participant.objects.filter(pk=p.pk).update(status=status)
        made[status] = p
    made["declined"] = participation.participant_decline(study=live_study, prolific_pid="pid-no")
    return made


def test_a_participant_is_found_by_public_id(super_client, people):
    wanted = people["abandoned"]
    for term in (wanted.public_id, wanted.public_id.lower()):
        resp = super_client.get(reverse("admin:survey_participant_changelist"), {"q": term})
        assert [p.pk for p in resp.context["cl"].result_list] == [wanted.pk], term


def test_the_progress_page_counts_every_status_and_links_back(super_client, live_study, people):
    page = super_client.get(reverse("admin:survey_study_progress", args=[live_study.pk]))
    html = page.content.decode()
    table = html[html.index('id="participants-by-status"') :]
    table = table[: table.index("</table>")]
    cells = [c.split("<")[0] for c in table.split("<td>")[1:]]
    # completed, active, abandoned, screened out, declined, all
    assert cells == ["1", "1", "1", "1", "1", "5"]
    assert f'href="{reverse("admin:survey_study_change", args=[live_study.pk])}"' in html
    api = super_client.get(f"/api/studies/{live_study.slug}/progress/").json()
    assert api["participants"]["declined"] == 1 and api["forms"][0]["abandoned"] == 1


@pytest.fixture
def careless_study(live_study):
    from survey.simulation import simulate_participants

    simulate_participants(live_study, 6, seed=5, careless=1.0)  # flat, random and fast raters
    return live_study


def _report(study, tmp_path, *options):
    out = io.StringIO()
    call_command(
        "analysis_report",
        "--study",
        study.slug,
        "--out",
        str(tmp_path / "r.html"),
        "--n-boot",
        "100",
        *options,
        stdout=out,
        stderr=io.StringIO(),
    )
    return out.getvalue()


def test_analysis_report_takes_the_screening_thresholds(careless_study, tmp_path):
    default = _report(careless_study, tmp_path)
    assert ", 0 excluded" not in default  # careless raters are screened out by default
    off = [a for k, v in RULES_OFF.items() for a in (f"--{k.replace('_', '-')}", v)]
    assert ", 0 excluded by post-screening" in _report(careless_study, tmp_path, *off)
    assert "flat_sd_below" in (tmp_path / "r.html").read_text()  # the settings are printed
    with pytest.raises(CommandError, match="flat_sd_below takes a number or off, not 'abc'"):
        _report(careless_study, tmp_path, "--flat-sd-below", "abc")


def test_the_admin_report_action_takes_the_thresholds(super_client, careless_study):
    url = reverse("admin:survey_study_changelist")
    form = super_client.post(url, {"action": "report", "_selected_action": [careless_study.pk]})
    assert form.status_code == 200 and "flat sd below" in form.content.decode()
    resp = super_client.post(
        url,
        {
            "action": "report",
            "_selected_action": [careless_study.pk],
            "apply": "1",
            **{k: v for k, v in RULES_OFF.items()},
            "outlier_z": "off",
            "outlier_scope": "condition",
        },
    )
    assert resp.status_code == 302 and "flat_sd_below=off" in resp["Location"]
    report = super_client.get(resp["Location"])
    assert report.status_code == 200
    bad = super_client.get(
        reverse("admin:survey_study_report", args=[careless_study.pk]) + "?flat_sd_below=-1"
    )
    assert bad.status_code == 400 and b"flat_sd_below" in bad.content
    api = super_client.get(f"/api/studies/{careless_study.slug}/report/?outlier_z=many")
    assert api.status_code == 400 and "outlier_z" in api.json()["detail"]


def test_an_annotation_study_speaks_of_descriptions(db, conditions, make_clip):
    for i in range(2):
        make_clip(f"a{i}")
    study = Study.objects.create(title="Describe", slug="describe")
    form = services.form_create(study=study, name="d", n_videos=1, kind="annotation")
    services.form_sample_trials(form=form)
    services.study_go_live(study=study)
    study.refresh_from_db()
    bot = Bot(study)
    bot.consent()
    page = bot.page().content.decode()
    assert ANNOTATION_INSTRUCTIONS in page and "rate how well" not in page
    Participant.objects.filter(pk=bot.participant.pk).update(status="completed", stage="done")
    done = bot.page().content.decode()
    assert "Every description you wrote is stored" in done and "rating" not in done.lower()
