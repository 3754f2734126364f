"""The read every participant request starts with: the participant's row and its study's, by
the participant's cookie, with SQL that Django compiles once per process.

Compiling the ORM query costs more CPU than running it: 1.13 ms against 0.18 ms per read on
SQLite (in-process, 3,000 reads, ``time.thread_time``), on a trial submit whose whole thread CPU
is about 4.8 ms (``benchmarks/participants.py``). The SQL here is the ORM's own, compiled from
the same queryset with stand-in keys on first use in a process and database, so a field added to
either model is picked up with no change here; rows become models as the ORM makes them
(``Model.from_db`` after the compiler's converters, the study cached on the participant as
``select_related`` does). ``tests/survey/test_hotread.py`` compares every field with the ORM's
read on both databases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connections, router

from survey.models import Participant, Study

# Keys no participant has: each placeholder of the compiled SQL is found by its stand-in value.
_STAND_INS = ("\x00code", "\x00slug", -1)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    key_order: tuple[int, ...]  # for each placeholder, its place in (code, slug, study_id)
    converters: dict[int, tuple[list[Any], Any]]
    participant_cols: tuple[list[int], list[str]]  # positions in the row, field names
    study_cols: tuple[list[int], list[str]]


_compiled: dict[tuple[str, str], _Compiled] = {}


def _compile(alias: str) -> _Compiled:
    code, slug, study_id = _STAND_INS
    queryset = (
        Participant.objects.select_related("study")
        .order_by()  # a code is unique: no ORDER BY
        .filter(code=code, study__slug=slug, study_id=study_id)[:1]
    )
    compiler = queryset.query.get_compiler(alias)
    sql, params = compiler.as_sql()
    columns = [col for col, _, _ in compiler.select]

    def of(model) -> tuple[list[int], list[str]]:
        at = [i for i, col in enumerate(columns) if col.target.model is model]
        return at, [columns[i].target.attname for i in at]

    return _Compiled(
        sql=sql,
        key_order=tuple(_STAND_INS.index(p) for p in params),
        converters=compiler.get_converters(columns),
        participant_cols=of(Participant),
        study_cols=of(Study),
    )


def participant_with_study(*, code: str, slug: str, study_id: int) -> Participant | None:
    """The participant with this cookie code in the study with this slug and id, its study
    loaded (``participant.study`` costs no query); None if there is none."""
    alias = router.db_for_read(Participant)
    connection = connections[alias]
    compiled = _compiled.get((alias, connection.vendor))
    if compiled is None:
        compiled = _compiled[alias, connection.vendor] = _compile(alias)
    key = (code, slug, study_id)
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, [key[i] for i in compiled.key_order])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for pos, (converters, expression) in compiled.converters.items():
        value = values[pos]
        for convert in converters:
            value = convert(value, expression, connection)
        values[pos] = value
    at, names = compiled.participant_cols
    participant = Participant.from_db(alias, names, [values[i] for i in at])
    at, names = compiled.study_cols
    study = Study.from_db(alias, names, [values[i] for i in at])
    Participant._meta.get_field("study").set_cached_value(participant, study)
    return participant
