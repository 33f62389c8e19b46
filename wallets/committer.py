"""The writer's transactions, through the database driver itself (sqlite3 or psycopg), and the writer process.

``Committer.commit(groups)`` merges every caller's operations of one batch and commits them as one
transaction: transfers stored as their postings (ids from the sequences, in the same transaction) and
added to the balance rows (read, add, check the floor, write; rows locked on PostgreSQL), then inserts,
updates and upserts. It returns the new balance rows and the deltas applied.

``wallets.db.Store`` runs it in a child process (``serve``, the ``__main__`` of this file) so that the
commits' CPU work never competes with the event loop for one interpreter lock; ``Store.write_sync`` runs it
in the caller. This module imports nothing of Braid's (the child starts in a fraction of the package's
import time); operations arrive as plain tuples:

    ("t", kind, ref, ts, asset, legs)   a transfer; legs: (account, bucket, amount, floor) summing to zero;
                                        ``floor``: refuse if that balance bucket would go below zero
    ("i", table, row)              insert ``row`` (a dict by column)
    ("u", table, row)              insert, or replace the non-key columns if the primary key exists
    ("x", table, key, values)      set ``values`` on the row whose primary key is ``key``
"""
from __future__ import annotations

import os
import pickle
import socket
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Op = tuple[Any, ...]
BalanceKey = tuple[int, str]
BalanceValues = dict[BalanceKey, tuple[Decimal, Decimal]]
Result = tuple[BalanceValues, BalanceValues] | None
ZERO = Decimal(0)
# multi-row statements come in these sizes only, so the driver's statement cache holds a handful of shapes
_CHUNKS = (256, 64, 16, 4, 1)
_SQLITE_MAX_PARAMS = 32766
_HEADER = struct.Struct("!I")


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


def _chunks(rows: Sequence[Any], limit: int) -> Iterable[Sequence[Any]]:
    i, n = 0, len(rows)
    while i < n:
        left = n - i
        size = next(c for c in _CHUNKS if c <= left and c <= limit)
        yield rows[i : i + size]
        i += size


