"""Personal data: pseudonymised publishable outputs and a separate identifying export, withdrawal
with everything derived (and a record), the retention purge (command and task), spreadsheet-safe
CSV, the consent page's data section, and timing flags excluded by the screening."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pandas as pd
from django.core.management import call_command

from analysis.exports import export_table, participants_frame
from analysis.screening import screen
from analysis.study_report import study_report, write_report_bundle
from survey import privacy
from survey.models import Participant, Rating, TrialResponse, Withdrawal
from tests.harness.bots import Bot

PID = "5f0c1e2d3b4a5968778695a4"


def _done(study, pid=PID, comment="I am Jane from Leeds"):
    bot = Bot(study, PROLIFIC_PID=pid, SESSION_ID="sess-1")
    bot.to_trials()
    while 'id="trial-config"' in bot.page().content.decode():
        assert bot.submit(bot.config()).status_code == 200
    bot.client.post(
        f"/s/{study.slug}/run/questionnaire/",
        {
            "age_range": "25-34",
            "device": "headphones",
            "music_training": "some",
            "comment": comment,
        },
    )
    return bot


def test_the_report_bundle_and_exports_are_pseudonymised(live_study, tmp_path):
    _done(live_study)
    buf = io.BytesIO()
    write_report_bundle(study_report(study=live_study), buf)
    with zipfile.ZipFile(buf) as zf:
        text = "".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist())
    assert PID not in text and "sess-1" not in text and "Jane" not in text
    for table in ("ratings", "participants"):
        out = tmp_path / f"{table}.csv"
        export_table(study=live_study, table=table, target=out, fmt="csv")
        body = out.read_text()
        assert PID not in body and "Jane" not in body and "prolific_pid" not in body
    out = tmp_path / "p.csv"
    export_table(study=live_study, table="participants", target=out, fmt="csv", free_text=True)
    assert "Jane" in out.read_text() and PID not in out.read_text()  # free text on opt-in only
    ident = tmp_path / "ident.csv"
    call_command(
        "export_ratings",
        "--study",
        live_study.slug,
        "--format",
        "csv",
        "--out",
        str(tmp_path / "r.csv"),
        "--identifying-out",
        str(ident),
    )
    row = pd.read_csv(ident).iloc[0]
    assert row["prolific_pid"] == PID and row["session_id"] == "sess-1"
    assert row["participant"] == Participant.objects.get().public_id


def test_withdrawal_deletes_everything_derived_and_leaves_a_record(live_study):
    _done(live_study)
    other = _done(live_study, pid="b" * 24)
    p = Participant.objects.get(prolific_pid=PID)
    public_id = p.public_id
    call_command(
        "withdraw_participant",
        "--study",
        live_study.slug,
        "--prolific-pid",
        PID,
        "--requested-by",
        "participant",
        "--reason",
        "email of 3 May",
    )
    assert not Participant.objects.filter(prolific_pid=PID).exists()
    assert not Rating.objects.filter(participant_id=p.pk).exists()
    assert not TrialResponse.objects.filter(participant_id=p.pk).exists()
    record = Withdrawal.objects.get()
    assert record.public_id == public_id and record.requested_by == "participant"
    assert record.deleted["ratings"] == 4 and record.deleted["questionnaire"] == 1
    assert Rating.objects.filter(participant=other.participant).count() == 4  # others stay
    people = participants_frame(study=live_study)
    assert public_id not in set(people["participant"])


def test_the_retention_purge_blanks_identifying_fields_and_keeps_the_research_data(live_study):
    _done(live_study)
    live_study.retention_until = dt.date.today() - dt.timedelta(days=1)
    live_study.save()
    from survey.tasks import purge_identifying_data

    assert purge_identifying_data.apply().get() == {live_study.slug: 1}  # the beat task
    p = Participant.objects.get()
    assert (p.prolific_pid, p.external_session_id, p.user_agent) == ("", "", "")
    assert "comment" not in p.answers and p.answers["age_range"] == "25-34"
    assert Rating.objects.filter(participant=p).count() == 4
    live_study.refresh_from_db()
    assert live_study.purged_at is not None
    out = io.StringIO()
    call_command("purge_identifying_data", stdout=out)  # idempotent
    assert "0 participants" in out.getvalue()


def test_a_study_not_yet_past_retention_is_kept(live_study):
    _done(live_study)
    live_study.retention_until = dt.date.today() + dt.timedelta(days=30)
    live_study.save()
    out = io.StringIO()
    call_command("purge_identifying_data", stdout=out)
    assert "no study is past" in out.getvalue()
    assert Participant.objects.get().prolific_pid == PID


def test_every_formula_prefix_is_escaped_and_numbers_are_not():
    from analysis.exports import csv_text

    # pandas 3 infers its own "str" dtype for text: the escaping must not skip those columns
    cells = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "plain", "a=b"]
    df = pd.DataFrame({"comment": cells, "value": [-5.0, 1, 2, 3, 4, 5, 6]})
    back = pd.read_csv(io.StringIO(csv_text(df, header=True)), keep_default_na=False)
    assert list(back["comment"][:5]) == ["'" + c for c in cells[:5]]
    assert list(back["comment"][5:]) == ["plain", "a=b"]
    assert back["value"][0] == -5.0  # a negative number stays a number
    assert "'\r=1" in csv_text(pd.DataFrame({"c": ["\r=1"]}), header=True)


def test_csv_cells_that_look_like_formulas_are_escaped(live_study, tmp_path):
    _done(live_study, comment='=HYPERLINK("http://evil","x")')
    out = tmp_path / "p.csv"
    export_table(study=live_study, table="participants", target=out, fmt="csv", free_text=True)
    people = pd.read_csv(out)
    assert people["comment"].iloc[0].startswith("'=HYPERLINK")
    ident = tmp_path / "i.csv"
    export_table(study=live_study, table="identifying", target=ident, fmt="csv")
    assert "'=HYPERLINK" in ident.read_text()
    ratings = pd.read_csv(tmp_path / "p.csv")
    assert (ratings["n_ratings"] >= 0).all()  # numbers are left alone


def test_the_consent_page_covers_storage_purpose_retention_and_withdrawal(live_study, client):
    live_study.retention_until = dt.date(2031, 6, 30)
    live_study.contact_email = "lab@example.org"
    live_study.save()
    page = client.get(f"/s/{live_study.slug}/").content.decode()
    for words in ("What is stored", "Why", "For how long", "2031", "How to withdraw"):
        assert words in page, words
    assert "mailto:lab@example.org" in page
    live_study.privacy_text = "Our own ethics-board text."
    live_study.save()
    page = client.get(f"/s/{live_study.slug}/").content.decode()
    assert "Our own ethics-board text." in page and "What is stored" not in page


def test_an_impossible_pace_is_flagged_and_excluded_by_the_screening(live_study):
    bot = _done(live_study, pid="c" * 24)
    p = bot.participant
    # each trial answered in 0.2 s while its tracks last 2 s: no person can do that
    TrialResponse.objects.filter(participant=p).update(duration_s=0.2)
    assert "the tracks to hear last" in privacy.flag_timing(p)
    p.refresh_from_db()
    assert p.timing_flag
    report = study_report(study=live_study)
    result = screen(report.ratings, report.participants)
    assert p.public_id in set(result.excluded_participants)
    assert "impossible_timing" in set(result.log["rule"])
    # the same answers at a human pace are not flagged
    TrialResponse.objects.filter(participant=p).update(duration_s=6.0)
    assert privacy.flag_timing(p) == ""
    # more listening reported than the trial was open
    TrialResponse.objects.filter(participant=p).update(listening={"A": 30.0, "B": 30.0})
    assert "of listening reported" in privacy.flag_timing(p)


def test_completion_flags_a_scripted_pace(live_study):
    bot = Bot(live_study, PROLIFIC_PID="d" * 24)
    bot.to_trials()
    while 'id="trial-config"' in bot.page().content.decode():
        assert bot.submit(bot.config()).status_code == 200
    TrialResponse.objects.filter(participant=bot.participant).update(duration_s=0.1)
    bot.client.post(f"/s/{live_study.slug}/run/questionnaire/", {"age_range": "25-34"})
    assert bot.participant.status == "completed" and bot.participant.timing_flag


def test_a_withdrawal_keeps_earlier_deletion_records_without_their_values(live_study):
    # A researcher removed one rating after closing (a DataDeletion: the published data set's
    # audit trail, with the value removed); then the participant withdrew. The withdrawal record
    # proves the withdrawal; the deletion record stays, but no longer describes their answers.
    from survey import services
    from survey.models import DataDeletion

    _done(live_study)
    _done(live_study, pid="b" * 24)
    p = Participant.objects.get(prolific_pid=PID)
    services.study_close(study=live_study)
    rating = Rating.objects.filter(participant=p).select_related("track__condition").first()
    services.data_delete(objects=[rating])
    record = DataDeletion.objects.get()
    assert record.details["value"] == rating.value and f"= {rating.value:g}" in record.summary
    call_command(
        "withdraw_participant",
        "--study",
        live_study.slug,
        "--participant",
        p.public_id,
        "--requested-by",
        "participant",
    )
    record.refresh_from_db()
    assert record.details == {"withdrawn": True}
    assert p.public_id in record.summary and f"{rating.value:g}" not in record.summary
    assert Withdrawal.objects.get().public_id == p.public_id
    removed = study_report(study=live_study).design["removed after collection"]
    assert removed.startswith("1 rating deleted") and removed.endswith("1 participant withdrew")
