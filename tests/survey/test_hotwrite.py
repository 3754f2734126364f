"""The writes with SQL built once per process (survey.hotwrite) store what the ORM's own
writes store, field by field, on the database the suite runs on (SQLite, PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from survey import hotwrite
from survey.models import PageVisit, Participant, Rating, TrialResponse


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def _stored(model, pks, skip) -> list[dict]:
    rows = {o.pk: _fields(o) for o in model.objects.filter(pk__in=pks)}
    return [{k: v for k, v in rows[pk].items() if k not in skip} for pk in pks]


@pytest.fixture
def participant(bot_factory):
    bot = bot_factory(PROLIFIC_PID="hot-write-1")
    bot.to_trials()
    return bot.participant


def test_a_prepared_insert_stores_the_row_save_would(live_study):
    """The consent's participant row, prepared before the study's lock and sent under it, is
    the row ``objects.create`` stores: every field read back equal (but the id and the code)."""
    form = live_study.forms.first()
    values = dict(
        study=live_study,
        form=form,
        prolific_pid="a" * 24,
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari",
        language="ar",
        consented_at=timezone.now(),
        trial_order=[3, -3, 1, 2],
        label_order={"3": [7, 9, 8], "1": [4], "2": []},
        practice_tracks=[5, 6],
        stage=Participant.Stage.INSTRUCTIONS,
    )
    fast = Participant(**values)
    prepared = hotwrite.PreparedInsert([fast], returning=True)
    with CaptureQueriesContext(connection) as queries:
        prepared.run()
    assert len(queries.captured_queries) == 1
    assert fast.pk is not None and not fast._state.adding
    slow = Participant.objects.create(**{**values, "prolific_pid": "b" * 24})
    skip = {"id", "code", "prolific_pid", "started_at", "last_seen_at"}
    [a, b] = _stored(Participant, [fast.pk, slow.pk], skip)
    assert a == b
    stored = Participant.objects.get(pk=fast.pk)
    assert stored.code == fast.code and stored.started_at is not None


def test_the_submit_rows_are_the_rows_the_orm_stores(participant, bot_factory):
    """A trial response (JSON, a null and a set datetime, a UUID) and three ratings in one
    statement, for one participant; the same through the ORM for another: read back, each field
    equals the ORM's (but the keys and the clock's)."""
    other = bot_factory(PROLIFIC_PID="hot-write-2")
    other.to_trials()
    trial_id = participant.form.trials.first().pk
    track_ids = list(participant.form.trials.first().tracks.values_list("pk", flat=True))
    started = timezone.now() - dt.timedelta(seconds=7)

    def response(sub, participant):
        return dict(
            participant=participant,
            trial_id=trial_id,
            kind=TrialResponse.Kind.TRIAL,
            sequence_index=4,
            submission_id=sub,
            shown_at=started,
            duration_s=7.25,
            listening={"A": 3.5, "B": 0.0, "C": 12.125},
            events=[{"t": 0.1, "e": "play", "label": "A"}, {"note": "ß, 你好, مرحبا"}],
        )

    def ratings(sub, participant):
        return [
            Rating(
                participant=participant,
                trial_id=trial_id,
                track_id=t,
                value=v,
                position=i,
                trial_order=4,
                listening_s=1.5 * i,
                language="zh-hans",
                submission_id=sub,
                trial_started_at=started if i else None,
            )
            for i, (t, v) in enumerate(zip(track_ids, [0.0, 57.5, 100.0], strict=False))
        ]

    fast_sub, slow_sub = uuid.uuid4(), uuid.uuid4()
    with CaptureQueriesContext(connection) as queries:
        fast_response = TrialResponse(**response(fast_sub, participant))
        hotwrite.insert([fast_response])
        hotwrite.insert(ratings(fast_sub, participant))
    assert len(queries.captured_queries) == 2
    slow_response = TrialResponse.objects.create(**response(slow_sub, other.participant))
    Rating.objects.bulk_create(ratings(slow_sub, other.participant))

    skip = {"id", "participant_id", "submission_id", "submitted_at"}
    fast_pk = TrialResponse.objects.get(submission_id=fast_sub).pk
    assert _stored(TrialResponse, [fast_pk], skip) == _stored(
        TrialResponse, [slow_response.pk], skip
    )
    assert fast_response.submitted_at is not None  # auto_now_add, as save() sets it
    skip = {"id", "participant_id", "submission_id", "created_at"}
    fast = list(Rating.objects.filter(submission_id=fast_sub).order_by("position"))
    slow = list(Rating.objects.filter(submission_id=slow_sub).order_by("position"))
    assert len(fast) == len(track_ids) and all(r.created_at is not None for r in fast)
    assert _stored(Rating, [r.pk for r in fast], skip) == _stored(
        Rating, [r.pk for r in slow], skip
    )


def test_a_duplicate_is_the_orms_integrity_error(participant):
    """The submit tells a reused submission id by the database's IntegrityError."""
    trial_id = participant.form.trials.first().pk
    sub = uuid.uuid4()
    kw = dict(participant=participant, trial_id=trial_id, sequence_index=0, submission_id=sub)
    hotwrite.insert([TrialResponse(**kw)])
    with pytest.raises(IntegrityError), transaction.atomic():
        hotwrite.insert([TrialResponse(**kw)])
    assert TrialResponse.objects.filter(submission_id=sub).count() == 1


