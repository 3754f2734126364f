"""The participant read with SQL compiled once per process (survey.hotread) gives the models the
ORM's own read gives, field by field, on the database the suite runs on (SQLite, PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from survey import hotread
from survey.models import Participant, Study


def _orm(code: str, slug: str, study_id: int) -> Participant | None:
    found = Participant.objects.select_related("study").filter(
        code=code, study__slug=slug, study_id=study_id
    )
    return found.first()


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_it_reads_every_field_as_the_orm_does(bot_factory, live_study):
    bot = bot_factory(PROLIFIC_PID="hot-read-1")
    bot.to_trials()
    participant = bot.participant
    # values of every kind a column holds: JSON, a date, an aware datetime, empty and null
    Participant.objects.filter(pk=participant.pk).update(
        answers={"age": "31", "note": "Grüße, 你好"},
        item_started_at=timezone.now() - dt.timedelta(seconds=3),
        item_started_index=0,
        completed_at=None,
        language="de",
    )
    Study.objects.filter(pk=live_study.pk).update(
        languages=["en", "de"], retention_until=dt.date(2027, 5, 31), privacy_text=""
    )
    with CaptureQueriesContext(connection) as queries:
        fast = hotread.participant_with_study(
            code=participant.code, slug=live_study.slug, study_id=live_study.pk
        )
        assert fast is not None
        study = fast.study  # loaded with it: no second query
    assert len(queries.captured_queries) == 1
    slow = _orm(participant.code, live_study.slug, live_study.pk)
    assert _fields(fast) == _fields(slow)
    assert _fields(study) == _fields(slow.study)
    assert fast.item_started_at.tzinfo is not None and study.retention_until == dt.date(2027, 5, 31)
    assert fast.answers["note"] == "Grüße, 你好" and fast.trial_order == slow.trial_order
    # a model as the ORM makes it: saved rows, that save again
    assert not fast._state.adding and fast._state.db == slow._state.db
    fast.save(update_fields=["last_seen_at"])


def test_a_code_of_another_study_or_slug_reads_nothing(bot_factory, live_study):
    bot = bot_factory(PROLIFIC_PID="hot-read-2")
    bot.to_trials()
    code = bot.participant.code
    assert hotread.participant_with_study(code=code, slug="other", study_id=live_study.pk) is None
    assert (
        hotread.participant_with_study(code=code, slug=live_study.slug, study_id=live_study.pk + 1)
        is None
    )
    assert (
        hotread.participant_with_study(
            code="x" + code, slug=live_study.slug, study_id=live_study.pk
        )
        is None
    )


def test_the_participant_pages_read_the_cookie_participant_in_one_query(bot_factory):
    """Each request of a participant in the trials: one read of participant and study."""
    bot = bot_factory(PROLIFIC_PID="hot-read-3")
    bot.to_trials()
    with CaptureQueriesContext(connection) as queries, override_settings(DEBUG=False):
        page = bot.page()
    assert page.status_code == 200
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert sum('"survey_study"' in s and '"survey_participant"' in s for s in selects) == 1, selects


def test_the_forms_counts_are_the_orms(bot_factory, live_study, conditions):
    """The consent's forms with their counts, compiled once, equal the ORM's queryset."""
    from survey import participation as P
    from survey.models import Form

    for i in range(3):
        bot_factory(PROLIFIC_PID=f"count-{i}").consent()
    done = Participant.objects.filter(study=live_study).first()
    Participant.objects.filter(pk=done.pk).update(status=Participant.Status.COMPLETED)
    fast = P._forms_with_counts(live_study)
    slow = list(P._FORMS_WITH_COUNTS.build(live_study.pk))
    assert [_fields(f) for f in fast] == [_fields(f) for f in slow]
    assert [(f.done, f.load, f.has_trials) for f in fast] == [
        (f.done, f.load, f.has_trials) for f in slow
    ]
    assert [(f.done, f.load, f.has_trials) for f in fast] == [(1, 3, True)]
    assert all(isinstance(f, Form) and f.study is live_study for f in fast)
    # a study without forms: none
    other = Study.objects.create(title="Empty", slug="empty")
    assert P._forms_with_counts(other) == []
