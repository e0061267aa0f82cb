"""Async SQLAlchemy engines and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, overload

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    Table,
    delete,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction, registry
from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import SQLModel

KIT_REGISTRY = registry()


class KitTable(SQLModel, registry=KIT_REGISTRY):
    """Base of the kit's own tables (outbox, inbox, api keys), present in every service database."""


SessionFactory = async_sessionmaker[AsyncSession]

#: SQLSTATEs of a transaction that collided with a concurrent one: serialization failure,
#: deadlock. Run again whole, it may pass.
CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})
#: SQLSTATEs of a database that is busy, going away or refusing us for a while: those
#: conflicts, admin/crash shutdown, cannot connect now, database dropped or renamed under us,
#: not accepting connections (ALTER DATABASE ... ALLOW_CONNECTIONS false), database missing.
#: Whole classes below too: 08 connection exceptions, 53 insufficient resources (disk full, out
#: of memory, too many connections), 28 invalid authorisation (a rotated password, a disabled
#: role). None says the work itself is wrong: it may succeed once ops mend the database.
_TRANSIENT_SQLSTATES = CONFLICT_SQLSTATES | {
    "57P01",
    "57P02",
    "57P03",
    "57P04",
    "57P05",
    "55000",
    "3D000",
}
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "28")
#: SQLite's (primary) result codes of a database that is busy or unreachable for a while: busy,
#: locked, out of memory, read-only file, disk I/O error, disk full, cannot open the file, lock
#: protocol. SQLITE_ERROR (no such table or column, a syntax error) says the statement is wrong,
#: though sqlite3 raises it as the same OperationalError.
_TRANSIENT_SQLITE_CODES = frozenset({5, 6, 7, 8, 10, 13, 14, 15})


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) says the database was unreachable or busy, so the
    same work may succeed later; not whether the work itself is wrong."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OperationalError):
            return _transient_sqlite_code(current.orig)
        if isinstance(current, OSError | TimeoutError | PoolTimeout):
            return True  # refused, reset, timed out
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        sqlstate = str(getattr(current, "sqlstate", "") or getattr(current, "pgcode", "") or "")
        if sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES):
            return True
        current = current.__cause__ or current.__context__
    return False


def _transient_sqlite_code(error: BaseException | None) -> bool:
    """For the driver's error under an OperationalError: whether SQLite's code says busy or
    unreachable ("database is locked"); any other driver's OperationalError (PostgreSQL's: a
    connection lost, refused or shut down) is transient."""
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(error, sqlite3.Error) or code is None:
        return True
    return code & 0xFF in _TRANSIENT_SQLITE_CODES  # the extended code's primary code


class _UtcSqliteDateTime(SQLITE_DATETIME):
    """SQLite keeps datetimes as text without an offset: store every aware value in UTC and give
    values of timezone-aware columns back as UTC, so comparisons and round trips are correct
    whatever offset the caller used (PostgreSQL's timestamptz does this natively)."""

    def bind_processor(self, dialect: Any) -> Any:
        parent = super().bind_processor(dialect)

        def process(value: Any) -> Any:
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return parent(value) if parent else value

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        parent = super().result_processor(dialect, coltype)
        timezone_aware = bool(getattr(self, "timezone", False))

        def process(value: Any) -> Any:
            value = parent(value) if parent else value
            if timezone_aware and isinstance(value, datetime) and value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return value

        return process


@overload
def aware(moment: datetime) -> datetime: ...
@overload
def aware(moment: None) -> None: ...
def aware(moment: datetime | None) -> datetime | None:
    """``moment`` with UTC as its zone when it has none: every datetime is stored in UTC, and
    SQLite hands back naive values where no timezone-aware column type converts them (JSON
    documents, columns declared without ``timezone=True``)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def is_sqlite(url: str) -> bool:
    """Whether ``url`` points at SQLite."""
    return url.startswith("sqlite")


def make_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 15,
    max_overflow: int = 0,
    pool_pre_ping: bool = False,
) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL, foreign keys and a busy timeout.

    ``pool_pre_ping`` tests each pooled connection before use: one more round trip per
    transaction. Without it, a connection the server dropped fails its request once (503, see
    :mod:`servicekit.problems`) and SQLAlchemy replaces the pool's connections.
    """
    kwargs: dict[str, Any] = {"echo": echo}
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=pool_pre_ping)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        engine.dialect.colspecs = {**engine.dialect.colspecs, DateTime: _UtcSqliteDateTime}

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control from the driver so "begin" below can say IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin_immediate(conn: Any) -> None:
            # A deferred transaction that reads then writes fails at once with SQLITE_BUSY when
            # another writer got in between; IMMEDIATE takes the write lock up front and waits.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Session factory whose objects stay readable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot answer ``SELECT 1``."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a SQLModel table class, for Core statements."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def insert_unless_present(session: AsyncSession, table: Table) -> postgresql.Insert | sqlite.Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``table`` in the session's dialect: a row
    whose key exists is skipped instead of failing the transaction (add ``RETURNING`` to learn
    which rows went in). Pass the row as the execute's parameters, not ``.values()``, so the
    statement's compiled form is cached."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return _insert_unless_present(dialect, table)


