"""`braid accounts ...` end to end through the real argument parser and settings, on both databases."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import orjson

from config.settings import Settings
from gateway.cli import build_parser
from tests.wallets.conftest import MASTER, Db


def _run(settings: Settings, *argv: str) -> tuple[int, list[dict]]:
    args = build_parser().parse_args(["accounts", *argv])
    out = io.StringIO()
    code = args.run(args, settings, out)
    return code, [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_create_fund_list_and_check(db: Db, tmp_path: Path) -> None:
    s = Settings(
        database_url=db.url,
        database_schema=db.schema,
        data_dir=str(tmp_path),
        master_key=base64.b64encode(MASTER).decode(),
    )
    code, [t] = _run(s, "create-tenant", "--name", "acme", "--markup", "0.0005")
    assert code == 0 and t["markup"] == "0.0005"
    code, [a] = _run(s, "create-account", "--tenant", str(t["tenant"]), "--name", "eve@example.com")
    assert code == 0
    code, [k] = _run(s, "create-key", "--account", str(a["account"]), "--trade", "--ip", "10.0.0.1")
    assert (
        code == 0
        and len(k["apiKey"]) == 64
        and len(k["secretKey"]) == 64
        and k["canTrade"]
        and k["ipList"] == ["10.0.0.1/32"]
    )
    code, [f] = _run(s, "fund", "--account", str(a["account"]), "--asset", "usdt", "--amount", "1000.5")
    assert code == 0 and f == {"account": a["account"], "asset": "USDT", "free": "1000.5", "locked": "0"}
    code, _ = _run(s, "fund", "--account", str(a["account"]), "--asset", "USDT", "--amount", "-1")
    assert code == 2
    code, lines = _run(s, "list")
    assert code == 0
    acc = next(x for x in lines if x.get("account") == a["account"])
    assert acc["keys"] == 1 and acc["balances"] == {"USDT": {"free": "1000.5", "locked": "0"}}
    code, [c] = _run(s, "check")
    assert code == 0 and c["ok"] and c["transfers"] == 1
    code, [m] = _run(s, "set-markup", "--tenant", str(t["tenant"]), "--rate", "0.001")
    assert code == 0 and m["markup"] == "0.001"


def test_master_key_file_made_in_data_dir_when_not_configured(tmp_path: Path) -> None:
    s = Settings(database_url=f"sqlite:///{tmp_path}/b.db", data_dir=str(tmp_path / "data"), master_key=None)
    code, [t] = _run(s, "create-tenant", "--name", "acme")
    code, [a] = _run(s, "create-account", "--tenant", str(t["tenant"]), "--name", "x")
    code, [k] = _run(s, "create-key", "--account", str(a["account"]))
    assert code == 0 and (tmp_path / "data" / "master.key").stat().st_mode & 0o777 == 0o600