def test_several_rows_get_their_keys_in_order(participant):
    visits = [PageVisit(participant=participant, page=p) for p in ("a", "b", "c")]
    hotwrite.PreparedInsert(visits, returning=True).run()
    assert [PageVisit.objects.get(pk=v.pk).page for v in visits] == ["a", "b", "c"]


def test_the_guarded_update_changes_what_the_orms_would(participant):
    """Guards that hold: one row changed, the values stored as ``update()`` stores them; a
    guard that fails: nothing changed, 0 returned, as the ORM returns."""
    now = timezone.now()
    values = {"progress": 3, "last_seen_at": now, "status": Participant.Status.ACTIVE}
    guards = {"progress": participant.progress, "stage": Participant.Stage.TRIALS}
    assert hotwrite.update(Participant, participant.pk, values, where=guards) == 1
    got = Participant.objects.get(pk=participant.pk)
    assert (got.progress, got.last_seen_at, got.status) == (3, now, "active")
    # the same guards no longer hold (progress moved): nothing changes, as with the ORM
    orm = Participant.objects.filter(pk=participant.pk, **guards).update(progress=9)
    assert orm == 0 == hotwrite.update(Participant, participant.pk, {"progress": 9}, where=guards)
    assert Participant.objects.get(pk=participant.pk).progress == 3
    # no guard: by key alone; another key: nothing
    assert hotwrite.update(Participant, participant.pk, {"answers": {"a": "ü"}}) == 1
    assert Participant.objects.get(pk=participant.pk).answers == {"a": "ü"}
    assert hotwrite.update(Participant, -1, {"progress": 1}) == 0
    with pytest.raises(ValueError):
        hotwrite.update(Participant, participant.pk, {"progress": 1}, where={"form": None})


def test_an_error_marks_the_atomic_block_for_rollback_as_the_orms_writes_do(participant):
    """A caller that catches the error inside ``atomic()`` cannot go on writing into a broken
    transaction (SQLite would commit the rest; PostgreSQL would answer 'transaction aborted')."""
    trial_id = participant.form.trials.first().pk
    kw = dict(participant=participant, trial_id=trial_id, sequence_index=0)
    hotwrite.insert([TrialResponse(**kw, submission_id=uuid.uuid4())])
    with transaction.atomic():
        with pytest.raises(IntegrityError):
            hotwrite.insert([TrialResponse(**kw, submission_id=uuid.uuid4())])
        with pytest.raises(TransactionManagementError):
            TrialResponse.objects.count()
    assert TrialResponse.objects.filter(participant=participant).count() == 1


def test_what_it_does_not_build_it_refuses(participant):
    with pytest.raises(TypeError):
        hotwrite.update(Participant, participant.pk, {"progress": F("progress") + 1})
    with pytest.raises(ValueError):
        hotwrite.insert([PageVisit(pk=10**9, participant=participant, page="x")])
