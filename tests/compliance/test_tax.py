"""Tax report: FIFO, HIFO and average cost on hand-computed multi-lot examples (published ones, with their
source and reasoning), fees included, exact; crypto quotes (ETH/BTC) valued through recorded prices; the
report from the database (SQLite and PostgreSQL) and `braid compliance tax-report`."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import orjson
import pytest

from compliance.tax import COLUMNS, Fill, PriceBook, TaxError, compute
from gateway.cli import build_parser
from tests.compliance.conftest import settings_for
from tests.wallets.conftest import Db
from wallets import models
from wallets.db import Insert

USD = PriceBook({"USD": D(1), "USDT": D(1)})


def ms(y: int, m: int, d: int) -> int:
    return int(datetime(y, m, d, tzinfo=UTC).timestamp() * 1000)


def buy(i: int, t: int, qty: str, cost: str, asset: str = "BTC", quote: str = "USD", **kw: object) -> Fill:
    return Fill(i, t, asset, quote, "BUY", D(qty), D(cost), **kw)  # type: ignore[arg-type]


def sell(i: int, t: int, qty: str, proceeds: str, asset: str = "BTC", quote: str = "USD", **kw: object) -> Fill:
    return Fill(i, t, asset, quote, "SELL", D(qty), D(proceeds), **kw)  # type: ignore[arg-type]


def gains(fills: list[Fill], method: str, year: int, prices: PriceBook = USD) -> list[tuple[str, D, D, D]]:
    r = compute(fills, account_id=1, year=year, method=method, currency="USD", prices=prices)  # type: ignore[arg-type]
    return [(x.asset, x.quantity, x.cost_basis, x.gain) for x in r.rows]


# Crypto version of the specific-identification example (crypsense, a secondary source; arithmetic checked by
# hand): buy 1 BTC for $5,000 on 2023-06-01 and 1 BTC for $7,000 on 2023-08-01, sell 1 BTC for $10,000.
# FIFO sells the $5,000 unit: gain $5,000. HIFO sells the $7,000 unit: gain $3,000 ("minimise net capital gains
# by $2,000"). Average cost: ($5,000 + $7,000) / 2 = $6,000 per unit: gain $4,000.
CRYPSENSE = [
    buy(1, ms(2023, 6, 1), "1", "5000"),
    buy(2, ms(2023, 8, 1), "1", "7000"),
    sell(3, ms(2023, 9, 1), "1", "10000"),
]


@pytest.mark.parametrize(
    ("method", "cost", "gain"), [("fifo", "5000", "5000"), ("hifo", "7000", "3000"), ("average", "6000", "4000")]
)
def test_two_lots_one_sale(method: str, cost: str, gain: str) -> None:
    assert gains(CRYPSENSE, method, 2023) == [("BTC", D(1), D(cost), D(gain))]


# The "identifying shares sold" example (tax-software help text, secondary; arithmetic by hand): 1,000 units at
# $12 (2008), 500 at $15 (2009), 900 at $27 (early 2010); sell 900 at $26 = $23,400 (late 2010).
# FIFO: 900 of the $12 lot cost $10,800, gain $12,600 (as published). Specific identification of the 2010 lot,
# which is what HIFO picks (highest cost): cost $24,300, loss $900 (as published). Average: total cost
# $12,000 + $7,500 + $24,300 = $43,800 over 2,400 units = $18.25; 900 x 18.25 = $16,425, gain $6,975.
FUND = [
    buy(1, ms(2008, 3, 1), "1000", "12000", "FUND"),
    buy(2, ms(2009, 3, 1), "500", "7500", "FUND"),
    buy(3, ms(2010, 1, 15), "900", "24300", "FUND"),
    sell(4, ms(2010, 11, 20), "900", "23400", "FUND"),
]


@pytest.mark.parametrize(
    ("method", "cost", "gain"), [("fifo", "10800", "12600"), ("hifo", "24300", "-900"), ("average", "16425", "6975")]
)
def test_three_lots_published_example(method: str, cost: str, gain: str) -> None:
    assert gains(FUND, method, 2010) == [("FUND", D(900), D(cost), D(gain))]


def test_average_pool_hmrc_crypto22251() -> None:
    # HMRC Cryptoassets Manual CRYPTO22251, example 1 (a section 104 pool is an average-cost pool): 100 tokens
    # for £1,000, then 50 for £125,000: pool 150 / £126,000. Sell 50 for £300,000: allowable cost
    # £126,000 x 50/150 = £42,000, gain £258,000; the pool keeps 100 / £84,000 (checked by selling the rest).
    fills = [
        buy(1, ms(2021, 4, 1), "100", "1000", "A"),
        buy(2, ms(2021, 9, 18), "50", "125000", "A"),
        sell(3, ms(2021, 12, 1), "50", "300000", "A"),
        sell(4, ms(2021, 12, 20), "100", "84000", "A"),
    ]
    rows = gains(fills, "average", 2021)
    # the first sale takes its dates from the oldest units (FIFO), its cost from the pool's average
    assert rows == [("A", D(50), D(42000), D(258000)), ("A", D(50), D(42000), D(0)), ("A", D(50), D(42000), D(0))]
    assert sum(r[2] for r in rows) == D(126000)


def test_fees_in_quote_added_to_cost_and_deducted_from_proceeds() -> None:
    # IRS FAQ on basis: "the amount you spent to acquire the virtual currency, including fees"; the canonical
    # numeric (Lukka): buy 1 BTC for $10,000 with $100 of fees, basis $10,100. Selling for $12,000 with a $60
    # fee in the quote asset gives proceeds $11,940 and a gain of $1,840; $160 of fees in all.
    fills = [
        buy(1, ms(2024, 1, 10), "1", "10000", quote="USDT", commission=D(100), commission_asset="USDT"),
        sell(2, ms(2024, 5, 10), "1", "12000", quote="USDT", commission=D(60), commission_asset="USDT"),
    ]
    r = compute(fills, account_id=1, year=2024, method="fifo", currency="USD", prices=USD)
    [row] = r.rows
    assert (row.proceeds, row.cost_basis, row.gain, row.fees) == (D(11940), D(10100), D(1840), D(160))
    assert row.fee_treatment == (
        "buy fee 100 USDT (100 USD) added to cost; sell fee 60 USDT (60 USD) deducted from proceeds"
    )


def test_fee_in_base_reduces_quantity_and_markup_counts_as_a_fee() -> None:
    # Buy 1 BTC for 10,000 USDT; the commission 0.001 BTC and the broker's markup 0.0005 BTC come out of the BTC
    # received, so the lot is 0.9985 BTC costing 10,000. Sell all of it for 11,000 (less 11 USDT fee and 5.5
    # USDT markup): proceeds 10,983.5, gain 983.5.
    fills = [
        buy(
            1,
            ms(2024, 1, 1),
            "1",
            "10000",
            quote="USDT",
            commission=D("0.001"),
            commission_asset="BTC",
            markup=D("0.0005"),
        ),
        sell(
            2,
            ms(2024, 2, 1),
            "0.9985",
            "11000",
            quote="USDT",
            commission=D(11),
            commission_asset="USDT",
            markup=D("5.5"),
        ),
    ]
    [row] = compute(fills, account_id=1, year=2024, method="hifo", currency="USD", prices=USD).rows
    assert (row.quantity, row.cost_basis, row.proceeds, row.gain) == (D("0.9985"), D(10000), D("10983.5"), D("983.5"))
    assert "buy fee 0.0015 BTC reduced the quantity acquired" in row.fee_treatment
    # fee value: 0.0015 BTC at the buy price (15 USD) plus 16.5 USDT on the sale
    assert row.fees == D("31.5")


def test_sale_across_lots_gives_a_row_per_lot_and_terms() -> None:
    fills = [
        buy(1, ms(2022, 1, 1), "1", "100"),
        buy(2, ms(2022, 12, 1), "1", "300"),
        sell(3, ms(2022, 6, 1), "0.5", "80"),  # in 2022: not in the 2023 report, but it uses up half a lot
        sell(4, ms(2023, 1, 2), "1", "400"),
    ]
    r = compute(fills, account_id=1, year=2023, method="fifo", currency="USD", prices=USD)
    assert [(x.quantity, x.cost_basis, x.proceeds, x.term, x.acquisition_trade) for x in r.rows] == [
        (D("0.5"), D(50), D(200), "long", "1"),
        (D("0.5"), D(150), D(200), "short", "2"),
    ]
    [summary] = r.summary()
    assert summary == {
        "asset": "BTC",
        "disposals": "1",
        "quantity": "1",
        "proceeds": "400",
        "cost_basis": "200",
        "gain_or_loss": "200",
        "fees": "0",
        "short_term": "50",
        "long_term": "150",
        "unknown_term": "0",
    }
    lines = list(csv.DictReader(io.StringIO(r.to_csv())))
    assert tuple(lines[0]) == COLUMNS and lines[0]["acquired"] == "2022-01-01T00:00:00Z"


def test_exact_thirds_keep_the_pool_whole() -> None:
    # 3 units for $10, sold one at a time at average cost: 3.333333333333333333 twice, then the remainder, so the
    # three costs add up to exactly $10
    fills = [
        buy(1, ms(2024, 1, 1), "3", "10"),
        sell(2, ms(2024, 1, 2), "1", "5"),
        sell(3, ms(2024, 1, 3), "1", "5"),
        sell(4, ms(2024, 1, 4), "1", "5"),
    ]
    costs = [c for _, _, c, _ in gains(fills, "average", 2024)]
    assert costs == [D("3.333333333333333333"), D("3.333333333333333334"), D("3.333333333333333333")]
    assert sum(costs) == D(10)


def test_crypto_quote_is_a_disposal_valued_at_recorded_prices() -> None:
    # BTC bought for 20,000 USDT. Later 10 ETH are bought for 0.5 BTC when BTC last traded at 30,000 USDT:
    # that disposes of 0.5 BTC for 15,000 (cost 10,000, gain 5,000) and the ETH cost 15,000. Selling the ETH
    # for 9,000 USDT loses 6,000.
    prices = PriceBook({"USDT": D(1)}, [(ms(2024, 1, 1), "BTC", D(20000)), (ms(2024, 2, 1), "BTC", D(30000))])
    fills = [
        buy(1, ms(2024, 1, 1), "1", "20000", quote="USDT"),
        buy(2, ms(2024, 2, 2), "10", "0.5", "ETH", "BTC"),
        sell(3, ms(2024, 3, 1), "10", "9000", "ETH", "USDT"),
    ]
    assert gains(fills, "fifo", 2024, prices) == [
        ("BTC", D("0.5"), D(10000), D(5000)),
        ("ETH", D(10), D(15000), D(-6000)),
    ]
    # selling ETH for BTC acquires BTC at the value received
    fills2 = [
        buy(1, ms(2024, 1, 1), "10", "15000", "ETH", "USDT"),
        sell(2, ms(2024, 2, 2), "10", "0.6", "ETH", "BTC"),
        sell(3, ms(2024, 3, 1), "0.6", "18000", "BTC", "USDT"),
    ]
    assert gains(fills2, "fifo", 2024, prices) == [("ETH", D(10), D(15000), D(3000)), ("BTC", D("0.6"), D(18000), D(0))]
    with pytest.raises(TaxError, match="no recorded price of DOGE"):
        gains([buy(1, ms(2024, 1, 1), "1", "5", "ETH", "DOGE")], "fifo", 2024, prices)


def test_units_without_a_recorded_acquisition() -> None:
    [row] = compute(
        [sell(1, ms(2024, 1, 1), "1", "100")], account_id=1, year=2024, method="fifo", currency="USD", prices=USD
    ).rows
    assert (row.acquired, row.cost_basis, row.gain, row.term) == (None, D(0), D(100), "unknown")
    assert row.fee_treatment.startswith("no recorded acquisition")


def test_refusals() -> None:
    with pytest.raises(TaxError, match="method must be"):
        compute([], account_id=1, year=2024, method="lifo", currency="USD", prices=USD)  # type: ignore[arg-type]
    with pytest.raises(TaxError, match="third|neither"):
        compute(
            [buy(1, ms(2024, 1, 1), "1", "5", commission=D(1), commission_asset="BNB")],
            account_id=1,
            year=2024,
            method="fifo",
            currency="USD",
            prices=USD,
        )


def test_report_from_the_ledger_and_the_command(db: Db, tmp_path: Path) -> None:
    w = db.open()
    alice = bob = 0

    async def setup() -> None:
        nonlocal alice, bob
        await w.start()
        t = await w.accounts.create_tenant("acme")
        alice = (await w.accounts.create_account(t.tenant_id, "alice")).account_id
        bob = (await w.accounts.create_account(t.tenant_id, "bob")).account_id
        await w.close()

    asyncio.run(setup())

    def trade(
        i: int,
        account: int,
        t: int,
        symbol: str,
        buyer: bool,
        qty: str,
        price: str,
        quote_qty: str,
        fee: str = "0",
        fee_asset: str = "USDT",
    ) -> Insert:
        return Insert(
            models.trades,
            {
                "trade_id": i,
                "order_id": i,
                "account_id": account,
                "symbol": symbol,
                "price": D(price),
                "qty": D(qty),
                "quote_qty": D(quote_qty),
                "commission": D(fee),
                "commission_asset": fee_asset,
                "markup": D(0),
                "is_buyer": buyer,
                "is_maker": False,
                "time": t,
                "source": "internal",
                "source_ref": str(i),
            },
        )

    w = db.open()
    w.store.write_sync(
        [
            trade(1, alice, ms(2023, 6, 1), "BTCUSDT", True, "1", "5000", "5000", "5"),
            trade(2, alice, ms(2023, 8, 1), "BTCUSDT", True, "1", "7000", "7000", "7"),
            trade(3, bob, ms(2023, 8, 2), "BTCUSDT", False, "1", "8000", "8000"),  # a recorded BTC price for the cross
            trade(4, alice, ms(2023, 8, 3), "ETHBTC", True, "4", "0.125", "0.5"),  # 0.5 BTC at 8,000 = 4,000
            trade(5, alice, ms(2023, 9, 1), "BTCUSDT", False, "1", "10000", "10000", "10"),
            trade(6, alice, ms(2024, 1, 1), "BTCUSDT", False, "0.5", "9000", "4500"),  # next year: not reported
        ]
    )
    w.store.dispose()
    s = settings_for(db, tmp_path)

    def run(*argv: str) -> tuple[int, str]:
        args = build_parser().parse_args(["compliance", "tax-report", *argv])
        out = io.StringIO()
        return args.run(args, s, out), out.getvalue()

    code, text = run("--account", str(alice), "--year", "2023", "--method", "fifo")
    assert code == 0
    rows = [
        (r["asset"], r["quantity"], r["proceeds"], r["cost_basis"], r["gain_or_loss"], r["fees"])
        for r in csv.DictReader(io.StringIO(text))
    ]
    # FIFO: the ETH buy disposes of 0.5 BTC of the first lot (5,005 per BTC with its fee): cost 2,502.5, proceeds
    # 4,000. The sale of 1 BTC takes the other half of lot 1 (2,502.5) and half of lot 2 (3,503.5): 6,006 in all,
    # against 9,990 of proceeds (10,000 less the 10 USDT fee), split 4,995 / 4,995.
    assert rows == [
        ("BTC", "0.5", "4000", "2502.5", "1497.5", "2.5"),
        ("BTC", "0.5", "4995", "2502.5", "2492.5", "7.5"),
        ("BTC", "0.5", "4995", "3503.5", "1491.5", "8.5"),
    ]
    out_file = tmp_path / "hifo.json"
    code, text = run(
        "--account", str(alice), "--year", "2023", "--method", "hifo", "--format", "json", "--out", str(out_file)
    )
    assert code == 0
    [summary] = [orjson.loads(x) for x in text.splitlines()]
    report = orjson.loads(out_file.read_text())
    assert report["method"] == "hifo" and report["summary"] == [summary]
    # HIFO: the ETH buy takes 0.5 of the 7,007 lot (3,503.5); the sale the other 0.5 (3,503.5) and 0.5 of the
    # 5,005 lot (2,502.5): proceeds 4,000 + 9,990, cost 9,509.5
    assert (summary["proceeds"], summary["cost_basis"], summary["gain_or_loss"]) == ("13990", "9509.5", "4480.5")
    code, _ = run("--account", "999", "--year", "2023")
    assert code == 2
    code, _ = run("--account", str(alice), "--year", "2023", "--currency", "EUR")
    assert code == 2  # the configured cash rates are in USD
    code, text = run("--account", str(alice), "--year", "2023", "--currency", "EUR", "--rate", "USDT=0.5")
    assert code == 0 and next(csv.DictReader(io.StringIO(text)))["proceeds"] == "2000"
