"""`braid compliance backtest`: history replayed through a rules file, output checked line by line."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from sqlalchemy import insert

from config.settings import Settings
from gateway.cli import build_parser
from wallets.db import create_db_engine
from wallets.migrations import upgrade
from wallets.models import trades

EVENTS = [
    # before --since: history only
    {
        "kind": "deposit",
        "account": 1,
        "asset": "USDT",
        "amount": "9500",
        "value": "9500",
        "time": "2026-01-05T08:00:00Z",
        "ref": "d0",
        "chain": "ETH",
        "address": "0x00000000000000000000000000000000000000a1",
    },
    # three deposits just under 10,000 within a day: structuring
    {
        "kind": "deposit",
        "account": 1,
        "asset": "USDT",
        "amount": "9600",
        "value": "9600",
        "time": "2026-01-10T08:00:00Z",
        "ref": "d1",
        "chain": "ETH",
        "address": "0x00000000000000000000000000000000000000a1",
    },
    {
        "kind": "deposit",
        "account": 1,
        "asset": "USDT",
        "amount": "9700",
        "value": "9700",
        "time": "2026-01-10T09:00:00Z",
        "ref": "d2",
        "chain": "ETH",
        "address": "0x00000000000000000000000000000000000000a1",
    },
    {
        "kind": "deposit",
        "account": 1,
        "asset": "USDT",
        "amount": "9800",
        "value": "9800",
        "time": "2026-01-10T10:00:00Z",
        "ref": "d3",
        "chain": "ETH",
        "address": "0x00000000000000000000000000000000000000a1",
    },
    # nearly all of it out again a day later, after one small trade: large and rapid in-and-out
    {
        "kind": "withdrawal",
        "account": 1,
        "asset": "USDT",
        "amount": "28000",
        "value": "28000",
        "time": "2026-01-11T10:00:00Z",
        "ref": "w1",
        "chain": "ETH",
        "address": "0x00000000000000000000000000000000000000b2",
    },
    {
        "kind": "deposit",
        "account": 2,
        "asset": "BTC",
        "amount": "0.001",
        "value": "50",
        "time": 1768219200000,
        "ref": "d4",
        "chain": "BTC",
        "address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "country": "IR",
    },
    # from the address the flagged withdrawal went to
    {
        "kind": "deposit",
        "account": 3,
        "asset": "USDT",
        "amount": "100",
        "value": "100",
        "time": "2026-01-12T12:00:00Z",
        "ref": "d5",
        "chain": "ETH",
        "address": "0x00000000000000000000000000000000000000B2",
    },
]

EXPECTED = """\
backtest of {rules} since 2026-01-10T00:00:00Z: 8 events replayed, 1 before as history; anomaly model not trained
2026-01-10T10:00:00Z  structuring              active hold  account=1 deposit 9800 USDT value=9800 ref=d3  3 amounts in [9000, 10000) within 24h
2026-01-11T10:00:00Z  large-transaction        active alert account=1 withdrawal 28000 USDT value=28000 ref=w1  value 28000 >= 10000
2026-01-11T10:00:00Z  rapid-in-out             active hold  account=1 withdrawal 28000 USDT value=28000 ref=w1  withdrawal 28000 after deposits 29100 within 48h, traded 1000
2026-01-12T12:00:00Z  high-risk-jurisdiction   active hold  account=2 deposit 0.001 BTC value=50 ref=d4  country IR is high-risk
2026-01-12T12:00:00Z  risky-counterparty       active hold  account=3 deposit 100 USDT value=100 ref=d5  counterparty 0x00000000000000000000000000000000000000B2: seen in an alert on w1
2026-01-13T09:00:00Z  large-transaction        active alert account=2 trade 0.2 BTC value=12000 ref=trade:2  value 12000 >= 10000
6 alerts: large-transaction: 2, structuring: 1, rapid-in-out: 1, velocity: 0, high-risk-jurisdiction: 1, risky-counterparty: 1, withdrawal-anomaly: 0
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path}/braid.db"
    upgrade(url)  # the ledger's tables, as a real database has them
    engine = create_db_engine(url)
    row = {
        "order_id": 1,
        "symbol": "BTCUSDT",
        "price": Decimal(60000),
        "commission": Decimal(0),
        "commission_asset": "USDT",
        "markup": Decimal(0),
        "is_maker": False,
        "source": "internal",
    }
    with engine.begin() as conn:
        conn.execute(
            insert(trades),
            [
                {
                    **row,
                    "trade_id": 1,
                    "account_id": 1,
                    "qty": Decimal("0.0166"),
                    "quote_qty": Decimal(1000),
                    "is_buyer": True,
                    "time": 1768046400000,
                    "source_ref": "t1",
                },  # 2026-01-10T12:00Z
                {
                    **row,
                    "trade_id": 2,
                    "account_id": 2,
                    "qty": Decimal("0.2"),
                    "quote_qty": Decimal(12000),
                    "is_buyer": False,
                    "time": 1768294800000,
                    "source_ref": "t2",
                },  # 2026-01-13T09:00Z
                {
                    **row,
                    "trade_id": 3,
                    "account_id": 2,
                    "symbol": "ETHBTC",
                    "qty": Decimal(1),
                    "quote_qty": Decimal("0.05"),
                    "is_buyer": False,
                    "time": 1768294800000,
                    "source_ref": "t3",
                },  # not valued in USD: left out
            ],
        )
    engine.dispose()
    return Settings(database_url=url, data_dir=str(tmp_path))


def test_backtest_prints_what_the_rules_would_have_flagged(settings: Settings, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n")
    rules = Path(__file__).resolve().parents[2] / "compliance" / "rules.default.toml"
    args = build_parser().parse_args(
        ["compliance", "backtest", str(rules), "--since", "2026-01-10", "--events", str(events)]
    )
    out = io.StringIO()
    assert args.run(args, settings, out) == 0
    assert out.getvalue() == EXPECTED.format(rules=rules)


def test_a_bad_event_line_is_named(settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"kind": "deposit"}\n')
    rules = Path(__file__).resolve().parents[2] / "compliance" / "rules.default.toml"
    args = build_parser().parse_args(
        ["compliance", "backtest", str(rules), "--since", "2026-01-10", "--events", str(events), "--no-trades"]
    )
    assert args.run(args, settings, io.StringIO()) == 2
    assert f"{events}:1: not an event" in capsys.readouterr().err
