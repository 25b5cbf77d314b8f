"""Database pieces the apps share."""

import functools
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from django.db import connection, connections
from django.db.backends.signals import connection_created
from django.db.models import Aggregate, DurationField, FloatField, Func, Model
from django.db.models.fields import AutoFieldMixin


class Median(Aggregate):
    """The median of a column, computed by the database: PostgreSQL's percentile_cont;
    on SQLite (the embedded default) an aggregate function registered below."""

    function = "PERCENTILE_CONT"
    name = "Median"
    output_field = FloatField()
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="MEDIAN", template="%(function)s(%(expressions)s)")


class Days(Func):
    """A whole number of days (a column, say) as a duration, to add to a moment in SQL.
    PostgreSQL makes an interval; SQLite (the embedded default) keeps durations as
    microseconds, and refuses an integer times a timedelta, the portable spelling."""

    function = "make_interval"
    template = "%(function)s(days => %(expressions)s)"
    output_field = DurationField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="(%(expressions)s * 86400000000)")


class _SqliteMedian:
    def __init__(self):
        self.values = []

    def step(self, value):
        if value is not None:
            self.values.append(value)

    def finalize(self):
        if not self.values:
            return None
        values = sorted(self.values)
        middle = len(values) // 2
        if len(values) % 2:
            return float(values[middle])
        return (values[middle - 1] + values[middle]) / 2


def _register_sqlite_functions(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("MEDIAN", 1, _SqliteMedian)


connection_created.connect(_register_sqlite_functions, dispatch_uid="retention-crm-sqlite-median")


@contextmanager
def binding_cursor():
    """A psycopg cursor with server-side binding, in the current transaction.

    Django's cursors bind parameters on the client: psycopg then quotes every element
    of an array parameter in Python, which for the arrays of a thousand-row bulk write
    costs more than the write. Here the arrays travel as parameters of their own, in
    binary where the query says %b. Its errors come as Django's, as from Django's cursor.
    """
    with connection.wrap_database_errors, psycopg.Cursor(_readied_connection()) as cursor:
        yield cursor


def _readied_connection() -> psycopg.Connection:
    """The psycopg connection under Django's, readied as Django readies it for a cursor:
    refused inside a transaction an error broke, health-checked at the first use in a
    request (a connection the server closed is replaced, not failed), opened if need be."""
    connection.validate_no_broken_transaction()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    return connection.connection


def insert_unless_taken(obj: Model, unique_field: str | None = None) -> bool:
    """INSERT one row … ON CONFLICT (`unique_field`, or any unique value when None) DO
    NOTHING RETURNING its id, in one statement (PostgreSQL and SQLite): a savepoint around
    a plain INSERT costs two more round trips. False when the value is taken (nothing
    written); else the object has its primary key."""
    sql, params = insert_unless_taken_sql(obj, unique_field)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return mark_inserted(obj, cursor.fetchone())


def insert_unless_taken_sql(obj: Model, unique_field: str | None = None, *, when: str = "") -> tuple[str, list]:
    """The statement of `insert_unless_taken` and its parameters, for a caller that puts
    it into a larger statement (a data-modifying WITH on PostgreSQL); with `when`, the row
    is inserted only if that condition holds (an EXISTS on an earlier part, say)."""
    meta = obj._meta
    # Every column but a generated id (an account's key is its customer's, so it is written).
    fields = [field for field in meta.concrete_fields if not isinstance(field, AutoFieldMixin)]
    quote = connection.ops.quote_name
    target = f"({quote(meta.get_field(unique_field).column)}) " if unique_field else ""
    return (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)})"
        + row_source(len(fields), when=when)
        + f" ON CONFLICT {target}DO NOTHING RETURNING {quote(meta.pk.column)}",
        # pre_save, as Django's own INSERT does: it fills auto_now and auto_now_add.
        [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields],
    )


def placeholders(count: int) -> str:
    """`%s, %s, …`: `count` parameters, for an `IN (…)` or a row of values (written out,
    not `= ANY(%s)`, so that SQLite runs the same statement)."""
    return ", ".join(["%s"] * count)


def row_source(count: int, *, when: str = "") -> str:
    """The row of an INSERT with `count` parameters: ` VALUES (%s, …)`, or with `when`
    ` SELECT %s, … WHERE <when>` (PostgreSQL takes the SELECT's untyped parameters as
    the columns' types, as it does VALUES)."""
    return f" SELECT {placeholders(count)} WHERE {when}" if when else f" VALUES ({placeholders(count)})"


def mark_inserted(obj: Model, row: tuple | None) -> bool:
    """Give the object the primary key the INSERT returned; False when it returned no row."""
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    return True


