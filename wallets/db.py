"""Engines and the group-commit ``Store``: one writer, batched transactions, reads on their own connections.

``await store.write(ops)`` returns once a transaction holding ``ops`` has committed. Callers queue their
operations; the writer task takes everything queued, commits it as one transaction (SQLite in WAL mode, one
PostgreSQL transaction), then resolves every caller's future. While one batch commits the next one gathers,
so under load the cost of a commit (an fsync) is shared by everyone who arrived meanwhile.

A caller's operations are all-or-nothing. If a batch fails (a constraint backstop, a bug), its callers are
retried one by one in their own transactions, so one bad write never fails anyone else's.

SQLite runs with ``synchronous=FULL`` by default: in WAL mode that fsyncs the log on every commit, so an
acknowledged write survives power loss, not only a crashed process (``NORMAL`` would survive a crash of the
process only; group commit makes the extra fsync cheap). ``BRAID_SQLITE_SYNCHRONOUS`` changes it.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import structlog
from sqlalchemy import Connection, Engine, bindparam, create_engine, event, func, select, tuple_
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import Table

from wallets import models
from wallets.errors import InsufficientBalance, WalletError

log = structlog.get_logger(__name__)
T = TypeVar("T")

# How many ids one process takes from a sequence at a time.
_BLOCK = {"order": 10_000, "trade": 10_000, "posting": 100_000, "transfer": 50_000, "account": 1, "tenant": 1}
# Sequences and the (table, column) whose maximum bounds them on reopen.
SEQUENCES: dict[str, tuple[Table, str]] = {
    "order": (models.orders, "order_id"),
    "trade": (models.trades, "trade_id"),
    "posting": (models.postings, "posting_id"),
    "transfer": (models.postings, "transfer_id"),
    "account": (models.accounts, "account_id"),
    "tenant": (models.tenants, "tenant_id"),
}


class StoreError(Exception):
    """A write was not committed (the database refused it or the store is closed)."""


class Conflict(StoreError):
    """A write was not committed because it repeats a row that must be unique (e.g. the same fill twice)."""


@dataclass(frozen=True, slots=True)
class Insert:
    table: Table
    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Update:
    """Set ``values`` on the row whose primary key is ``key`` (in the table's primary-key column order)."""

    table: Table
    key: tuple[Any, ...]
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Upsert:
    """Insert the row, or replace its non-key columns if the primary key exists (last one wins)."""

    table: Table
    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BalanceDelta:
    """Add to a balance row inside the transaction (read, add, check, write: correct across processes).

    ``floor``: refuse (the whole caller's write) if either bucket would go below zero.
    """

    account_id: int
    asset: str
    free: Decimal
    locked: Decimal
    floor: bool = True


Op = Insert | Update | Upsert | BalanceDelta
BalanceKey = tuple[int, str]
BalanceValues = dict[BalanceKey, tuple[Decimal, Decimal]]


@dataclass(slots=True)
class Batch:
    """Operations that commit together or not at all; pass one to ledger/order calls, then ``store.write``."""

    ops: list[Op] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    after_failure: list[Callable[[], None]] = field(default_factory=list)

    discarded: bool = False

    def add(self, op: Op) -> None:
        self.ops.append(op)

    def discard(self) -> None:
        """Drop a batch that will never be written: undo what its calls noted in memory."""
        self.discarded = True
        for hook in self.after_failure:
            hook()
        self.ops.clear()
        self.after_failure.clear()
        self.after_commit.clear()


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_db_engine(url: str, *, writer: bool = True, sqlite_synchronous: str = "FULL", schema: str | None = None) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with the chosen ``synchronous``, or PostgreSQL.

    ``schema`` (PostgreSQL) places every table in that schema; tests use it to stay apart.
    """
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:":
            raise ValueError("the ledger needs a SQLite file, was an in-memory database")
        os.makedirs(os.path.dirname(os.path.abspath(u.database)) or ".", exist_ok=True)
        engine = create_engine(u, connect_args={"check_same_thread": False, "timeout": 30})
        sync = sqlite_synchronous.upper()
        if sync not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"sqlite_synchronous was {sqlite_synchronous!r}")

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            # We issue BEGIN ourselves (the driver's implicit transactions do not cover DDL or reads).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sync}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # the writer takes the write lock up front so it never has to upgrade mid-transaction
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

        return engine
    engine = create_engine(u, pool_pre_ping=True, pool_size=4 if not writer else 1, max_overflow=4)
    if schema:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def create_schema(engine: Engine, schema: str | None = None) -> None:
    """Create the tables (and the PostgreSQL schema) if they do not exist."""
    with engine.begin() as conn:
        if schema and conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        models.metadata.create_all(conn)


def drop_schema(url: str, schema: str) -> None:
    """Drop a PostgreSQL schema and everything in it (test clean-up)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        engine.dispose()


@dataclass(slots=True)
class _Item:
    ops: list[Op]
    future: asyncio.Future[None]


class Store:
    """The database behind the ledger and the order book: one writer task with group commit, and readers.

    Open with ``Store.open(url)`` (sync, creates the schema), then ``await store.start()`` to run the writer
    on the current event loop; ``await store.close()`` drains and stops it. Without a running writer,
    ``write_sync`` commits directly (the command line uses it).
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        sqlite_synchronous: str = "FULL",
        max_batch: int = 4096,
    ) -> None:
        self.url = url
        self.schema = schema
        self.dialect = make_url(url).get_backend_name()
        self.max_batch = max_batch
        self._wengine = create_db_engine(url, writer=True, sqlite_synchronous=sqlite_synchronous, schema=schema)
        self._rengine = create_db_engine(url, writer=False, sqlite_synchronous=sqlite_synchronous, schema=schema)
        self._wexec = ThreadPoolExecutor(max_workers=1, thread_name_prefix="braid-db-writer")
        self._rexec = ThreadPoolExecutor(max_workers=2, thread_name_prefix="braid-db-reader")
        self._seq_engine = create_db_engine(url, writer=True, sqlite_synchronous=sqlite_synchronous, schema=schema)
        self._blocks: dict[str, tuple[int, int]] = {}  # sequence -> (next id, last id of the block)
        self._seq_lock = threading.Lock()
        self._queue: asyncio.Queue[_Item | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # Called on the event loop after each commit with the balance rows it wrote and the deltas applied.
        self.on_balances: Callable[[BalanceValues, BalanceValues], None] | None = None
        self.batches = 0  # committed transactions
        self.writes = 0  # acknowledged write() calls

    @classmethod
    def open(cls, url: str, **kw: Any) -> Store:
        """Create the schema if needed and load the id counters."""
        store = cls(url, **kw)
        create_schema(store._wengine, store.schema)
        store._load_sequences()
        return store

    @classmethod
    def from_settings(cls, settings: Any) -> Store:
        return cls.open(
            settings.database_url,
            schema=settings.database_schema,
            sqlite_synchronous=settings.sqlite_synchronous,
        )

    # -- ids -----------------------------------------------------------------------------------------

    def _load_sequences(self) -> None:
        # make sure every counter exists and is past the largest id stored (e.g. rows imported by hand)
        with self._wengine.begin() as conn:
            saved = {r.name: int(r.value) for r in conn.execute(select(models.sequences))}
            for name, (table, col) in SEQUENCES.items():
                top = max(int(conn.execute(select(func.max(table.c[col]))).scalar() or 0), saved.get(name, 0))
                if name not in saved:
                    conn.execute(models.sequences.insert().values(name=name, value=top))
                elif top > saved[name]:
                    conn.execute(models.sequences.update().where(models.sequences.c.name == name).values(value=top))

    def next_id(self, name: str) -> int:
        """The next id of a sequence: unique across processes sharing the database, increasing within one.

        Ids come from blocks taken from the sequences table in their own short transaction (hi/lo), so
        several processes never collide; a restart skips what was left of its blocks.
        """
        with self._seq_lock:
            nxt, end = self._blocks.get(name, (1, 0))
            if nxt > end:
                nxt, end = self._grab(name, _BLOCK.get(name, 1000))
            self._blocks[name] = (nxt + 1, end)
            return nxt

    def _grab(self, name: str, n: int) -> tuple[int, int]:
        t = models.sequences
        with self._seq_engine.begin() as conn:
            top = conn.execute(
                t.update().where(t.c.name == name).values(value=t.c.value + n).returning(t.c.value)
            ).scalar_one()
        return int(top) - n + 1, int(top)

    # -- writer --------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Run the writer task on the running loop."""
        if self._task is not None:
            return
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="braid-db-writer")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def write(self, ops: Batch | Sequence[Op]) -> None:
        """Queue ``ops``; return once they are committed (raise ``StoreError`` if they were not)."""
        batch = ops if isinstance(ops, Batch) else Batch(list(ops))
        if self._closed:
            raise StoreError("store is closed")
        if self._queue is None:
            await self.start()
        assert self._queue is not None and self._task is not None
        if self._task.done():
            raise StoreError(f"the writer task has stopped: {self._task.exception() if not self._task.cancelled() else 'cancelled'}")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # The hooks follow the write's real outcome, even if the caller stops waiting (a cancelled request
        # handler): once queued, a write commits or fails on its own.
        fut.add_done_callback(lambda f: _run_hooks(batch, f))
        self._queue.put_nowait(_Item(batch.ops, fut))
        await asyncio.shield(fut)

    def write_sync(self, ops: Batch | Sequence[Op]) -> None:
        """Commit ``ops`` now, on the calling thread (only when no writer task runs)."""
        if self.running:
            raise StoreError("the writer task is running; use await write()")
        batch = ops if isinstance(ops, Batch) else Batch(list(ops))
        try:
            self._notify(self._commit([batch.ops]))
        except BaseException:
            for hook in batch.after_failure:
                hook()
            raise
        for hook in batch.after_commit:
            hook()

    async def flush(self) -> None:
        """Return once everything queued so far is committed."""
        await self.write([])

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            items = [first]
            while len(items) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if nxt is None:
                    stopping = True
                    break
                items.append(nxt)
            try:
                result = await loop.run_in_executor(self._wexec, self._commit, [i.ops for i in items])
            except Exception as exc:  # isolate the culprit: each caller in its own transaction
                if len(items) > 1:
                    log.info("db.batch_failed", size=len(items), error=repr(exc))
                for item in items:
                    try:
                        one_result = await loop.run_in_executor(self._wexec, self._commit, [item.ops])
                    except Exception as one:
                        if not item.future.done():
                            item.future.set_exception(_as_error(one))
                        continue
                    self._notify(one_result)
                    self.batches += 1
                    self.writes += 1
                    if not item.future.done():
                        item.future.set_result(None)
                continue
            self._notify(result)
            self.batches += 1
            for item in items:
                self.writes += 1
                if not item.future.done():
                    item.future.set_result(None)

    def _notify(self, result: tuple[BalanceValues, BalanceValues] | None) -> None:
        # after a commit: a failing listener must never make a committed write look uncommitted
        if result is not None and result[0] and self.on_balances is not None:
            try:
                self.on_balances(*result)
            except Exception:  # noqa: BLE001
                log.exception("db.balance_listener_failed")

    def _commit(self, groups: list[list[Op]]) -> tuple[BalanceValues, BalanceValues] | None:
        deltas: dict[BalanceKey, list[Any]] = {}
        inserts: dict[str, list[dict[str, Any]]] = {}
        updates: dict[tuple[str, tuple[Any, ...]], dict[str, Any]] = {}
        upserts: dict[tuple[str, tuple[Any, ...]], dict[str, Any]] = {}
        tables: dict[str, Table] = {}
        for ops in groups:
            for op in ops:
                if isinstance(op, BalanceDelta):
                    d = deltas.setdefault((op.account_id, op.asset), [Decimal(0), Decimal(0), False])
                    d[0] += op.free
                    d[1] += op.locked
                    d[2] = d[2] or op.floor
                    continue
                tables[op.table.name] = op.table
                if isinstance(op, Insert):
                    inserts.setdefault(op.table.name, []).append(op.row)
                elif isinstance(op, Update):
                    updates.setdefault((op.table.name, op.key), {}).update(op.values)
                else:
                    pk = tuple(op.row[c.name] for c in op.table.primary_key.columns)
                    upserts[(op.table.name, pk)] = op.row
        if not inserts and not updates and not upserts and not deltas:
            return None
        values: BalanceValues = {}
        with self._wengine.begin() as conn:
            if deltas:
                values = self._apply_deltas(conn, deltas)
            for name, rows in inserts.items():
                if self.dialect == "postgresql" and len(rows) > 8:
                    self._copy(conn, tables[name], rows)
                elif self.dialect == "sqlite":
                    self._sqlite_insert(conn, tables[name], rows)
                else:
                    for same in _by_keys(rows):
                        conn.execute(tables[name].insert(), same)
            by_cols: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}
            for (name, key), changes in updates.items():
                pkcols = [c.name for c in tables[name].primary_key.columns]
                row = {f"k_{c}": v for c, v in zip(pkcols, key)}
                row.update(changes)
                by_cols.setdefault((name, tuple(sorted(changes))), []).append(row)
            for (name, cols), rows in by_cols.items():
                t = tables[name]
                stmt = t.update().where(*[t.c[c.name] == bindparam(f"k_{c.name}") for c in t.primary_key.columns])
                stmt = stmt.values({c: bindparam(c) for c in cols})
                conn.execute(stmt, rows)
            ups: dict[str, list[dict[str, Any]]] = {}
            for (name, _), row in upserts.items():
                ups.setdefault(name, []).append(row)
            for name, rows in ups.items():
                for same in _by_keys(rows):
                    conn.execute(self._upsert_stmt(tables[name], list(same[0])), same)
        return values, {k: (d[0], d[1]) for k, d in deltas.items()}

    def _apply_deltas(self, conn: Connection, deltas: dict[BalanceKey, list[Any]]) -> BalanceValues:
        t = models.balances
        zero = Decimal(0)
        pg = self.dialect == "postgresql"
        keys = sorted(deltas)
        old = self._lock_balances(conn, keys, pg)
        missing = [k for k in keys if k not in old]
        if pg and missing:
            # another process may be creating the same row right now: create it empty (or find it), then
            # lock it, so its first value is never overwritten by ours
            ins = pg_dialect.insert(t).on_conflict_do_nothing(index_elements=["account_id", "asset"])
            conn.execute(ins, [{"account_id": a, "asset": s, "free": zero, "locked": zero} for a, s in missing])
            old.update(self._lock_balances(conn, missing, pg))
        values: BalanceValues = {}
        for key, (df, dl, floor) in deltas.items():
            f0, l0 = old.get(key, (zero, zero))
            f, lk = f0 + df, l0 + dl
            if floor and (f < 0 or lk < 0):
                raise InsufficientBalance(f"account {key[0]} {key[1]}: free {f0}{df:+} locked {l0}{dl:+}")
            values[key] = (f, lk)
        rows = [{"account_id": k[0], "asset": k[1], "free": v[0], "locked": v[1]} for k, v in values.items()]
        conn.execute(self._upsert_stmt(t, ["account_id", "asset", "free", "locked"]), rows)
        return values

    def _lock_balances(self, conn: Connection, keys: list[BalanceKey], pg: bool) -> BalanceValues:
        # SQLite: the transaction already holds the database's write lock (BEGIN IMMEDIATE).
        # PostgreSQL: row locks, taken in key order so two writers cannot deadlock on them.
        t = models.balances
        out: BalanceValues = {}
        for i in range(0, len(keys), 500):
            q = select(t.c.account_id, t.c.asset, t.c.free, t.c.locked).where(
                tuple_(t.c.account_id, t.c.asset).in_(keys[i : i + 500])
            )
            if pg:
                q = q.order_by(t.c.account_id, t.c.asset).with_for_update()
            for r in conn.execute(q):
                out[(int(r.account_id), r.asset)] = (r.free, r.locked)
        return out

    def read_balances_now(self, keys: list[BalanceKey]) -> BalanceValues:
        """Balance rows as committed, read on the writer's thread (ordered with the commits)."""
        t = models.balances
        out: BalanceValues = {}
        with self._wengine.connect() as conn:
            for i in range(0, len(keys), 500):
                q = select(t.c.account_id, t.c.asset, t.c.free, t.c.locked).where(
                    tuple_(t.c.account_id, t.c.asset).in_(keys[i : i + 500])
                )
                for r in conn.execute(q):
                    out[(int(r.account_id), r.asset)] = (r.free, r.locked)
            conn.rollback()
        return out

    async def read_balances(self, keys: list[BalanceKey]) -> BalanceValues:
        if not self.running:
            return self.read_balances_now(keys)
        return await asyncio.get_running_loop().run_in_executor(self._wexec, self.read_balances_now, keys)

    def _sqlite_insert(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        # straight to the driver's executemany: the per-row cost of building SQLAlchemy parameters is the
        # largest part of a batch otherwise. Money goes in as canonical text, as models.Money would store it.
        cols = [c.name for c in table.columns]
        money = [i for i, c in enumerate(table.columns) if isinstance(c.type, models.Money)]
        sql = f'INSERT INTO "{table.name}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})'
        params = []
        for row in rows:
            values = [row.get(c) for c in cols]
            for i in money:
                if values[i] is not None:
                    values[i] = format(values[i], "f")  # read back through Money, which canonicalises
            params.append(tuple(values))
        conn.exec_driver_sql(sql, params)

    def _copy(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        # PostgreSQL COPY: one round trip for the whole batch (pipelined INSERTs cost one statement per row)
        cols = [c.name for c in table.columns]
        name = f'"{self.schema}"."{table.name}"' if self.schema else f'"{table.name}"'
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row.get(c) for c in cols])

    def _upsert_stmt(self, table: Table, cols: list[str]) -> Any:
        ins = (pg_dialect.insert if self.dialect == "postgresql" else sqlite_dialect.insert)(table)
        pk = [c.name for c in table.primary_key.columns]
        rest = {c: ins.excluded[c] for c in cols if c not in pk}
        return ins.on_conflict_do_update(index_elements=pk, set_=rest)

    # -- reads ---------------------------------------------------------------------------------------

    def read_sync(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` on a read connection (sees committed data only)."""
        with self._rengine.connect() as conn:
            return fn(conn)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """``read_sync`` on a reader thread, so the event loop keeps running."""
        return await asyncio.get_running_loop().run_in_executor(self._rexec, self.read_sync, fn)

    # -- life ----------------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Commit what is queued and stop the writer (the store stays open; ``start`` runs it again)."""
        if self._task is not None and self._queue is not None:
            self._queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await self._task
        self._task = None
        self._queue = None

    async def close(self) -> None:
        """Commit what is queued, stop the writer and release the connections."""
        await self.stop()
        self.dispose()

    def dispose(self) -> None:
        self._closed = True
        self._wexec.shutdown(wait=True)
        self._rexec.shutdown(wait=True)
        self._wengine.dispose()
        self._rengine.dispose()
        self._seq_engine.dispose()


def _run_hooks(batch: Batch, fut: asyncio.Future[None]) -> None:
    failed = fut.cancelled() or fut.exception() is not None
    for hook in batch.after_failure if failed else batch.after_commit:
        hook()


def _as_error(exc: Exception) -> Exception:
    if isinstance(exc, WalletError):
        return exc
    text = f"{type(exc).__name__} {exc}".lower()
    if isinstance(exc, IntegrityError) or "uniqueviolation" in text or "unique constraint" in text:
        return Conflict(f"write was not committed: {exc}")
    return StoreError(f"write was not committed: {exc!r}")


def _by_keys(rows: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    # executemany needs one column set per call; keep the callers' order within each set
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    return list(groups.values())


def now_ms() -> int:
    return time.time_ns() // 1_000_000

