"""Reads that every participant request (or every consent) makes, with SQL that Django compiles
once per process.

Compiling an ORM query costs more CPU than running it: reading the cookie's participant with its
study cost 1.13 ms to compile against 0.18 ms to run on SQLite (in-process, 3,000 reads,
``time.thread_time``), on a trial submit whose whole thread CPU was about 4.8 ms
(``benchmarks/participants.py``); the forms' counts a consent reads under the study's lock cost
about 1.5 ms to compile, which other consents wait for. Each read here is an ordinary queryset,
compiled on first use in a process and database with stand-in keys that no row has; each
placeholder of its SQL is then fed the real key in the stand-in's place (the query's constants,
such as a status, stay as compiled). A field added to a model is picked up with no change here.
Rows become models as the ORM makes them (the compiler's converters, then ``Model.from_db``).
``tests/survey/test_hotread.py`` compares each read with the ORM's on both databases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django.db import connections, router
from django.db.models import ForeignKey, Model, QuerySet

from survey.models import Participant, Study


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]  # as compiled
    slots: tuple[int | None, ...]  # for each param, the place in the key of its stand-in
    converters: dict[int, tuple[list[Any], Any]]
    columns: list[Any]  # the compiler's select columns, in row order
    annotations: dict[str, int]  # annotation name -> position in the row
    models: dict[type[Model], tuple[list[int], list[str]]]  # a model's positions, attnames


class CompiledRead:
    """``build(*stand_ins)`` is the queryset; ``rows(*key)`` runs it with the key instead."""

    def __init__(self, model: type[Model], build: Callable[..., QuerySet], stand_ins: tuple):
        self.model, self.build, self.stand_ins = model, build, stand_ins
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def _compile(self, alias: str) -> _Compiled:
        compiler = self.build(*self.stand_ins).query.get_compiler(alias)
        sql, params = compiler.as_sql()
        columns = [col for col, _, _ in compiler.select]
        models: dict[type[Model], tuple[list[int], list[str]]] = {}
        for i, col in enumerate(columns):
            target = getattr(col, "target", None)
            if target is not None:
                at, names = models.setdefault(target.model, ([], []))
                at.append(i)
                names.append(target.attname)
        return _Compiled(
            sql=sql,
            params=tuple(params),
            slots=tuple(self._slot(p) for p in params),
            converters=compiler.get_converters(columns),
            columns=columns,
            annotations=dict(compiler.annotation_col_map or {}),
            models=models,
        )

    def _slot(self, param: Any) -> int | None:
        # by type and value: a compiled constant 0 is not a stand-in False
        for i, stand_in in enumerate(self.stand_ins):
            if type(param) is type(stand_in) and param == stand_in:
                return i
        return None

    def rows(self, *key: Any) -> tuple[list[list[Any]], _Compiled, str]:
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        compiled = self._compiled.get((alias, connection.vendor))
        if compiled is None:
            compiled = self._compiled[alias, connection.vendor] = self._compile(alias)
        params = [
            p if slot is None else key[slot]
            for p, slot in zip(compiled.params, compiled.slots, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            raw = cursor.fetchall()
        rows = []
        for row in raw:
            values = list(row)
            for pos, (converters, expression) in compiled.converters.items():
                value = values[pos]
                for convert in converters:
                    value = convert(value, expression, connection)
                values[pos] = value
            rows.append(values)
        return rows, compiled, alias


def _model_from(row: list[Any], compiled: _Compiled, model: type[Model], alias: str) -> Any:
    at, names = compiled.models[model]
    return model.from_db(alias, names, [row[i] for i in at])


# Stand-in keys no row has (no code contains a NUL; no id is negative).
_CODE, _SLUG = "\x00code", "\x00slug"
STAND_IN_ID = -7_654_321

_participant_read = CompiledRead(
    Participant,
    lambda code, slug, study_id: (
        Participant.objects.select_related("study")
        .order_by()  # a code is unique: no ORDER BY
        .filter(code=code, study__slug=slug, study_id=study_id)[:1]
    ),
    (_CODE, _SLUG, STAND_IN_ID),
)


def participant_with_study(*, code: str, slug: str, study_id: int) -> Participant | None:
    """The participant with this cookie code in the study with this slug and id, its study
    loaded (``participant.study`` costs no query); None if there is none."""
    rows, compiled, alias = _participant_read.rows(code, slug, study_id)
    if not rows:
        return None
    participant = _model_from(rows[0], compiled, Participant, alias)
    study = _model_from(rows[0], compiled, Study, alias)
    Participant._meta.get_field("study").set_cached_value(participant, study)
    return participant


def annotated(read: CompiledRead, *key: Any, study: Study) -> list[Any]:
    """The rows of ``read`` (a queryset of one model of ``study`` with annotations) as models,
    each annotation an attribute and the study set: what iterating the queryset gives."""
    rows, compiled, alias = read.rows(*key)
    study_field = cast(ForeignKey, read.model._meta.get_field("study"))
    found = []
    for row in rows:
        obj = _model_from(row, compiled, read.model, alias)
        for name, pos in compiled.annotations.items():
            setattr(obj, name, row[pos])
        study_field.set_cached_value(obj, study)
        found.append(obj)
    return found
