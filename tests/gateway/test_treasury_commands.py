"""`braid treasury` end to end: the fake Binance on loopback (its own event loop in a thread, as a venue is
another process), a SQLite database, the command line: inventory, plan, approvals, execute, list."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from compliance import BackOffice
from config.settings import Settings
from config.treasury import TreasuryAccount, TreasurySettings, VenueTarget
from connectors.simulators.order_entry import FakeVenue
from gateway import cli
from tests.connectors.trading.venues import VENUES

D = Decimal
HOT = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
ROW = VENUES["binance"]


def braid(settings: Settings, *argv: str) -> tuple[int, list[dict[str, Any]]]:
    args = cli.build_parser().parse_args(list(argv))
    out = io.StringIO()
    code = args.run(args, settings, out)
    return code, [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_inventory_plan_approve_execute_from_the_command_line(fake: FakeVenue, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=str(tmp_path),
        treasury=TreasurySettings(
            accounts={"binance": TreasuryAccount(api_key=ROW.key, secret=ROW.secret, rest_url=fake.url)},  # type: ignore[arg-type]
            targets=[VenueTarget(venue="binance", asset="BTC", min=D("0.5"), target=D("0.75"), max=D("1.5"))],
            hot_addresses={"BTC": HOT},
            required_approvals=2,
        ),
    )

    bo = BackOffice.from_settings(settings)
    try:
        for name, role in (
            ("carol", "treasury_approver"),
            ("alice", "treasury_approver"),
            ("bob", "admin"),
            ("sam", "support"),
        ):
            bo.operators.create(name, "a long enough password", role, actor="setup", ip="127.0.0.1")
    finally:
        bo.close()

    code, rows = braid(settings, "treasury", "inventory")
    assert code == 0
    assert {"place": "binance", "kind": "venue", "asset": "BTC", "free": "2", "locked": "0"} in rows
    assert {"asset": "USDT", "total": "100000"} in rows

    assert braid(settings, "treasury", "plan", "--actor", "mallory")[0] == 2  # not an operator
    code, [proposal] = braid(settings, "treasury", "plan", "--actor", "carol")
    assert code == 0 and (proposal["kind"], proposal["amount"], proposal["address"]) == ("venue_to_hot", "1.25", HOT)
    tid = str(proposal["id"])
    assert braid(settings, "treasury", "approve", tid, "--actor", "carol")[0] == 2  # the proposer is refused
    assert braid(settings, "treasury", "execute", tid)[0] == 2  # not approved yet: nothing sent
    assert braid(settings, "treasury", "approve", tid, "--actor", "sam")[0] == 2  # support may not approve
    assert braid(settings, "treasury", "approve", tid, "--actor", "alice")[1][0]["state"] == "proposed"
    assert braid(settings, "treasury", "approve", tid, "--actor", "bob")[1][0]["state"] == "approved"

    code, [sent] = braid(settings, "treasury", "execute", tid)
    assert code == 0 and sent["state"] == "sent" and sent["approvers"] == ["alice", "bob"]
    assert fake.engine.free["BTC"] == D("0.75") and len(fake.wallet.withdrawals) == 1
    assert braid(settings, "treasury", "reconcile")[1][0]["state"] == "completed"
    assert [r["state"] for r in braid(settings, "treasury", "list")[1]] == ["completed"]
    bo = BackOffice.from_settings(settings)
    try:
        actions = [(e.actor, e.action) for e in bo.audit.entries() if e.action.startswith("treasury.")]
    finally:
        bo.close()
    assert actions == [("carol", "treasury.propose"), ("alice", "treasury.approve"), ("bob", "treasury.approve")]
