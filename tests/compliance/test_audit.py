"""The audit log's hash chain: untouched it verifies; editing, deleting or swapping one stored row (or cutting
the last one off) makes `braid audit verify` fail and name the entry; concurrent writers never fork it."""

from __future__ import annotations

import io
import itertools
import threading
from pathlib import Path

import orjson
import pytest
from sqlalchemy import delete, select, update

from compliance import AuditLog
from compliance.audit import GENESIS, entry_hash
from compliance.operator_models import audit_log, open_engine
from gateway.cli import build_parser
from tests.compliance.conftest import settings_for
from tests.wallets.conftest import Db


def _log(db: Db) -> AuditLog:
    return AuditLog(open_engine(db.url, db.schema))


def _fill(log: AuditLog, n: int = 5) -> None:
    for i in range(n):
        log.record(f"op{i % 2}", "10.0.0.1", "apikey.create", f"account:{i}", {"apiKey": f"k{i}", "n": i})


def _verify_cli(db: Db, tmp_path: Path) -> tuple[int, list[dict]]:
    args = build_parser().parse_args(["audit", "verify"])
    out = io.StringIO()
    code = args.run(args, settings_for(db, tmp_path), out)
    return code, [orjson.loads(x) for x in out.getvalue().splitlines()]


def test_chain_links_and_untouched_log_verifies(db: Db, tmp_path: Path) -> None:
    log = _log(db)
    _fill(log)
    entries = log.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert all(entry_hash(e.fields()) == e.hash for e in entries)
    assert orjson.loads(entries[2].details) == {"apiKey": "k2", "n": 2}
    code, lines = _verify_cli(db, tmp_path)
    assert code == 0 and lines == [{"ok": True, "entries": 5, "problems": 0}]
    assert [e.seq for e in log.entries(actor="op1")] == [2, 4]
    log.close()


def test_edited_entry_is_named(db: Db, tmp_path: Path) -> None:
    log = _log(db)
    _fill(log)
    with log.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(actor="someone-else"))
    code, lines = _verify_cli(db, tmp_path)
    assert code == 1
    assert lines[0]["seq"] == 3 and "do not match its hash" in lines[0]["problem"]
    assert lines[-1]["ok"] is False
    # an edit that also recomputes the entry's own hash breaks the next entry's link instead
    with log.engine.begin() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.seq == 3)).first()
        fields = {k: v for k, v in row._mapping.items() if k != "hash"}  # type: ignore[union-attr]
        conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(hash=entry_hash(fields)))
    _, problems = log.verify()
    assert [(p.seq, "does not follow" in p.what) for p in problems] == [(4, True)]
    log.close()


def test_deleted_entry_is_named(db: Db, tmp_path: Path) -> None:
    log = _log(db)
    _fill(log)
    with log.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == 2))
    code, lines = _verify_cli(db, tmp_path)
    assert code == 1
    assert lines[0]["seq"] == 3 and "entries 2 before it are missing" in lines[0]["problem"]
    # cutting the last entry off is seen too: the head row records where the log ended
    with log.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == 5))
    _, problems = log.verify()
    assert any(p.seq == 5 and "at the end are missing" in p.what for p in problems)
    log.close()


def test_swapped_entries_are_named(db: Db, tmp_path: Path) -> None:
    log = _log(db)
    _fill(log)
    with log.engine.begin() as conn:  # swap the stored rows of entries 2 and 3 (their positions in the chain)
        conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(seq=-2))
        conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(seq=2))
        conn.execute(update(audit_log).where(audit_log.c.seq == -2).values(seq=3))
    code, lines = _verify_cli(db, tmp_path)
    assert code == 1
    named = {line["seq"] for line in lines[:-1]}
    assert {2, 3} <= named
    log.close()


def test_concurrent_writers_do_not_fork_the_chain(db: Db) -> None:
    logs = [_log(db) for _ in range(4)]  # four engines: four independent writers
    errors: list[BaseException] = []

    def write(log: AuditLog, who: int) -> None:
        try:
            for i in range(15):
                log.record(f"w{who}", "127.0.0.1", "test.append", str(i), {})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(log, n)) for n, log in enumerate(logs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    count, problems = logs[0].verify()
    assert count == 60 and problems == []
    assert sorted(e.seq for e in logs[0].entries()) == list(range(1, 61))
    for log in logs:
        log.close()


@pytest.mark.parametrize("since", ["2020-01-01", "1577836800000"])
def test_list_command(db: Db, tmp_path: Path, since: str) -> None:
    log = _log(db)
    _fill(log, 3)
    args = build_parser().parse_args(["audit", "list", "--since", since, "--actor", "op0"])
    out = io.StringIO()
    assert args.run(args, settings_for(db, tmp_path), out) == 0
    lines = [orjson.loads(x) for x in out.getvalue().splitlines()]
    assert [x["seq"] for x in lines] == [1, 3] and lines[0]["details"] == {"apiKey": "k0", "n": 0}
    log.close()
