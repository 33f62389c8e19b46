"""The writer's transactions, through the database driver itself (sqlite3 or psycopg), and the writer process.

``Committer.commit(groups)`` merges every caller's operations of one batch and commits them as one
transaction: transfers stored as their postings (ids from the sequences, in the same transaction) and
added to the balance rows (read, add, check the floor, write; rows locked on PostgreSQL), then inserts,
updates and upserts. It returns the new balance rows and the deltas applied.

``wallets.db.Store`` runs it in a child process (``serve``, the ``__main__`` of this file) so that the
commits' CPU work never competes with the event loop for one interpreter lock; ``Store.write_sync`` runs it
in the caller. This module imports nothing of Braid's (the child starts in a fraction of the package's
import time); operations arrive as plain tuples, every decimal as its exact text (``str`` of a Decimal: pickling
text costs a fraction of pickling Decimals):

    ("t", kind, ref, ts, asset, legs)   a transfer; legs: (account, bucket, amount, floor) summing to zero;
                                        ``floor``: refuse if that balance bucket would go below zero
    ("i", table, row)              insert ``row`` (a dict by column)
    ("u", table, row)              insert, or replace the non-key columns if the primary key exists
    ("x", table, key, values)      set ``values`` on the row whose primary key is ``key``
"""

from __future__ import annotations

import os
import pickle  # nosec B403 # pickle only between this process and its own committer
import socket
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, InvalidOperation, localcontext
from operator import itemgetter
from typing import Any

Op = tuple[Any, ...]
BalanceKey = tuple[int, str]
BalanceValues = dict[BalanceKey, tuple[Decimal, Decimal]]
Result = tuple[BalanceValues, BalanceValues] | None
ZERO = Decimal(0)
# The writer's sums are exact or refused: the default context keeps 28 digits, and a balance of 10^10 with 18
# decimals already needs 29 (NUMERIC(38,18) holds 38).
_EXACT = Context(prec=60, traps=[InvalidOperation, Inexact])
# multi-row statements come in these sizes only, so the driver's statement cache holds a handful of shapes
_CHUNKS = (256, 64, 16, 4, 1)
_SQLITE_MAX_PARAMS = 32766
_HEADER = struct.Struct("!I")
# balance deltas, postings (flat), transfers, inserts, updates, upserts: one batch, merged
_Merged = tuple[
    dict[BalanceKey, list[Any]],
    list[Any],
    int,
    dict[str, list[dict[str, Any]]],
    dict[tuple[str, tuple[Any, ...]], dict[str, Any]],
    dict[str, dict[Any, dict[str, Any]]],
]
# the column orders the writer builds its rows in (checked against the tables it is given)
_POSTING_COLUMNS = ("posting_id", "transfer_id", "ts", "account_id", "asset", "bucket", "kind", "amount", "ref")
_BALANCE_COLUMNS = ("account_id", "asset", "free", "locked")
_POSTING_WIDTH = len(_POSTING_COLUMNS)


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    columns: tuple[str, ...]
    pk: tuple[str, ...]
    money: tuple[int, ...]  # positions of exact-decimal columns (text on SQLite)


class Refused(Exception):
    """A write the committer refused; ``kind`` is "insufficient", "conflict" or "error"."""

    def __init__(self, kind: str, msg: str) -> None:
        super().__init__(msg)
        self.kind = kind
        self.msg = msg


def canon(value: Decimal) -> Decimal:
    """The shortest plain form of a decimal (``1.500`` -> ``1.5``, ``0E-18`` -> ``0``)."""
    if not value:
        return ZERO
    n = value.normalize()
    return n.quantize(Decimal(1)) if n.as_tuple().exponent > 0 else n  # type: ignore[operator]


def _chunk(left: int, limit: int) -> int:
    """The size of the next multi-row statement for ``left`` rows (at most ``limit``)."""
    return next(c for c in _CHUNKS if c <= left and c <= limit)


def _chunks(rows: Sequence[Any], limit: int) -> Iterable[Sequence[Any]]:
    i, n = 0, len(rows)
    while i < n:
        size = _chunk(n - i, limit)
        yield rows[i : i + size]
        i += size