@functools.cache
def _insert_unless_present(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return statement.on_conflict_do_nothing()


async def insert_if_absent(session: AsyncSession, table: Table, row: Mapping[str, Any]) -> bool:
    """Insert ``row`` into ``table`` unless a row with its key exists, in one statement
    (``INSERT ... ON CONFLICT DO NOTHING RETURNING``); whether it went in. On PostgreSQL a
    concurrent insert of the same key waits for the other transaction and gets False if that
    one commits."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    inserted = await session.execute(_insert_returning_key(dialect, table), dict(row))
    return inserted.first() is not None


@functools.cache
def _insert_returning_key(dialect: str, table: Table) -> ReturningInsert[Any]:
    return _insert_unless_present(dialect, table).returning(*table.primary_key.columns)


RowT = TypeVar("RowT")
SelectT = TypeVar("SelectT", bound=Select[Any])

_MISSING: Any = object()
_TRANSACTION_SCOPE = "servicekit.transaction_scope"


class _TransactionScope:
    """What a session's transaction knows until it ends: the rows it keeps (None: a row known
    absent) and the advisory locks it holds (True: shared only)."""

    __slots__ = ("locks", "rows")

    def __init__(self) -> None:
        self.rows: dict[tuple[type[Any], tuple[Any, ...]], Any] = {}
        self.locks: dict[str, bool] = {}


def _scope(session: AsyncSession) -> _TransactionScope:
    scope: _TransactionScope | None = session.info.get(_TRANSACTION_SCOPE)
    if scope is None:
        scope = session.info[_TRANSACTION_SCOPE] = _TransactionScope()
    return scope


def _scope_if_any(session: AsyncSession) -> _TransactionScope | None:
    scope: _TransactionScope | None = session.info.get(_TRANSACTION_SCOPE)
    return scope


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    # Commit, rollback or close of the session's transaction (or of a savepoint, to be safe;
    # the flush's own sub-transactions end here too and are passed over): its locks are gone,
    # and the rows kept under them with them.
    if transaction.parent is None or transaction.nested:
        session.info.pop(_TRANSACTION_SCOPE, None)


def _key(key: Any) -> tuple[Any, ...]:
    return tuple(key) if isinstance(key, tuple | list) else (key,)


def _row_key(row: Any) -> tuple[type[Any], tuple[Any, ...]]:
    mapper = inspect(type(row))
    return mapper.class_, tuple(mapper.primary_key_from_instance(row))


def keep_row(session: AsyncSession, row: RowT) -> RowT:
    """Keep ``row`` until the session's transaction ends (commit, rollback or close): a row
    it read under a lock, or a new one it adds without reading it first (known not to exist:
    a concurrent insert of its key then clashes instead of being overwritten). Every
    :func:`get_row` of the transaction returns it without a statement, though nobody else
    holds it (the session's identity map holds its rows weakly, issue 9). Keep only rows the
    transaction's locks cover, and never one it deletes."""
    _scope(session).rows[_row_key(row)] = row
    return row


def is_kept(session: AsyncSession, model: type[Any], key: Any) -> bool:
    """Whether the transaction keeps the row of ``model`` with primary key ``key``, or its
    absence (see :func:`get_row`)."""
    scope = _scope_if_any(session)
    return scope is not None and (model, _key(key)) in scope.rows


def kept_row(session: AsyncSession, model: type[RowT], key: Any) -> RowT | None:
    """The row of ``model`` with primary key ``key`` the transaction keeps; None when it keeps
    none (or knows the row absent): no statement either way."""
    scope = _scope_if_any(session)
    if scope is None:
        return None
    row: RowT | None = scope.rows.get((model, _key(key)))
    return row


async def get_row(
    session: AsyncSession,
    model: type[RowT],
    key: Any,
    *,
    for_update: bool = False,
    keep: bool = False,
) -> RowT | None:
    """The row of ``model`` with primary key ``key``, or None. ``for_update`` locks it until
    the transaction ends (PostgreSQL; SQLite's writers take turns anyway) and reads its latest
    committed state, not a copy the session read earlier: what a change is decided from.

    A row the transaction keeps (:func:`keep_row`), or knows absent, is returned as kept,
    without a statement. ``keep``: read it afresh (as ``for_update`` does, without locking it
    unless asked) and keep it, or its absence, for the rest of the transaction, so that it is
    read once however often the transaction asks for it (issue 9). Only for a row the
    transaction holds a lock on: its own row lock (``for_update``) or one that covers it, such
    as an advisory lock on its order. ``for_update`` locks no missing row, so keep an absence
    only when such a lock covers it, or when a concurrent insert of the key would clash with
    the transaction's own rather than be overwritten by it."""
    scope = _scope_if_any(session)
    if scope is not None:
        kept = scope.rows.get((model, _key(key)), _MISSING)
        if kept is not _MISSING:
            row: RowT | None = kept
            return row
    if for_update:
        row = await session.get(model, key, with_for_update=True, populate_existing=True)
    elif keep:
        row = await session.get(model, key, populate_existing=True)
    else:
        return await session.get(model, key)
    if keep:
        _scope(session).rows[(model, _key(key))] = row
    return row


async def insert_row_if_absent(
    session: AsyncSession, model: type[RowT], values: Mapping[str, Any]
) -> RowT | None:
    """Insert the row of ``model`` with ``values`` unless a row with its key exists, in one
    statement (``INSERT ... ON CONFLICT DO NOTHING RETURNING``): the new row, kept for the rest
    of the transaction (it is the transaction's own until it ends: see :func:`keep_row`), or
    None when the key was taken. On PostgreSQL a concurrent insert of the same key waits for the
    other transaction and gets None if that one commits: a kept absence of the key is then
    forgotten, so the row is read (and locked) afresh."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    mapped: Any = model  # a mapped class, hashable
    statement = _insert_row_returning(dialect, mapped)
    inserted = (await session.scalars(statement, [dict(values)])).first()
    if inserted is None:
        scope = _scope_if_any(session)
        if scope is not None:
            mapper = inspect(mapped)
            key = tuple(values[column.key] for column in mapper.primary_key)
            scope.rows.pop((mapper.class_, key), None)
        return None
    row: RowT = keep_row(session, inserted)
    return row


@functools.cache
def _insert_row_returning(dialect: str, model: type[Any]) -> Any:
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)
    return statement.on_conflict_do_nothing().returning(model)


_ADVISORY_XACT_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
_ADVISORY_XACT_LOCK_SHARED = text("SELECT pg_advisory_xact_lock_shared(hashtextextended(:key, 0))")


async def advisory_xact_lock(
    executor: AsyncSession | AsyncConnection, key: str, *, shared: bool = False
) -> None:
    """Wait for the lock named ``key`` and hold it until the transaction of ``executor`` (a
    session or a connection) ends (PostgreSQL; keys are per database). For decisions that depend
    on rows no row lock covers: rows that may not exist yet, or a count across many. Shared
    holders exclude only exclusive ones. Nothing on SQLite, whose writers take turns already
    (``BEGIN IMMEDIATE``). A session's transaction remembers what it holds until it ends
    (:func:`holds_xact_lock`)."""
    session = executor if isinstance(executor, AsyncSession) else None
    bind = executor.engine if isinstance(executor, AsyncConnection) else executor.bind
    if bind is not None and bind.dialect.name == "postgresql":
        statement = _ADVISORY_XACT_LOCK_SHARED if shared else _ADVISORY_XACT_LOCK
        await executor.execute(statement, {"key": key})
    if session is not None:
        locks = _scope(session).locks
        locks[key] = locks.get(key, True) and shared


def holds_xact_lock(session: AsyncSession, key: str, *, shared: bool = False) -> bool:
    """Whether the session's transaction holds the lock named ``key`` (exclusively, or at
    least shared when ``shared``), taken by :func:`advisory_xact_lock`: a lock it needs not ask
    for again, and what the rows it covers may be kept under (:func:`get_row`). Also on
    SQLite, whose transaction excludes every other writer."""
    scope = _scope_if_any(session)
    if scope is None or key not in scope.locks:
        return False
    return shared or not scope.locks[key]


def for_change(query: SelectT, *, skip_locked: bool = False) -> SelectT:
    """``query`` reading rows to change: locked until the transaction ends (PostgreSQL; SQLite's
    writers take turns anyway) and read afresh, not the session's earlier copies.
    ``skip_locked`` passes over rows another transaction holds: for sweeps, where a replica
    busy with a row will handle it."""
    return query.with_for_update(skip_locked=skip_locked).execution_options(populate_existing=True)


async def delete_in_batches(
    session_factory: SessionFactory,
    key: Any,
    where: ColumnElement[bool],
    *,
    batch: int = 1000,
) -> int:
    """Delete the rows matching ``where`` from the table of primary-key column ``key``,
    ``batch`` rows per transaction so no long lock is held; returns how many."""
    deleted_total = 0
    while True:
        async with session_factory() as session:
            chosen = select(key).where(where).limit(batch)
            result = await session.execute(delete(key.table).where(key.in_(chosen)))
            await session.commit()
        deleted = int(result.rowcount or 0)  # type: ignore[attr-defined]
        deleted_total += deleted
        if deleted < batch:
            return deleted_total
