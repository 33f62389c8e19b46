"""`braid wallet withdrawals ...` and `braid wallet reserves` on a SQLite database, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path

import pytest

from compliance import AuditLog, BackOffice
from compliance.operator_models import open_engine
from config.custody import CustodyFlowSettings
from config.logging import configure_logging
from config.settings import Settings
from gateway.cli import build_parser
from wallets import Wallets
from wallets.custody.withdrawals import Withdrawals

DEST = "0x" + "ab" * 20


def _cli(argv: list[str], settings: Settings) -> int:
    configure_logging(settings)  # as `braid` does: logs to stderr, answers on stdout
    args = build_parser().parse_args(argv)
    return int(args.run(args, settings))


def _seed(settings: Settings) -> tuple[int, str]:
    async def go() -> tuple[int, str]:
        w = Wallets.from_settings(settings)
        await w.start()
        try:
            t = await w.accounts.create_tenant("t")
            a = (await w.accounts.create_account(t.tenant_id, "a@x")).account_id
            await w.ledger.credit(a, "ETH", Decimal(10), "seed")
            wd = Withdrawals(w.store, w.ledger, settings.custody.flow)
            await wd.whitelist(a, "ETH", DEST)
            req = await wd.request(a, "ETH", "ETH", DEST, Decimal(1))
            return a, req.id
        finally:
            await w.close()

    return asyncio.run(go())


def test_withdrawal_commands_and_reserves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(
        data_dir=str(tmp_path),
        database_url=f"sqlite:///{tmp_path}/b.db",
        custody={"flow": CustodyFlowSettings(whitelist_cooloff_s=0)},
    )  # type: ignore[arg-type]
    account, wid = _seed(settings)
    bo = BackOffice.from_settings(settings)
    try:
        for name, role in (("alice", "treasury_approver"), ("bob", "admin")):
            bo.operators.create(name, "correct horse battery", role, actor="test", ip="local")
    finally:
        bo.close()
    capsys.readouterr()
    assert _cli(["wallet", "withdrawals", "list", "--status", "pending_approval"], settings) == 0
    [row] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert row["id"] == wid and row["amount"] == "1" and row["approvals"] == []
    assert _cli(["wallet", "withdrawals", "approve", wid, "--operator", f"account:{account}"], settings) == 2
    assert "may not approve" in capsys.readouterr().err  # the requester never approves
    assert _cli(["wallet", "withdrawals", "approve", wid, "--operator", "alice"], settings) == 0
    assert _cli(["wallet", "withdrawals", "approve", wid, "--operator", "bob"], settings) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["status"] == "approved"
    assert _cli(["wallet", "withdrawals", "freeze", "eth", "--operator", "alice", "--reason", "drill"], settings) == 0
    assert json.loads(capsys.readouterr().out) == {"frozen": {"ETH": "drill"}}
    assert _cli(["wallet", "withdrawals", "unfreeze", "ETH", "--operator", "alice"], settings) == 0
    assert json.loads(capsys.readouterr().out) == {"unfrozen": True, "frozen": {}}
    audit = AuditLog(open_engine(settings.database_url))
    try:
        done = [(e.actor, e.action) for e in audit.entries() if e.action.startswith("withdrawal.")]
        assert done == [
            ("alice", "withdrawal.approve"),
            ("bob", "withdrawal.approve"),
            ("alice", "withdrawal.freeze"),
            ("alice", "withdrawal.unfreeze"),
        ]
        assert audit.verify() == (len(audit.entries()), [])
    finally:
        audit.close()

    # reserves: 10 ETH owed (9 free + ~1 locked); enough on chain passes, too little fails loudly
    enough = tmp_path / "enough.json"
    enough.write_text(json.dumps({"ETH": {"deposit": "4", "hot": "1", "cold": "5"}}))
    assert _cli(["wallet", "reserves", "--balances", str(enough)], settings) == 0
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line == {
        "asset": "ETH",
        "liabilities": "10",
        "assets": "10",
        "deposit": "4",
        "hot": "1",
        "cold": "5",
        "short": False,
    }
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"ETH": {"deposit": "4", "hot": "1", "cold": "4.9"}}))
    assert _cli(["wallet", "reserves", "--balances", str(short)], settings) == 1
    assert "RESERVES SHORT" in capsys.readouterr().err


def test_whitelist_change_needs_the_accounts_code_when_2fa_is_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from compliance.totp import account_subject, code_at

    settings = Settings(
        data_dir=str(tmp_path),
        database_url=f"sqlite:///{tmp_path}/b.db",
        custody={"flow": CustodyFlowSettings(whitelist_cooloff_s=0)},
    )  # type: ignore[arg-type]
    account, _ = _seed(settings)
    bo = BackOffice.from_settings(settings)
    try:
        enrolment = bo.factors.enrol(account_subject(account), "client")
        bo.factors.verify(account_subject(account), code_at(enrolment.secret, int(time.time()) - 30))
    finally:
        bo.close()
    capsys.readouterr()
    add = ["wallet", "whitelist", "--account", str(account), "--network", "ETH", "0x" + "cd" * 20]
    assert _cli(add, settings) == 2
    assert "a code is required" in capsys.readouterr().err
    assert _cli([*add, "--totp", "000000"], settings) == 2
    assert _cli([*add, "--totp", code_at(enrolment.secret, int(time.time()))], settings) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["address"] == "0x" + "cd" * 20
    audit = AuditLog(open_engine(settings.database_url))
    try:
        actions = [e.action for e in audit.entries() if e.action.startswith("whitelist.")]
    finally:
        audit.engine.dispose()
    assert actions == ["whitelist.refused_2fa", "whitelist.refused_2fa", "whitelist.add"]