def _text(value: Any) -> Any:
    """A money value (Decimal or its text) as SQLite stores it: exact plain decimal text (None stays NULL)."""
    return None if value is None else format(value if type(value) is Decimal else Decimal(value), "f")


def _texts(values: list[Any]) -> list[Any]:
    """``_text`` of a column of values at a fraction of the cost: str() of a Decimal (or of its text) is the
    same text as format(v, "f") unless it has an exponent (tiny fees: 5E-7), and map/join run in C."""
    out = list(map(str, values))
    joined = "".join(out)
    if "E" in joined or "e" in joined or "N" in joined:  # an exponent, None or NaN: those one by one
        return [_text(v) if "E" in s or "e" in s or "N" in s else s for s, v in zip(out, values, strict=True)]
    return out


def _decimal(value: Any) -> Any:
    """A money value for PostgreSQL: a Decimal (from its text); None stays NULL."""
    return None if value is None else Decimal(value)


def _decimals(values: list[Any]) -> list[Any]:
    return [_decimal(v) for v in values]


def _getter(columns: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    get = itemgetter(*columns)
    return get if len(columns) > 1 else lambda row: (get(row),)


CONNECT_TIMEOUT_S = 3  # seconds the writer waits for PostgreSQL to take a (re)connection


class Committer:
    """One connection and the SQL of the writer's transactions."""

    def __init__(
        self,
        dialect: str,
        target: str,
        specs: dict[str, TableSpec],
        *,
        schema: str | None = None,
        synchronous: str = "FULL",
    ) -> None:
        for name, columns in (("braid_postings", _POSTING_COLUMNS), ("braid_balances", _BALANCE_COLUMNS)):
            if name in specs and specs[name].columns != columns:
                raise ValueError(f"{name} has columns {specs[name].columns}, the writer expects {columns}")
        self.dialect = dialect
        self.specs = specs
        self.schema = schema
        self.pg = dialect == "postgresql"
        self.target = target
        if self.pg:
            import psycopg

            self.conn: Any = self._connect_pg()
            self._errors: tuple[type[BaseException], ...] = (psycopg.errors.UniqueViolation,)
        else:
            import sqlite3

            self.conn = sqlite3.connect(
                target, isolation_level=None, check_same_thread=False, timeout=30, cached_statements=256
            )
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={synchronous}")
            self.conn.execute("PRAGMA busy_timeout=30000")
            self._errors = (sqlite3.IntegrityError,)
        self._sql: dict[Any, str] = {}
        # a dict row's values in column order, and its primary key (last upsert of a key wins)
        self._values = {name: _getter(spec.columns) for name, spec in specs.items()}
        self._key = {name: itemgetter(*spec.pk) for name, spec in specs.items()}

    def close(self) -> None:
        self.conn.close()

    def _connect_pg(self) -> Any:
        import psycopg

        # bounded: a server in the middle of stopping may take the connection and never answer
        conn = psycopg.connect(self.target, autocommit=False, connect_timeout=CONNECT_TIMEOUT_S)
        if self.schema:
            with conn.cursor() as cur:
                cur.execute(f'SET search_path TO "{self.schema}"')
            conn.commit()
        return conn

    def _usable(self) -> None:
        """Reconnect if the server dropped the connection (PostgreSQL restarted): the writer resumes by itself
        once the database is back; until then every write is refused and nothing is committed."""
        if not self.pg or not self.conn.closed:
            return
        try:
            self.conn = self._connect_pg()
        except Exception as exc:  # noqa: BLE001 - the database is still away: refuse this write, try again next time
            raise Refused("error", f"write was not committed: database unavailable: {exc!r}") from None

    # -- the transaction -----------------------------------------------------------------------------

    def commit(self, groups: Sequence[Sequence[Op]]) -> Result:
        """Commit every group's operations as one transaction; ``Refused`` if it was rolled back."""
        with localcontext(_EXACT):
            try:
                batch = self._merge(groups)
            except ArithmeticError as exc:
                raise Refused("error", f"write was not committed: {exc!r}") from None
            if batch is None:
                return None
            deltas, postings, transfers, inserts, updates, upserts = batch
            self._usable()
            try:
                cur = self.conn.cursor()
                cur.execute("BEGIN" if self.pg else "BEGIN IMMEDIATE")
                values = self._apply_deltas(cur, deltas) if deltas else {}
                if transfers:
                    self._postings(cur, postings, transfers)
                for name, rows in inserts.items():
                    self._insert(cur, self.specs[name], self._flat(name, rows))
                for (name, key), changes in updates.items():
                    self._update(cur, self.specs[name], key, changes)
                for name, by_key in upserts.items():
                    self._insert(cur, self.specs[name], self._flat(name, by_key.values()), upsert=True)
                cur.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, Refused):
                    raise
                if isinstance(exc, self._errors):
                    raise Refused("conflict", f"write was not committed: {exc}") from None
                if isinstance(exc, Exception):
                    raise Refused("error", f"write was not committed: {exc!r}") from None
                raise
        return values, {k: (d[0], d[1]) for k, d in deltas.items()}

    def _merge(self, groups: Sequence[Sequence[Op]]) -> _Merged | None:
        """Every caller's operations as one batch: balance deltas summed per row, postings as flat rows, inserts
        and upserts per table (the last upsert of a key wins), updates per row."""
        deltas: dict[BalanceKey, list[Any]] = {}
        # braid_postings' rows, flat in its column order, built while the legs are summed; the two id columns
        # hold 0 and the transfer's index in this batch until the ids are taken inside the transaction
        postings: list[Any] = []
        transfers = 0
        inserts: dict[str, list[dict[str, Any]]] = {}
        updates: dict[tuple[str, tuple[Any, ...]], dict[str, Any]] = {}
        upserts: dict[str, dict[Any, dict[str, Any]]] = {}
        for ops in groups:
            for op in ops:
                kind = op[0]
                if kind == "t":
                    _, tkind, ref, ts, asset, legs = op
                    total = ZERO
                    for account, bucket, text, floor in legs:
                        amount = Decimal(text)
                        total += amount
                        d = deltas.get((account, asset))
                        if d is None:
                            d = deltas[(account, asset)] = [ZERO, ZERO, floor]
                        d[0 if bucket == "free" else 1] += amount
                        postings += (0, transfers, ts, account, asset, bucket, tkind, amount, ref)
                    if total != 0:
                        raise Refused("error", f"transfer {tkind} {ref} of {asset} does not sum to zero: {total}")
                    transfers += 1
                elif kind == "i":
                    inserts.setdefault(op[1], []).append(op[2])
                elif kind == "u":
                    row = op[2]
                    upserts.setdefault(op[1], {})[self._key[op[1]](row)] = row
                else:
                    updates.setdefault((op[1], op[2]), {}).update(op[3])
        if not inserts and not updates and not upserts and not deltas:
            return None
        return deltas, postings, transfers, inserts, updates, upserts

    def _rollback(self) -> None:
        try:
            if self.pg:
                self.conn.rollback()
            elif self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - the connection is gone; the next commit reports it  # nosec B110 # the connection is already gone; the next commit reports it
            pass

    def _apply_deltas(self, cur: Any, deltas: dict[BalanceKey, list[Any]]) -> BalanceValues:
        keys = sorted(deltas)
        old = self._lock_balances(cur, keys)
        missing = [k for k in keys if k not in old]
        if self.pg and missing:
            # another process may be creating the same row right now: create it empty (or find it), then lock
            # it, so its first value is never overwritten by ours
            cur.execute(
                "INSERT INTO braid_balances (account_id, asset, free, locked) "
                "SELECT a, s, 0, 0 FROM unnest(%s::bigint[], %s::text[]) AS k(a, s) "
                "ON CONFLICT (account_id, asset) DO NOTHING",
                ([k[0] for k in missing], [k[1] for k in missing]),
            )
            old.update(self._lock_balances(cur, missing))
        values: BalanceValues = {}
        flat: list[Any] = []  # braid_balances' rows in its column order
        for key, (df, dl, floor) in deltas.items():
            f0, l0 = old.get(key, (ZERO, ZERO))
            f, lk = f0 + df, l0 + dl
            if floor and (f < 0 or lk < 0):
                raise Refused("insufficient", f"account {key[0]} {key[1]}: free {f0}{df:+} locked {l0}{dl:+}")
            values[key] = (f, lk)
            flat += (key[0], key[1], f, lk)
        self._insert(cur, self.specs["braid_balances"], flat, upsert=True)
        return values

    def _postings(self, cur: Any, flat: list[Any], transfers: int) -> None:
        legs = len(flat) // _POSTING_WIDTH
        first_transfer = self._take_ids(cur, "transfer", transfers)
        first_posting = self._take_ids(cur, "posting", legs)
        flat[0::_POSTING_WIDTH] = range(first_posting, first_posting + legs)
        flat[1::_POSTING_WIDTH] = [first_transfer + t for t in flat[1::_POSTING_WIDTH]]
        self._insert(cur, self.specs["braid_postings"], flat)

    def _take_ids(self, cur: Any, name: str, n: int) -> int:
        """The first of ``n`` ids of a sequence, taken in this transaction (so none is ever lost or reused)."""
        mark = "%s" if self.pg else "?"
        cur.execute(f"UPDATE braid_sequences SET value = value + {mark} WHERE name = {mark} RETURNING value", (n, name))  # nosec B608 # table and column names from the code's specs; values are bound parameters
        found = cur.fetchone()
        if found is None:
            raise Refused("error", f"no sequence {name!r}")
        return int(found[0]) - n + 1

    def _flat(self, name: str, rows: Iterable[dict[str, Any]]) -> list[Any]:
        """Dict rows as one flat list in the table's column order."""
        spec = self.specs[name]
        get = self._values[name]
        flat: list[Any] = []
        for row in rows:
            try:
                flat += get(row)
            except KeyError:  # a column left out: NULL
                flat += [row.get(c) for c in spec.columns]
        return flat

    def _lock_balances(self, cur: Any, keys: list[BalanceKey]) -> BalanceValues:
        # SQLite: the transaction already holds the database's write lock (BEGIN IMMEDIATE).
        # PostgreSQL: row locks, taken in key order so two writers cannot deadlock on them.
        out: BalanceValues = {}
        if self.pg:
            cur.execute(
                "SELECT b.account_id, b.asset, b.free, b.locked FROM braid_balances b "
                "JOIN unnest(%s::bigint[], %s::text[]) AS k(a, s) ON b.account_id = k.a AND b.asset = k.s "
                "ORDER BY b.account_id, b.asset FOR UPDATE OF b",
                ([k[0] for k in keys], [k[1] for k in keys]),
            )
        else:
            for part in _chunks(keys, _SQLITE_MAX_PARAMS // 2):
                sql = self._sql.get(("sel", len(part)))
                if sql is None:
                    sql = self._sql[("sel", len(part))] = (
                        "SELECT account_id, asset, free, locked FROM braid_balances WHERE (account_id, asset) IN "  # nosec B608 # table and column names from the code's specs; values are bound parameters
                        f"(VALUES {', '.join(['(?, ?)'] * len(part))})"
                    )
                cur.execute(sql, [x for k in part for x in k])
                for a, s, f, lk in cur.fetchall():
                    out[(int(a), s)] = (Decimal(f), Decimal(lk))  # exact as stored (canon() would cost 3x)
            return out
        for a, s, f, lk in cur.fetchall():
            out[(int(a), s)] = (canon(f), canon(lk))
        return out

    def read_balances(self, keys: list[BalanceKey]) -> BalanceValues:
        """Balance rows as committed (on the writer's connection: ordered with its commits)."""
        self._usable()
        cur = self.conn.cursor()
        try:
            if not self.pg:
                cur.execute("BEGIN")
            return self._lock_balances(cur, sorted(keys)) if keys else {}
        finally:
            self._rollback()

    def _insert(self, cur: Any, spec: TableSpec, flat: list[Any], *, upsert: bool = False) -> None:
        """``flat``: the rows' values one after the other, each row in the table's column order."""
        n = len(spec.columns)
        if self.pg:
            for i in spec.money:
                flat[i::n] = _decimals(flat[i::n])
            rows = [flat[i : i + n] for i in range(0, len(flat), n)]
            if not upsert and len(rows) > 8:
                # COPY: one round trip for the whole batch
                with cur.copy(f"COPY {spec.name} ({', '.join(spec.columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                return
            cur.executemany(self._statement(spec, 1, upsert), rows)
            return
        for i in spec.money:  # exact text, a column at a time (SQLite's NUMERIC affinity would make floats)
            flat[i::n] = _texts(flat[i::n])
        start, count = 0, len(flat) // n
        while start < count:
            k = _chunk(count - start, _SQLITE_MAX_PARAMS // n)
            cur.execute(self._statement(spec, k, upsert), flat[start * n : (start + k) * n])
            start += k

    def _statement(self, spec: TableSpec, rows: int, upsert: bool) -> str:
        key = (spec.name, rows, upsert)
        sql = self._sql.get(key)
        if sql is None:
            mark = "%s" if self.pg else "?"
            one = f"({', '.join([mark] * len(spec.columns))})"
            sql = f"INSERT INTO {spec.name} ({', '.join(spec.columns)}) VALUES {', '.join([one] * rows)}"  # nosec B608 # table and column names from the code's specs; values are bound parameters
            if upsert:
                rest = [c for c in spec.columns if c not in spec.pk]
                sql += f" ON CONFLICT ({', '.join(spec.pk)}) DO UPDATE SET " + ", ".join(  # nosec B608 # table and column names from the code's specs; values are bound parameters
                    f"{c} = excluded.{c}" for c in rest
                )
            self._sql[key] = sql
        return sql

    def _update(self, cur: Any, spec: TableSpec, key: tuple[Any, ...], changes: dict[str, Any]) -> None:
        mark = "%s" if self.pg else "?"
        cols = list(changes)
        sql = (
            f"UPDATE {spec.name} SET {', '.join(f'{c} = {mark}' for c in cols)} "  # nosec B608 # table and column names from the code's specs; values are bound parameters
            f"WHERE {' AND '.join(f'{c} = {mark}' for c in spec.pk)}"
        )
        values = [changes[c] for c in cols]
        money = {spec.columns[i] for i in spec.money}
        as_money = _decimal if self.pg else _text
        values = [as_money(v) if c in money else v for c, v in zip(cols, values, strict=True)]
        cur.execute(sql, [*values, *key])


# ----------------------------------------------------------------------------------------------- the process
def send(sock: socket.socket, message: Any) -> None:
    data = pickle.dumps(message, protocol=5)
    sock.sendall(_HEADER.pack(len(data)) + data)


def receive(sock: socket.socket) -> Any:
    head = _exactly(sock, _HEADER.size)
    if head is None:
        return None
    data = _exactly(sock, _HEADER.unpack(head)[0])
    return None if data is None else pickle.loads(data)  # nosec B301 # reads only what its own committer process wrote to it


def _exactly(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def handle(committer: Committer, message: tuple[Any, ...]) -> Any:
    """One request: ("commit", groups) -> ("batch", result) or ("items", [(kind, msg, result)]) when the batch
    failed and each caller was committed alone; ("balances", keys) -> values."""
    if message[0] == "balances":
        return committer.read_balances(message[1])
    groups = message[1]
    try:
        return ("batch", committer.commit(groups))
    except Refused as exc:
        if len(groups) == 1:
            return ("items", [(exc.kind, exc.msg, None)])
    outcomes: list[tuple[str | None, str | None, Any]] = []
    for ops in groups:  # isolate the culprit: each caller in its own transaction
        try:
            outcomes.append((None, None, committer.commit([ops])))
        except Refused as one:
            outcomes.append((one.kind, one.msg, None))
    return ("items", outcomes)


def serve(fd: int) -> None:
    """The writer process: requests in, answers out, in order, until told to stop or the parent goes away."""
    sock = socket.socket(fileno=fd)
    hello = receive(sock)
    if hello is None:
        return
    try:
        committer = Committer(
            hello["dialect"], hello["target"], hello["specs"], schema=hello["schema"], synchronous=hello["synchronous"]
        )
    except Exception as exc:  # noqa: BLE001 - told to the parent, which refuses to start
        send(sock, ("failed", repr(exc)))
        return
    send(sock, ("ready", os.getpid()))
    try:
        while True:
            message = receive(sock)
            if message is None or message[0] == "stop":
                break
            try:
                answer: Any = ("ok", handle(committer, message))
            except Exception as exc:  # noqa: BLE001 - an answer for every request, always
                answer = ("failed", repr(exc))
            send(sock, answer)
    finally:
        committer.close()
        sock.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
