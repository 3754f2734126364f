"""Writes that every trial makes, with SQL built once per process: a submit's guarded UPDATE of
the participant and its inserts (the trial response, the ratings), a page view's UPDATE and
visit, the consent's participant row.

The ORM builds each INSERT and UPDATE anew on every call, and on PostgreSQL it sends several
rows (a trial's three ratings) as UNNEST of one array per column, which psycopg formats in
Python: on a trial submit those writes were about a quarter of a worker's CPU (py-spy, one
worker, ``benchmarks/participants.py saturate``). Here a statement's SQL is built once per
model, database and shape from the model's own fields (quoted names, one ``%s`` per value; the
constructor refuses a field that needs a placeholder or default of its own), and each value is
prepared as ``save()`` and ``update()`` prepare it: ``pre_save`` on insert (``auto_now_add``),
then the field's ``get_db_prep_save``. No model signal is sent (``bulk_create`` and
``update()`` send none either). ``tests/survey/test_hotwrite.py`` compares what is stored here
with what the ORM stores, field by field, on both databases.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import NOT_PROVIDED, Field, Model


@functools.cache
def _insert_fields(model: type[Model]) -> tuple[Field, ...]:
    meta = model._meta
    fields = tuple(
        f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated
    )
    for f in fields:
        if hasattr(f, "get_placeholder") or f.db_default is not NOT_PROVIDED:
            raise TypeError(f"{model.__name__}.{f.name}: not a plain column value")
    return fields


@functools.cache
def _insert_sql(model: type[Model], alias: str, vendor: str, rows: int, returning: bool) -> str:
    connection = connections[alias]
    qn = connection.ops.quote_name
    fields = _insert_fields(model)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * rows)}"
    )
    if returning:
        ret_sql, ret_params = connection.ops.return_insert_columns([model._meta.pk])
        assert not ret_params
        sql += " " + ret_sql
    return sql


class PreparedInsert:
    """The INSERT of new instances of one model in one statement, their values prepared now
    (``pre_save``, then each field's database value) and sent by ``run()`` later: a consent
    prepares its participant's row before it takes the study's lock, so that under the lock
    only the statement is sent. With ``returning`` each instance gets its primary key as
    ``save()`` gives it (one instance where the database cannot return rows)."""

    def __init__(self, objs: Sequence[Model], *, returning: bool = False):
        if not objs:
            raise ValueError("nothing to insert")
        model = type(objs[0])
        if any(obj.pk is not None for obj in objs):
            raise ValueError("a new instance takes its key from the database")
        self.objs, self.alias = list(objs), router.db_for_write(model, instance=objs[0])
        self.connection = connections[self.alias]
        features = self.connection.features
        self.returning = returning and features.can_return_columns_from_insert
        if returning and not self.returning and len(objs) > 1:
            raise ValueError("this database returns no keys of a multi-row insert")
        self.want_pk = returning
        fields = _insert_fields(model)
        self.sql = _insert_sql(model, self.alias, self.connection.vendor, len(objs), self.returning)
        self.params = [
            f.get_db_prep_save(f.pre_save(obj, True), connection=self.connection)
            for obj in self.objs
            for f in fields
        ]

    def run(self) -> None:
        meta = self.objs[0]._meta
        # as the ORM's writes: an error inside atomic() marks the block for rollback
        with transaction.mark_for_rollback_on_error(self.alias), self.connection.cursor() as cursor:
            cursor.execute(self.sql, self.params)
            if self.returning:
                pks = [row[0] for row in cursor.fetchall()]
            elif self.want_pk:
                pks = [self.connection.ops.last_insert_id(cursor, meta.db_table, meta.pk.column)]
            else:
                pks = [None] * len(self.objs)
        for obj, pk in zip(self.objs, pks, strict=True):
            if pk is not None:
                obj.pk = pk
            obj._state.adding = False
            obj._state.db = self.alias


def insert(objs: Sequence[Model]) -> None:
    """Store new instances of one model in one statement (no keys read back)."""
    PreparedInsert(objs).run()


def _column(model: type[Model], name: str) -> Field:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or not field.concrete or hasattr(field, "get_placeholder"):
        raise TypeError(f"{model.__name__}.{name}: not a plain column value")
    return field


@functools.cache
def _update_sql(
    model: type[Model], alias: str, vendor: str, names: tuple[str, ...], guards: tuple[str, ...]
) -> tuple[str, tuple[Field, ...], tuple[Field, ...]]:
    qn = connections[alias].ops.quote_name
    fields = tuple(_column(model, n) for n in names)
    where = tuple(_column(model, n) for n in guards)
    pk = model._meta.pk
    assert pk is not None
    sets = ", ".join(f"{qn(str(f.column))} = %s" for f in fields)
    conds = " AND ".join(f"{qn(str(f.column))} = %s" for f in (pk, *where))
    return f"UPDATE {qn(model._meta.db_table)} SET {sets} WHERE {conds}", fields, where


def update(
    model: type[Model], pk: Any, values: dict[str, Any], *, where: dict[str, Any] | None = None
) -> int:
    """What ``model.objects.filter(pk=pk, **where).update(**values)`` does with plain values
    (no ``F()`` or other expression, a foreign key by its id): the rows changed (0 or 1). A
    guard compares with ``=`` (no None: the ORM's ``IS NULL`` is not built here)."""
    where = where or {}
    if any(hasattr(v, "resolve_expression") for v in (*values.values(), *where.values())):
        raise TypeError("an expression is not a plain value: use the ORM's update()")
    if any(v is None for v in where.values()):
        raise ValueError("a guard of None is not supported")
    alias = router.db_for_write(model)
    connection: BaseDatabaseWrapper = connections[alias]
    sql, fields, guards = _update_sql(model, alias, connection.vendor, tuple(values), tuple(where))
    pk_field = model._meta.pk
    assert pk_field is not None
    params = [
        f.get_db_prep_save(v, connection=connection)
        for f, v in zip(fields, values.values(), strict=True)
    ]
    params.append(pk_field.get_db_prep_value(pk, connection))
    params += [
        f.get_db_prep_value(v, connection) for f, v in zip(guards, where.values(), strict=True)
    ]
    with transaction.mark_for_rollback_on_error(alias), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
