"""Simulated participants take a live study through the participant services, and the
analysis of the exported ratings recovers the condition effect they were drawn with."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis.exports import participants_frame, ratings_frame
from analysis.report import AnalysisSettings, analyze
from analysis.screening import ScreeningSettings
from survey.models import PageVisit, Participant, QualityCheck, Rating, Study, TrialResponse
from survey.simulation import SimulationError, simulate_participants
from tests.harness.timeline import timeline_problems

TRUTH = {"video_caps": 35.0, "music_caps": 50.0, "msi": 65.0}  # away from the 0 and 100 bounds


def test_simulated_participants_use_the_participant_services(three_way_study):
    s = simulate_participants(three_way_study, 10, seed=4, effects=TRUTH, careless=0.2)
    assert (s.started, s.completed, s.screened_out) == (10, s.completed, 10 - s.completed)
    assert s.completed >= 8 and len(s.careless) == 2 and s.means == {"f1": TRUTH}
    people = Participant.objects.filter(study=three_way_study)
    assert people.count() == 10 and all(p.prolific_pid.startswith("SIM-") for p in people)
    done = people.filter(status="completed")
    assert all(p.answers["age_range"] for p in done)
    assert (
        Rating.objects.count()
        == s.ratings
        == 12 * done.count() + 12 * (people.count() - done.count())
    )
    # each item: a response with a server-measured duration, a page visit; one attention check each
    assert TrialResponse.objects.filter(kind="trial").count() == Rating.objects.count() // 3
    assert QualityCheck.objects.filter(kind="attention").count() == 10 == s.attention_checks
    assert PageVisit.objects.filter(page="trials").count() == TrialResponse.objects.count()
    assert all(r.duration_s and r.duration_s > 0.5 for r in TrialResponse.objects.all())
    assert set(Rating.objects.values_list("position", flat=True)) == {0, 1, 2}


def test_the_mixed_model_recovers_the_simulated_ordering(three_way_study):
    s = simulate_participants(three_way_study, 30, seed=7, effects=TRUTH, careless=0.1)
    ratings = ratings_frame(study=three_way_study)
    people = participants_frame(study=three_way_study)
    # 3 tracks x 1 s of required listening: no trial can be under 3 s, a hasty one is under 5 s
    screening = ScreeningSettings(min_trial_duration_s=5.0)
    a = analyze(ratings, people, settings=AnalysisSettings(n_boot=200, screening=screening))
    f1 = a.screened["f1"]
    assert f1.mixed is not None and not f1.messages.get("mixed")
    means = f1.mixed.means.set_index("condition")
    truth = s.means["f1"]
    assert list(means["estimate"].sort_values().index) == sorted(truth, key=truth.get)
    contrasts = f1.mixed.contrasts
    # the 15-point steps are found; with 4 clips the clip x condition term leaves only a few
    # degrees of freedom (maximal model, Satterthwaite), so p is small but not tiny
    assert (contrasts["p_corr"] < 0.01).all(), contrasts
    for c in contrasts.itertuples():  # and measured (4 clips: their clip x condition noise remains)
        assert abs(c.estimate - (truth[c.A] - truth[c.B])) < 6, contrasts
    # the careless raters the simulator made are the ones screening tends to catch
    excluded = set(a.screening.excluded_participants)
    caught = {p for p, kind in s.careless.items() if kind in ("flat", "fast")}
    assert caught <= excluded


def test_simulated_participants_keep_time(three_way_study):
    """Issue 13, defect 7: started before their trials, a duration that covers them, listening
    that fits inside each trial; the server's own bound (listening <= time shown) held too."""
    simulate_participants(three_way_study, 8, seed=3, effects=TRUTH, careless=0.5)
    ratings = ratings_frame(study=three_way_study)
    people = participants_frame(study=three_way_study)
    assert len(ratings) and people["started_at"].notna().all()
    assert timeline_problems(ratings, people) == []
    for p in Participant.objects.filter(study=three_way_study):
        responses = list(TrialResponse.objects.filter(participant=p).order_by("sequence_index"))
        assert p.consented_at == p.started_at <= responses[0].shown_at
        for r in responses:
            assert r.shown_at < r.submitted_at <= (p.completed_at or p.last_seen_at)
            assert sum(r.listening.values()) <= r.duration_s + 1e-6
        visits = PageVisit.objects.filter(participant=p)
        assert all(p.started_at <= v.at <= p.last_seen_at for v in visits)


def test_the_same_seed_gives_the_same_ratings(three_way_study):
    first = simulate_participants(three_way_study, 4, seed=11, effects=TRUTH, careless=0.0)
    values_first = sorted(
        Rating.objects.filter(participant__code__in=first.participants).values_list(
            "value", flat=True
        )
    )
    second = simulate_participants(three_way_study, 4, seed=11, effects=TRUTH, careless=0.0)
    values_second = sorted(
        Rating.objects.filter(participant__code__in=second.participants).values_list(
            "value", flat=True
        )
    )
    assert values_first == values_second and set(first.participants).isdisjoint(second.participants)
    assert Participant.objects.count() == 8  # a second call adds more


def test_it_refuses_what_it_cannot_simulate(three_way_study):
    draft = Study.objects.create(title="Draft", slug="draft")
    with pytest.raises(SimulationError, match="draft"):
        simulate_participants(draft, 3, seed=0)
    with pytest.raises(SimulationError, match="no true mean for condition 'msi'"):
        simulate_participants(
            three_way_study, 3, seed=0, effects={"video_caps": 50, "music_caps": 60}
        )
    with pytest.raises(SimulationError, match="negative"):
        simulate_participants(three_way_study, -1, seed=0)
    assert simulate_participants(three_way_study, 0, seed=0).started == 0


@pytest.mark.django_db
def test_the_demo_adds_simulated_participants_on_each_run(capsys):
    call_command(
        "demo", "--no-serve", "--clips", "2", "--duration", "1", "--simulate-participants", "4"
    )
    out = capsys.readouterr().out
    study = Study.objects.get(slug="musiscene-demo")
    assert study.participants.count() == 4 and "4 simulated participants started" in out
    assert "analysis_report --study musiscene-demo" in out
    call_command(
        "demo", "--no-serve", "--clips", "2", "--duration", "1", "--simulate-participants", "2"
    )
    assert study.participants.count() == 6
    assert set(study.participants.values_list("form__name", flat=True)) == {"form1", "form2"}
    with pytest.raises(CommandError, match="0 or more"):
        call_command("demo", "--no-serve", "--clips", "2", "--simulate-participants", "-1")


def test_a_study_with_an_annotation_form_is_refused(three_way_study):
    from survey.models import Form

    if "kind" not in {f.name for f in Form._meta.get_fields()}:
        pytest.skip("this tree has no annotation forms")
    Form.objects.filter(study=three_way_study).update(kind="annotation")
    with pytest.raises(SimulationError, match="not rating forms \\(f1\\).*captions"):
        simulate_participants(three_way_study, 2, seed=0)
    assert not Participant.objects.exists()
