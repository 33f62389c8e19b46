"""Engines and the group-commit ``Store``: one writer, batched transactions, reads on their own connections.

``await store.write(ops)`` returns once a transaction holding ``ops`` has committed. Callers queue their
operations; the writer task takes everything queued and hands it to the writer process
(``wallets.committer``), which commits it as one transaction (SQLite in WAL mode, one PostgreSQL
transaction) through the driver; then every caller's future is resolved. While one batch commits the next one gathers,
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
import pickle  # nosec B403 # pickle only between this process and its own committer
import socket
import subprocess  # nosec B404 # runs fixed local programs only (see the calls)
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

import structlog
from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.schema import Table

from wallets import committer, migrations, models
from wallets.committer import (
    _HEADER,
    BalanceKey,
    BalanceValues,
    Committer,
    Refused,
    TableSpec,
)
from wallets.errors import InsufficientBalance
from wallets.migrations import registry

log = structlog.get_logger(__name__)
T = TypeVar("T")

# How many ids one process takes from a sequence at a time.
_BLOCK = {"order": 10_000, "trade": 10_000, "account": 1, "tenant": 1}
# Sequences and the (table, column) whose maximum bounds them on reopen. Postings and transfers take theirs
# inside the writer's transaction (wallets.committer); the others in blocks (Store.next_id).
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


class _Failed(StoreError):
    """The writer process answered that a request failed (e.g. the database is down); it is still running."""


class Conflict(StoreError):
    """A write was not committed because it repeats a row that must be unique (e.g. the same fill twice)."""


class Insert(NamedTuple):
    table: Table
    row: dict[str, Any]


class Update(NamedTuple):
    """Set ``values`` on the row whose primary key is ``key`` (in the table's primary-key column order)."""

    table: Table
    key: tuple[Any, ...]
    values: dict[str, Any]


class Upsert(NamedTuple):
    """Insert the row, or replace its non-key columns if the primary key exists (last one wins)."""

    table: Table
    row: dict[str, Any]


class Transfer(NamedTuple):
    """One double-entry transfer of one asset: its legs sum to zero.

    The writer stores it as one posting per leg (ids taken from the sequences in the same transaction) and
    adds the legs to the balance rows, reading, adding and checking them inside the transaction (correct
    across processes). ``legs``: ``(account_id, bucket, amount, floor)``, bucket "free" or "locked", amount the
    exact decimal text (what the writer is sent); ``floor`` refuses the whole caller's write if that account's
    bucket would go below zero.
    """

    kind: str
    ref: str
    ts: int
    asset: str
    legs: tuple[tuple[int, str, str, bool], ...]


Op = Insert | Update | Upsert | Transfer


@dataclass(slots=True)
class Batch:
    """Operations that commit together or not at all; pass one to ledger/order calls, then ``store.write``."""

    ops: list[Op] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    after_failure: list[Callable[[], None]] = field(default_factory=list)

    discarded: bool = False
    ledger_net: dict[Any, list[Decimal]] | None = None  # the ledger's pending balance changes in this batch

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
        self.ledger_net = None


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_db_engine(
    url: str, *, writer: bool = True, sqlite_synchronous: str = "FULL", schema: str | None = None
) -> Engine:
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
    ops: list[Op] | None  # None: a read of balance rows, ordered with the commits
    future: asyncio.Future[Any]
    keys: list[BalanceKey] | None = None


def table_specs() -> dict[str, TableSpec]:
    """What the committer needs to know of each table."""
    return {
        t.name: TableSpec(
            t.name,
            tuple(c.name for c in t.columns),
            tuple(c.name for c in t.primary_key.columns),
            tuple(i for i, c in enumerate(t.columns) if isinstance(c.type, models.Money)),
        )
        for m in registry.metadatas()
        for t in m.sorted_tables
    }


def _decimals_as_text(row: dict[str, Any]) -> dict[str, Any]:
    # exact decimal text: str() is cheap where pickling a Decimal costs ~1 us (a batch holds thousands)
    return {k: str(v) if type(v) is Decimal else v for k, v in row.items()}


def _encode(ops: Sequence[Op]) -> list[tuple[Any, ...]]:
    """The writer's plain tuples (``wallets.committer``), every Decimal as its exact text."""
    out: list[tuple[Any, ...]] = []
    for op in ops:
        if type(op) is Transfer:
            out.append(("t", op.kind, op.ref, op.ts, op.asset, op.legs))
        elif type(op) is Insert:
            out.append(("i", op.table.name, _decimals_as_text(op.row)))
        elif type(op) is Upsert:
            out.append(("u", op.table.name, _decimals_as_text(op.row)))
        else:
            assert type(op) is Update
            out.append(("x", op.table.name, op.key, _decimals_as_text(op.values)))
    return out


class Store:
    """The database behind the ledger and the order book: one writer with group commit, and readers.

    Open with ``Store.open(url)`` (sync, creates or upgrades the tables: ``wallets.migrations``), then
    ``await store.start()`` to start the writer:
    a child process (``wallets.committer``) that commits each batch through the driver, so the commits' CPU
    work runs beside the event loop rather than under its interpreter lock. ``await store.close()`` drains and
    stops it. Without a running writer, ``write_sync`` commits directly (the command line uses it).
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
        self.sqlite_synchronous = sqlite_synchronous
        self._wengine = create_db_engine(url, writer=True, sqlite_synchronous=sqlite_synchronous, schema=schema)
        self._rengine = create_db_engine(url, writer=False, sqlite_synchronous=sqlite_synchronous, schema=schema)
        self._rexec = ThreadPoolExecutor(max_workers=2, thread_name_prefix="braid-db-reader")
        self._seq_engine = create_db_engine(url, writer=True, sqlite_synchronous=sqlite_synchronous, schema=schema)
        self._specs = table_specs()
        self._local: Committer | None = None  # write_sync's, in this process
        self._blocks: dict[str, tuple[int, int]] = {}  # sequence -> (next id, last id of the block)
        self._seq_lock = threading.Lock()
        self._queue: asyncio.Queue[_Item | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._starting: asyncio.Future[None] | None = None
        self._closed = False
        # Called on the event loop after each commit with the balance rows it wrote and the deltas applied.
        self.on_balances: Callable[[BalanceValues, BalanceValues], None] | None = None
        self.batches = 0  # committed transactions
        self.writes = 0  # acknowledged write() calls

    @classmethod
    def open(cls, url: str, **kw: Any) -> Store:
        """Bring the tables to this code's schema revision (or refuse) and load the id counters."""
        store = cls(url, **kw)
        try:
            migrations.prepare(store._rengine, url, schema=store.schema, sqlite_synchronous=store.sqlite_synchronous)
        except BaseException:
            store.dispose()
            raise
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

    def next_ids(self, name: str, n: int) -> list[int]:
        """``n`` ids of a sequence at once (increasing; a block boundary may leave a gap)."""
        with self._seq_lock:
            nxt, end = self._blocks.get(name, (1, 0))
            if nxt + n - 1 <= end:
                self._blocks[name] = (nxt + n, end)
                return list(range(nxt, nxt + n))
        return [self.next_id(name) for _ in range(n)]

    def _grab(self, name: str, n: int) -> tuple[int, int]:
        t = models.sequences
        with self._seq_engine.begin() as conn:
            top = conn.execute(
                t.update().where(t.c.name == name).values(value=t.c.value + n).returning(t.c.value)
            ).scalar_one()
        return int(top) - n + 1, int(top)

    # -- writer --------------------------------------------------------------------------------------

    def _hello(self) -> dict[str, Any]:
        u = make_url(self.url)
        if self.dialect == "sqlite":
            target = os.path.abspath(u.database or "")
        else:
            target = u.set(drivername="postgresql").render_as_string(hide_password=False)
        return {
            "dialect": self.dialect,
            "target": target,
            "specs": self._specs,
            "schema": self.schema,
            "synchronous": self.sqlite_synchronous,
        }

    async def start(self) -> None:
        """Start the writer process and the task that feeds it, on the running loop."""
        if self._task is not None:
            return
        if self._starting is not None:  # another caller is starting it: wait for that
            await asyncio.shield(self._starting)
            return
        self._starting = asyncio.get_running_loop().create_future()
        try:
            await self._spawn()
        except BaseException as exc:
            self._starting.set_exception(exc if isinstance(exc, Exception) else StoreError("start was cancelled"))
            self._starting.exception()  # retrieved: only the waiters care
            raise
        else:
            self._starting.set_result(None)
        finally:
            self._starting = None

    async def _spawn(self) -> None:
        parent, child = socket.socketpair()
        try:
            # Popen returns at once (fork and exec); the long-lived child is watched through its socket
            cmd = [sys.executable, committer.__file__, str(child.fileno())]
            self._proc = subprocess.Popen(cmd, pass_fds=[child.fileno()], stdin=subprocess.DEVNULL)  # noqa: ASYNC220  # nosec B603 # fixed argv of a local tool, no shell, no outside input
        finally:
            child.close()
        reader, writer = await asyncio.open_connection(sock=parent)
        try:
            _send(writer, self._hello())
            answer = await _receive(reader)
        except BaseException:
            writer.close()
            self._reap()
            raise
        if answer is None or answer[0] != "ready":
            writer.close()
            self._reap()
            raise StoreError(f"the writer process did not start: {answer[1] if answer else 'it exited'}")
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run(reader, writer), name="braid-db-writer")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def write(self, ops: Batch | Sequence[Op]) -> None:
        """Queue ``ops``; return once they are committed (raise ``StoreError`` if they were not)."""
        batch = ops if isinstance(ops, Batch) else Batch(list(ops))
        if self._task is None and not self._closed:
            await self.start()
        fut = self._enqueue(batch.ops)
        # The hooks follow the write's real outcome, even if the caller stops waiting (a cancelled request
        # handler): once queued, a write commits or fails on its own.
        fut.add_done_callback(lambda f: _run_hooks(batch, f))
        await asyncio.shield(fut)

    def _enqueue(self, ops: list[Op] | None, keys: list[BalanceKey] | None = None) -> asyncio.Future[Any]:
        if self._closed:
            raise StoreError("store is closed")
        if self._task is None or self._queue is None:
            raise StoreError("the writer is not running (await store.start() first)")
        if self._task.done():
            raise StoreError(
                f"the writer task has stopped: {self._task.exception() if not self._task.cancelled() else 'cancelled'}"
            )
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(ops, fut, keys))
        return fut

    def write_sync(self, ops: Batch | Sequence[Op]) -> None:
        """Commit ``ops`` now, on the calling thread (only when no writer runs)."""
        if self.running:
            raise StoreError("the writer is running; use await write()")
        batch = ops if isinstance(ops, Batch) else Batch(list(ops))
        try:
            try:
                result = self._committer().commit([_encode(batch.ops)])
            except Refused as exc:
                raise _as_error(exc.kind, exc.msg) from None
            self._notify(result)
        except BaseException:
            for hook in batch.after_failure:
                hook()
            raise
        for hook in batch.after_commit:
            hook()

    def _committer(self) -> Committer:
        if self._closed:
            raise StoreError("store is closed")
        if self._local is None:
            h = self._hello()
            self._local = Committer(
                h["dialect"], h["target"], self._specs, schema=self.schema, synchronous=self.sqlite_synchronous
            )
        return self._local

    async def flush(self) -> None:
        """Return once everything queued so far is committed."""
        await self.write([])

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._queue is not None
        held: _Item | None = None  # a read that ended the previous batch
        try:
            while True:
                first = held or await self._queue.get()
                held = None
                if first is None:
                    break
                if first.ops is None:
                    await self._read(reader, writer, first)
                    continue
                items = [first]
                stopping = False
                while len(items) < self.max_batch:
                    try:
                        nxt = self._queue.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                    if nxt is None:
                        stopping = True
                        break
                    if nxt.ops is None:
                        held = nxt
                        break
                    items.append(nxt)
                await self._commit(reader, writer, items)
                if stopping:
                    break
        except BaseException as exc:
            # the writer process is gone (or this task was cancelled): nobody waiting may hang
            failure = StoreError(f"the writer process stopped: {exc!r}")
            if held is not None and not held.future.done():
                held.future.set_exception(failure)
            while self._queue is not None and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is not None and not item.future.done():
                    item.future.set_exception(failure)
            raise
        finally:
            with contextlib.suppress(Exception):
                _send(writer, ("stop",))
                await writer.drain()
            writer.close()

    async def _ask(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: Any) -> Any:
        _send(writer, message)
        await writer.drain()
        answer = await _receive(reader)
        if answer is None:
            raise StoreError("the writer process exited")
        if answer[0] != "ok":
            raise _Failed(f"the writer process failed: {answer[1]}")
        return answer[1]

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, item: _Item) -> None:
        try:
            values = await self._ask(reader, writer, ("balances", item.keys))
        except StoreError as exc:
            if not item.future.done():
                item.future.set_exception(exc)
            if isinstance(exc, _Failed):  # this read failed, the writer lives on: the next request may succeed
                return
            raise
        if not item.future.done():
            item.future.set_result(values)

    async def _commit(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, items: list[_Item]) -> None:
        groups = [_encode(i.ops) for i in items]  # type: ignore[arg-type]
        try:
            kind, answer = await self._ask(reader, writer, ("commit", groups))
        except StoreError as exc:
            for item in items:
                if not item.future.done():
                    item.future.set_exception(exc)
            if isinstance(exc, _Failed):  # nothing committed, the writer lives on: the next batch may succeed
                return
            raise
        if kind == "batch":
            self._notify(answer)
            self.batches += 1
            for item in items:
                self.writes += 1
                if not item.future.done():
                    item.future.set_result(None)
            return
        if len(items) > 1:
            log.info("db.batch_failed", size=len(items))
        for item, (error, msg, result) in zip(items, answer, strict=True):
            if error is not None:
                if not item.future.done():
                    item.future.set_exception(_as_error(error, msg))
                continue
            self._notify(result)
            self.batches += 1
            self.writes += 1
            if not item.future.done():
                item.future.set_result(None)

    def _notify(self, result: tuple[BalanceValues, BalanceValues] | None) -> None:
        # after a commit: a failing listener must never make a committed write look uncommitted
        if result is not None and result[0] and self.on_balances is not None:
            try:
                self.on_balances(*result)
            except Exception:
                log.exception("db.balance_listener_failed")

    def read_balances_now(self, keys: list[BalanceKey]) -> BalanceValues:
        """Balance rows as committed (only when no writer runs; ``read_balances`` orders it with the writes)."""
        return self._committer().read_balances(keys)

    async def read_balances(self, keys: list[BalanceKey]) -> BalanceValues:
        """Balance rows as committed, read after everything queued before this call has committed."""
        if not self.running:
            return self.read_balances_now(keys)
        return await self._enqueue(None, keys)  # type: ignore[no-any-return]

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
            with contextlib.suppress(BaseException):
                await self._task
        self._task = None
        self._queue = None
        if self._proc is not None:
            proc, self._proc = self._proc, None
            await asyncio.get_running_loop().run_in_executor(None, _wait_or_kill, proc)

    async def close(self) -> None:
        """Commit what is queued, stop the writer and release the connections."""
        await self.stop()
        self.dispose()

    def _reap(self) -> None:
        if self._proc is not None:
            _wait_or_kill(self._proc, 0)
            self._proc = None

    def dispose(self) -> None:
        self._closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._reap()
        if self._local is not None:
            self._local.close()
            self._local = None
        self._rexec.shutdown(wait=True)
        self._wengine.dispose()
        self._rengine.dispose()
        self._seq_engine.dispose()


def _wait_or_kill(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _send(writer: asyncio.StreamWriter, message: Any) -> None:
    data = pickle.dumps(message, protocol=5)
    writer.write(_HEADER.pack(len(data)) + data)


async def _receive(reader: asyncio.StreamReader) -> Any:
    try:
        head = await reader.readexactly(_HEADER.size)
        return pickle.loads(await reader.readexactly(_HEADER.unpack(head)[0]))  # nosec B301 # reads only what its own committer process wrote to it
    except asyncio.IncompleteReadError:
        return None


def _run_hooks(batch: Batch, fut: asyncio.Future[None]) -> None:
    failed = fut.cancelled() or fut.exception() is not None
    for hook in batch.after_failure if failed else batch.after_commit:
        hook()


def _as_error(kind: str, msg: str) -> Exception:
    if kind == "insufficient":
        return InsufficientBalance(msg)
    if kind == "conflict":
        return Conflict(msg)
    return StoreError(msg)
