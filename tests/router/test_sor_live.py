"""The router through the real ccxt adapters to local fake venue servers that verify each venue's signing.

Same scenarios as paper execution, but every child is a signed REST order the fake venue matches: a sweep
across Binance and Kraken, and a child whose answer is lost being reconciled by query without a double fill.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from config.instruments import Instrument
from config.settings import Settings
from connectors.binance.trading import BinanceTrading
from connectors.book import VenueBook
from connectors.kraken.trading import KrakenTrading
from connectors.simulators.order_entry import (
    FakeBinance,
    FakeKraken,
    MatchingEngine,
    SimMarket,
    StaticBook,
    fee_in_quote,
)
from router import ConsolidatedMarket, ParentOrder, SmartOrderRouter

SYMBOL = "BTC/USDT"
BN_KEY, BN_SECRET = (
    "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
    "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
)
KR_KEY, KR_SECRET = (
    "kraken-key",
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
)
BN = Instrument(SYMBOL, "BTC", "USDT", "binance", "BTCUSDT", D("0.01"), D("0.00001"), min_notional=D("5"))
KR = Instrument(SYMBOL, "BTC", "USDT", "kraken", "XBT/USDT", D("0.1"), D("0.00000001"))
BN_ASKS = [(D("30000"), D("0.5")), (D("30010"), D("1"))]
KR_ASKS = [(D("30000.5"), D("0.3")), (D("30020"), D("2"))]


def mirrored(venue: str, asks: list[tuple[D, D]]) -> VenueBook:
    book = VenueBook(venue, SYMBOL, "X")
    book.levels.load([], [[str(p), str(q)] for p, q in asks])
    book.synced, book.last_update_ns = True, 1
    return book


@pytest.fixture
async def rig():
    bn_engine = MatchingEngine(
        [SimMarket("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"), min_notional=D("5"))],
        StaticBook(asks={"BTCUSDT": list(BN_ASKS)}),
        {"USDT": D("100000")},
    )
    kr_engine = MatchingEngine(
        [SimMarket("XBTUSDT", "XXBT", "USDT", D("0.1"), D("0.00000001"))],
        StaticBook(asks={"XBTUSDT": list(KR_ASKS)}),
        {"USDT": D("100000")},
        taker_fee=D("0.0026"),
        fee_asset=fee_in_quote,
    )
    async with FakeBinance(bn_engine, {BN_KEY: BN_SECRET}) as bn, FakeKraken(kr_engine, {KR_KEY: KR_SECRET}) as kr:
        venues = {
            "binance": BinanceTrading(BN_KEY, BN_SECRET, [BN], base_url=bn.url, timeout_s=0.5, rate_limit_ms=5),
            "kraken": KrakenTrading(KR_KEY, KR_SECRET, [KR], base_url=kr.url, timeout_s=0.5, rate_limit_ms=5),
        }
        market = ConsolidatedMarket()
        market.book(SYMBOL).attach(mirrored("binance", BN_ASKS), fee=D("0.001"), priority=0)
        market.book(SYMBOL).attach(mirrored("kraken", KR_ASKS), fee=D("0.0026"), priority=1)
        router = SmartOrderRouter(
            market, venues, {("binance", SYMBOL): BN, ("kraken", SYMBOL): KR}, settings=Settings()
        )
        yield router, bn, kr
        for v in venues.values():
            await v.close()


async def test_signed_children_sweep_two_real_adapters(rig):
    router, bn, kr = rig
    report = await router.execute(ParentOrder("live-1", SYMBOL, "BUY", D("1"), "LIMIT", D("30020"), "IOC"))
    # effective: binance 30000 * 1.001 = 30030, kraken 30000.5 * 1.0026 = 30078.5..., binance 30010 * 1.001 = 30040.01
    assert [(f.source, f.price, f.qty) for f in report.fills] == [
        ("binance", D("30000"), D("0.5")),
        ("binance", D("30010"), D("0.5")),
    ]
    assert report.status == "FILLED" and bn.auth_failures == 0
    # Binance takes its fee in the base asset received; the report values it in USDT at the fill price
    assert [(f.fee, f.fee_asset) for f in report.fills] == [(D("0.0005"), "BTC"), (D("0.0005"), "BTC")]
    assert report.fees == D("0.0005") * 30000 + D("0.0005") * 30010
    report = await router.execute(ParentOrder("live-2", SYMBOL, "BUY", D("0.8"), "LIMIT", D("30020"), "IOC"))
    assert [(f.source, f.price, f.qty) for f in report.fills] == [
        ("binance", D("30010"), D("0.5")),  # what was left there
        ("kraken", D("30000.5"), D("0.3")),
    ]
    assert kr.auth_failures == 0


async def test_lost_answer_is_reconciled_by_query_and_never_sent_twice(rig):
    router, bn, kr = rig
    bn.fail_next_order("timeout", delay_s=1.0)  # the order is accepted and fills, the answer comes too late
    report = await router.execute(ParentOrder("live-3", SYMBOL, "BUY", D("0.5"), "LIMIT", D("30000"), "IOC"))
    assert [(f.source, f.price, f.qty) for f in report.fills] == [("binance", D("30000"), D("0.5"))]
    assert report.in_doubt_qty == 0
    placed = [r for r in bn.requests if r[0] == "POST" and r[1].endswith("/order")]
    assert len(placed) == 1