class Committer:
    """One connection and the SQL of the writer's transactions."""

    def __init__(self, dialect: str, target: str, specs: dict[str, TableSpec], *, schema: str | None = None,
                 synchronous: str = "FULL") -> None:
        self.dialect = dialect
        self.specs = specs
        self.schema = schema
        self.pg = dialect == "postgresql"
        if self.pg:
            import psycopg

            self.conn: Any = psycopg.connect(target, autocommit=False)
            if schema:
                with self.conn.cursor() as cur:
                    cur.execute(f'SET search_path TO "{schema}"')
                self.conn.commit()
            self._errors: tuple[type[BaseException], ...] = (psycopg.errors.UniqueViolation,)
        else:
            import sqlite3

            self.conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=30,
                                        cached_statements=256)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={synchronous}")
            self.conn.execute("PRAGMA busy_timeout=30000")
            self._errors = (sqlite3.IntegrityError,)
        self._sql: dict[Any, str] = {}

    def close(self) -> None:
        self.conn.close()

    # -- the transaction -----------------------------------------------------------------------------

    def commit(self, groups: Sequence[Sequence[Op]]) -> Result:
        """Commit every group's operations as one transaction; ``Refused`` if it was rolled back."""
        deltas: dict[BalanceKey, list[Any]] = {}
        transfers: list[Op] = []
        legs = 0
        inserts: dict[str, list[dict[str, Any]]] = {}
        updates: dict[tuple[str, tuple[Any, ...]], dict[str, Any]] = {}
        upserts: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
        for ops in groups:
            for op in ops:
                kind = op[0]
                if kind == "t":
                    transfers.append(op)
                    asset = op[4]
                    total = ZERO
                    for account, bucket, amount, floor in op[5]:
                        total += amount
                        legs += 1
                        d = deltas.get((account, asset))
                        if d is None:
                            d = deltas[(account, asset)] = [ZERO, ZERO, floor]
                        d[0 if bucket == "free" else 1] += amount
                    if total != 0:
                        raise Refused("error", f"transfer {op[1]} {op[2]} of {asset} does not sum to zero: {total}")
                elif kind == "i":
                    inserts.setdefault(op[1], []).append(op[2])
                elif kind == "u":
                    row = op[2]
                    upserts.setdefault(op[1], {})[tuple(row[c] for c in self.specs[op[1]].pk)] = row  # last one wins
                else:
                    updates.setdefault((op[1], op[2]), {}).update(op[3])
        if not inserts and not updates and not upserts and not deltas:
            return None
        try:
            cur = self.conn.cursor()
            cur.execute("BEGIN" if self.pg else "BEGIN IMMEDIATE")
            values = self._apply_deltas(cur, deltas) if deltas else {}
            if transfers:
                self._postings(cur, transfers, legs)
            for name, rows in inserts.items():
                self._insert(cur, self.specs[name], [self._row(self.specs[name], r) for r in rows])
            for (name, key), changes in updates.items():
                self._update(cur, self.specs[name], key, changes)
            for name, by_key in upserts.items():
                spec = self.specs[name]
                self._insert(cur, spec, [self._row(spec, r) for r in by_key.values()], upsert=True)
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

    def _rollback(self) -> None:
        try:
            if self.pg:
                self.conn.rollback()
            elif self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - the connection is gone; the next commit reports it
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
        for key, (df, dl, floor) in deltas.items():
            f0, l0 = old.get(key, (ZERO, ZERO))
            f, lk = f0 + df, l0 + dl
            if floor and (f < 0 or lk < 0):
                raise Refused("insufficient", f"account {key[0]} {key[1]}: free {f0}{df:+} locked {l0}{dl:+}")
            values[key] = (f, lk)
        rows = [(k[0], k[1], v[0], v[1]) for k, v in values.items()]  # braid_balances' column order
        self._insert(cur, self.specs["braid_balances"], rows, upsert=True)
        return values

    def _postings(self, cur: Any, transfers: list[Op], legs: int) -> None:
        transfer_id = self._take_ids(cur, "transfer", len(transfers))
        posting_id = self._take_ids(cur, "posting", legs)
        rows = []
        for _, kind, ref, ts, asset, parts in transfers:
            for account, bucket, amount, _ in parts:
                # braid_postings' column order
                rows.append((posting_id, transfer_id, ts, account, asset, bucket, kind, amount, ref))
                posting_id += 1
            transfer_id += 1
        self._insert(cur, self.specs["braid_postings"], rows)

    def _take_ids(self, cur: Any, name: str, n: int) -> int:
        """The first of ``n`` ids of a sequence, taken in this transaction (so none is ever lost or reused)."""
        mark = "%s" if self.pg else "?"
        cur.execute(f"UPDATE braid_sequences SET value = value + {mark} WHERE name = {mark} RETURNING value", (n, name))
        found = cur.fetchone()
        if found is None:
            raise Refused("error", f"no sequence {name!r}")
        return int(found[0]) - n + 1

    @staticmethod
    def _row(spec: TableSpec, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple([row.get(c) for c in spec.columns])

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
                        "SELECT account_id, asset, free, locked FROM braid_balances WHERE (account_id, asset) IN "
                        f"(VALUES {', '.join(['(?, ?)'] * len(part))})")
                cur.execute(sql, [x for k in part for x in k])
                for a, s, f, lk in cur.fetchall():
                    out[(int(a), s)] = (canon(Decimal(f)), canon(Decimal(lk)))
            return out
        for a, s, f, lk in cur.fetchall():
            out[(int(a), s)] = (canon(f), canon(lk))
        return out

    def read_balances(self, keys: list[BalanceKey]) -> BalanceValues:
        """Balance rows as committed (on the writer's connection: ordered with its commits)."""
        cur = self.conn.cursor()
        try:
            if not self.pg:
                cur.execute("BEGIN")
            return self._lock_balances(cur, sorted(keys)) if keys else {}
        finally:
            self._rollback()

    def _insert(self, cur: Any, spec: TableSpec, rows: list[tuple[Any, ...]], *, upsert: bool = False) -> None:
        """``rows`` in the table's column order."""
        cols = spec.columns
        if self.pg:
            params = rows
            if not upsert and len(params) > 8:
                # COPY: one round trip for the whole batch
                with cur.copy(f"COPY {spec.name} ({', '.join(cols)}) FROM STDIN") as copy:
                    for p in params:
                        copy.write_row(p)
                return
            cur.executemany(self._statement(spec, 1, upsert), params)
            return
        money = spec.money
        flat: list[Any] = []
        for row in rows:
            values = list(row)
            for i in money:
                v = values[i]
                if v is not None:
                    values[i] = format(v, "f")  # exact text; read back through Money, which canonicalises
            flat.extend(values)
        n = len(cols)
        start = 0
        for part in _chunks(rows, _SQLITE_MAX_PARAMS // n):
            k = len(part)
            cur.execute(self._statement(spec, k, upsert), flat[start : start + k * n])
            start += k * n

    def _statement(self, spec: TableSpec, rows: int, upsert: bool) -> str:
        key = (spec.name, rows, upsert)
        sql = self._sql.get(key)
        if sql is None:
            mark = "%s" if self.pg else "?"
            one = f"({', '.join([mark] * len(spec.columns))})"
            sql = f"INSERT INTO {spec.name} ({', '.join(spec.columns)}) VALUES {', '.join([one] * rows)}"
            if upsert:
                rest = [c for c in spec.columns if c not in spec.pk]
                sql += (f" ON CONFLICT ({', '.join(spec.pk)}) DO UPDATE SET "
                        + ", ".join(f"{c} = excluded.{c}" for c in rest))
            self._sql[key] = sql
        return sql

    def _update(self, cur: Any, spec: TableSpec, key: tuple[Any, ...], changes: dict[str, Any]) -> None:
        mark = "%s" if self.pg else "?"
        cols = list(changes)
        sql = (f"UPDATE {spec.name} SET {', '.join(f'{c} = {mark}' for c in cols)} "
               f"WHERE {' AND '.join(f'{c} = {mark}' for c in spec.pk)}")
        values = [changes[c] for c in cols]
        if not self.pg:
            money = {spec.columns[i] for i in spec.money}
            values = [format(v, "f") if c in money and v is not None else v for c, v in zip(cols, values)]
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
    return None if data is None else pickle.loads(data)


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
    outcomes = []
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
        committer = Committer(hello["dialect"], hello["target"], hello["specs"], schema=hello["schema"],
                              synchronous=hello["synchronous"])
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