def update_rows(model: type[Model], objects: list[Model], fields: list[str]) -> None:
    """Write `fields` of many rows in one UPDATE … FROM unnest(arrays) on PostgreSQL: one
    array parameter per column, whatever the number of rows (Django's bulk_update builds
    a CASE per field and row, and a placeholder per value, both slow at hundreds of
    rows). Elsewhere, bulk_update."""
    if not objects:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objects, fields)
        return
    meta = model._meta
    pk = meta.pk
    columns = [pk, *(meta.get_field(name) for name in fields)]
    # Values go to psycopg as Python has them (datetimes, booleans, numbers, durations
    # adapt natively); the fields' own conversion would cost more than the UPDATE.
    arrays = [[getattr(obj, field.attname) for obj in objects] for field in columns]
    quote = connection.ops.quote_name
    # The type without its size (varchar, not varchar(40)): array casts need no more.
    unnest = ", ".join(f"%b::{field.db_type(connection).split('(')[0]}[]" for field in columns)
    names = ", ".join(quote(field.column) for field in columns)
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in columns[1:])
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} FROM unnest({unnest}) AS v({names})"
        f" WHERE t.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    with binding_cursor() as cursor:
        cursor.execute(sql, arrays)


@dataclass(frozen=True)
class Rows:
    """One read of `rows_together`: the model's rows `WHERE <where>` (its columns, in the
    order of `order_by` when given), locked FOR UPDATE with `lock` (on PostgreSQL; SQLite
    locks the whole database for a write and has no FOR UPDATE), passing over rows that
    another transaction holds with `skip_locked` as well."""

    model: type[Model]
    where: str
    params: Sequence = ()
    order_by: str = ""
    lock: bool = False
    skip_locked: bool = False

    def statement(self) -> str:
        quote = connection.ops.quote_name
        columns = ", ".join(quote(field.column) for field in self.model._meta.concrete_fields)
        sql = f"SELECT {columns} FROM {quote(self.model._meta.db_table)} WHERE {self.where}"
        if self.order_by:
            sql += f" ORDER BY {self.order_by}"
        if self.lock and connection.vendor == "postgresql":
            sql += " FOR UPDATE SKIP LOCKED" if self.skip_locked else " FOR UPDATE"
        return sql

    def result(self, rows: list[tuple]) -> list[Model]:
        return _instances(self.model, rows)


@dataclass(frozen=True)
class RawRows:
    """A read of `rows_together` in the caller's own SQL: its rows as they come."""

    sql: str
    params: Sequence = ()

    def statement(self) -> str:
        return self.sql

    def result(self, rows: list[tuple]) -> list[tuple]:
        return rows


def rows_together(*reads: Rows | RawRows) -> list[list]:
    """The rows of each read (model instances, or tuples for a RawRows), in one round trip
    on PostgreSQL.

    Each read is a statement of its own and takes its own snapshot when it runs, so a
    read after one that locks sees whatever the transaction holding the lock committed.
    For the hot paths (an earning order, a redemption, a survey answer) where a round
    trip costs more than the statement; the ORM's querysets each cost one, and compiling
    them costs more than these statements."""
    if connection.vendor != "postgresql":
        results = []
        with connection.cursor() as cursor:
            for read in reads:
                cursor.execute(read.statement(), list(read.params))
                results.append(read.result(cursor.fetchall()))
        return results
    statements = [(read.statement(), list(read.params)) for read in reads]
    started = time.monotonic()
    with connection.wrap_database_errors:
        # A pipeline: every statement is sent before the first answer is read (one round
        # trip), each bound on the server, so that the connection prepares the ones it
        # sees often (DATABASES' prepare_threshold) and PostgreSQL stops parsing and
        # planning them anew for every request.
        psycopg_connection = _readied_connection()
        cursors = [psycopg.Cursor(psycopg_connection) for _ in statements]
        with psycopg_connection.pipeline():
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(sql, params)
        rows = [cursor.fetchall() for cursor in cursors]
    _log_queries(statements, time.monotonic() - started)
    return [read.result(found) for read, found in zip(reads, rows, strict=True)]


def _log_queries(statements: list[tuple[str, list]], duration: float) -> None:
    """Record a round trip that went past Django's cursor where Django records its own
    (DEBUG, and the tests' query counts): one entry, as it is one round trip."""
    if connection.queries_logged:
        sql = "; ".join(f"{sql} {params!r}" for sql, params in statements)
        connection.queries_log.append({"sql": sql, "time": f"{duration:.3f}"})


@functools.lru_cache(maxsize=256)
def _converters(model: type[Model], database) -> tuple[list[str], list[tuple]]:
    """The model's attribute names in column order, and (index, column, converters) of the
    columns whose values the fields or the backend convert (JSON, SQLite's decimals and
    dates): worked out once per model and connection (the backend's converters are its
    operations' methods)."""
    fields = model._meta.concrete_fields
    converters = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        found = database.ops.get_db_converters(column) + column.get_db_converters(database)
        if found:
            converters.append((index, column, found))
    return [field.attname for field in fields], converters


def _instances(model: type[Model], rows: list[tuple]) -> list[Model]:
    """Model instances from rows of all its concrete columns, through the converters, as
    the ORM makes them."""
    database = connections[connection.alias]
    names, converters = _converters(model, database)
    instances = []
    for row in rows:
        if converters:
            row = list(row)
            for index, column, functions in converters:
                for function in functions:
                    row[index] = function(row[index], column, database)
        instances.append(model.from_db(connection.alias, names, row))
    return instances
