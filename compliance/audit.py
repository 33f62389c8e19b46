"""The audit log: append-only and hash-chained, in the ledger's database.

Each entry carries the SHA-256 of the entry before it (``prev_hash``; the first carries 64 zeros) and its
own ``hash``: SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of its sequence number, time,
actor, source IP, action, target, details and ``prev_hash``. Editing an entry breaks its own hash; deleting
one leaves a gap in the sequence; moving one breaks the hash (the sequence number is inside it) and the link
of the entry after it. :meth:`AuditLog.verify` walks the chain and names every entry that is wrong.

Appends are serialised by the database: ``seq`` is the primary key, so two writers that read the same last
entry cannot both append after it; the loser reads the new last entry and tries again. That holds across
processes on SQLite and PostgreSQL alike. A head row (the last seq and hash) is written in the same
transaction, so entries cut off the end of the chain are noticed too.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, OperationalError

from compliance.operator_models import audit_head, audit_log, open_engine

log = structlog.get_logger(__name__)
GENESIS = "0" * 64
_RETRIES = 50


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash covers: every field but ``hash``, as sorted, compact JSON."""
    body = {str(k): v for k, v in entry.items() if k != "hash"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def _details_text(details: Mapping[str, Any] | None) -> str:
    # str() every leaf we do not know (Decimal, ints as they are): one canonical text per meaning
    return orjson.dumps(dict(details or {}), option=orjson.OPT_SORT_KEYS, default=str).decode()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    ts: int
    actor: str
    ip: str
    action: str
    target: str
    details: str  # canonical JSON text
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}

    def fields(self) -> dict[str, Any]:
        """What the hash covers (the details as the stored text)."""
        d = self.as_dict()
        d.pop("hash")
        return d


@dataclass(frozen=True, slots=True)
class Problem:
    """One wrong entry: its sequence number and what is wrong with it."""

    seq: int
    what: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.what}"


class AuditLog:
    """Append and verify the chain. ``record`` is synchronous (a short transaction); ``arecord`` runs it off
    the event loop."""

    def __init__(self, engine: Engine, *, clock_ms: Any = None) -> None:
        self.engine = engine
        self._clock = clock_ms or (lambda: time.time_ns() // 1_000_000)

    @classmethod
    def open(cls, url: str, schema: str | None = None) -> AuditLog:
        return cls(open_engine(url, schema))

    def record(
        self, actor: str, ip: str, action: str, target: str = "", details: Mapping[str, Any] | None = None
    ) -> AuditEntry:
        """Append one entry after the current last one and return it (committed)."""
        text = _details_text(details)
        for attempt in range(_RETRIES):
            try:
                with self.engine.begin() as conn:
                    last = conn.execute(
                        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
                    ).first()
                    seq, prev = (last[0] + 1, last[1]) if last is not None else (1, GENESIS)
                    fields: dict[str, Any] = {
                        "seq": seq,
                        "ts": int(self._clock()),
                        "actor": actor,
                        "ip": ip or "",
                        "action": action,
                        "target": target,
                        "details": text,
                        "prev_hash": prev,
                    }
                    entry = AuditEntry(**fields, hash=entry_hash(fields))
                    conn.execute(audit_log.insert().values(**entry.as_dict()))
                    if seq == 1:
                        conn.execute(audit_head.insert().values(id=1, seq=seq, hash=entry.hash))
                    else:
                        conn.execute(audit_head.update().where(audit_head.c.id == 1).values(seq=seq, hash=entry.hash))
                log.info("audit", seq=seq, actor=actor, ip=ip, action=action, target=target)
                return entry
            except (IntegrityError, OperationalError) as exc:
                # another writer took this seq (or, on SQLite, held the lock too long): read the new head, retry
                if attempt == _RETRIES - 1:
                    raise
                log.debug("audit_append_retry", attempt=attempt, error=type(exc).__name__)
        raise AssertionError("unreachable")

    async def arecord(
        self, actor: str, ip: str, action: str, target: str = "", details: Mapping[str, Any] | None = None
    ) -> AuditEntry:
        return await asyncio.to_thread(self.record, actor, ip, action, target, details)

    def entries(
        self,
        *,
        since_ms: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries in sequence order, optionally from a time on, of one actor, of one action."""
        q = select(audit_log)
        if since_ms is not None:
            q = q.where(audit_log.c.ts >= since_ms)
        if actor is not None:
            q = q.where(audit_log.c.actor == actor)
        if action is not None:
            q = q.where(audit_log.c.action == action)
        q = q.order_by(audit_log.c.seq)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [AuditEntry(**r._mapping) for r in conn.execute(q)]

    def _all(self) -> Iterator[AuditEntry]:
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=2000).execute(select(audit_log).order_by(audit_log.c.seq))
            for r in result:
                yield AuditEntry(**r._mapping)

    def verify(self) -> tuple[int, list[Problem]]:
        """Walk the whole chain: (entries checked, problems). No problems means nothing was edited, removed or
        moved, including entries cut off the end (the head row records the last one)."""
        problems: list[Problem] = []
        count = 0
        expected_seq, prev = 1, GENESIS
        for e in self._all():
            count += 1
            if e.seq != expected_seq:
                if e.seq > expected_seq:
                    missing = f"{expected_seq}" if e.seq == expected_seq + 1 else f"{expected_seq}..{e.seq - 1}"
                    problems.append(Problem(e.seq, f"entries {missing} before it are missing (deleted)"))
                else:  # cannot happen with seq as primary key, but a restored dump could do it
                    problems.append(Problem(e.seq, "out of sequence"))
            if entry_hash(e.fields()) != e.hash:
                problems.append(
                    Problem(e.seq, "its contents do not match its hash (edited, or moved from another position)")
                )
            if e.prev_hash != prev:
                problems.append(
                    Problem(
                        e.seq,
                        "it does not follow the entry before it (reordered, or a neighbour was edited or deleted)",
                    )
                )
            expected_seq, prev = e.seq + 1, e.hash
        with self.engine.connect() as conn:
            head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
        last = expected_seq - 1
        if head is not None and head[0] != last:
            what = (
                f"entries {last + 1}..{head[0]} at the end are missing (deleted)"
                if head[0] > last
                else f"the recorded head is entry {head[0]}, the log goes on to {last}"
            )
            problems.append(Problem(head[0], what))
        elif head is not None and head[1] != prev:
            problems.append(Problem(last, "the last entry's hash is not the one recorded with it (edited)"))
        elif head is None and count:
            problems.append(Problem(1, "the log has entries but no recorded head"))
        return count, problems

    def close(self) -> None:
        self.engine.dispose()
