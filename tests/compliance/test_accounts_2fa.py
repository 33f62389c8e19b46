"""`braid accounts` with the back office: enrolling an account in TOTP, key creation then needing a fresh code,
and key creation and markup changes in the audit log; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import time
from pathlib import Path

import orjson

from compliance import BackOffice
from compliance.totp import code_at
from gateway.cli import build_parser
from tests.compliance.conftest import settings_for
from tests.wallets.conftest import Db


def test_two_factor_on_key_creation_and_audit(db: Db, tmp_path: Path) -> None:
    s = settings_for(db, tmp_path)

    def run(*argv: str) -> tuple[int, list[dict]]:
        args = build_parser().parse_args(["accounts", *argv])
        out = io.StringIO()
        code = args.run(args, s, out)
        return code, [orjson.loads(x) for x in out.getvalue().splitlines()]

    _, [t] = run("create-tenant", "--name", "acme")
    _, [a] = run("create-account", "--tenant", str(t["tenant"]), "--name", "eve@example.com")
    acct = str(a["account"])
    code, [e] = run("enable-2fa", "--account", acct)
    assert code == 0 and e["status"] == "pending" and e["provisioningUri"].startswith("otpauth://totp/")
    assert run("create-key", "--account", acct)[0] == 0  # pending (not confirmed): no code needed yet
    # the previous step's code (so the fresh code below is newer); a step boundary crossed while the command
    # starts (seconds on a loaded machine) can age it past the window once, never twice in 30 s
    for _ in range(2):
        code, confirmed = run("confirm-2fa", "--account", acct, "--totp", code_at(e["secret"], int(time.time()) - 30))
        if code == 0:
            break
    [c] = confirmed
    assert code == 0 and c["status"] == "active"
    assert run("create-key", "--account", acct)[0] == 2  # no code
    now_code = code_at(e["secret"], int(time.time()))
    assert run("create-key", "--account", acct, "--totp", now_code)[0] == 0
    assert run("create-key", "--account", acct, "--totp", now_code)[0] == 2  # replayed
    assert run("set-markup", "--tenant", str(t["tenant"]), "--rate", "0.0004")[0] == 0
    bo = BackOffice.from_settings(s)
    entries = bo.audit.entries()
    assert [x.action for x in entries] == ["2fa.enrol", "apikey.create", "2fa.confirm", "apikey.create", "markup.set"]
    assert entries[-1].target == f"tenant:{t['tenant']}" and orjson.loads(entries[-1].details) == {
        "from": "0",
        "to": "0.0004",
    }
    assert all(x.actor.startswith("cli:") and x.ip == "local" for x in entries)
    assert bo.audit.verify() == (5, [])
    bo.close()
