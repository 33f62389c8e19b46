"""Each venue's order-entry set-up for the tests: its fake REST server (a known book, BTC 2 and USDT 100000), its
adapter (the real ccxt-backed client), and the venue's own answers. The contract suite
(tests/connectors/test_contract_order_entry.py) runs every row; each venue's own tests take their row from here.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connectors.binance.trading import BinanceTrading
from connectors.errors import DEFAULT_RETRY_AFTER_S
from connectors.htx.trading import HtxTrading
from connectors.kraken.trading import KrakenTrading
from connectors.simulators.order_entry.binance import FakeBinance
from connectors.simulators.order_entry.htx import FakeHtx
from connectors.simulators.order_entry.kraken import FakeKraken
from connectors.simulators.order_entry.matching import SimMarket, fee_in_quote
from connectors.simulators.order_entry.server import FakeVenue
from connectors.trading import ChildOrder, OrderStatus, TradingVenue, client_order_id_for

from .conftest import engine, instrument

D = Decimal
# The adapters' shared keyword arguments: a short timeout so an unanswered order turns "unknown" quickly.
FAST = {"timeout_s": 0.5, "rate_limit_ms": 5}


@dataclass(frozen=True)
class OrderEntryVenue:
    """One venue's row: how to run its fake and its adapter, and what the venue answers in each scenario."""

    venue: str
    key: str
    key2: str  # a second key on the same account: "another process" with no memory of our ids
    secret: str
    wrong_secret: str
    make_fake: Callable[[dict[str, str]], FakeVenue]  # keys -> a fake venue (BTC 2, USDT 100000)
    make_adapter: Callable[..., TradingVenue]  # (key, secret, base_url, **kw)
    place_request: tuple[str, str]  # (method, path) of an order placement
    ioc_fills: list[tuple[str, str, str, str]]  # buying 0.8 at <= 30010: (price, qty, fee, fee asset) per fill
    ioc_fee: tuple[str, str]
    ioc_leftover: OrderStatus  # what an IOC's unfilled rest ends as at this venue
    sell_fee_usdt: str  # taker fee of selling 0.4 at 29990 (paid in USDT)
    bad_signature: tuple[str | int, str | None]  # (code, message or None)
    bad_key: str | int
    insufficient: str | int
    duplicate: str | int | None  # the code refusing a reused client id (None: the message says it)
    rate_limit_retry_after: float  # the wait a rate-limit answer maps to


def _binance_fake(keys: dict[str, str]) -> FakeVenue:
    market = SimMarket("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"), min_notional=D("5"))
    return FakeBinance(engine(market, {"USDT": D("100000"), "BTC": D("2")}), keys)


def _kraken_fake(keys: dict[str, str]) -> FakeVenue:
    market = SimMarket("XBTUSDT", "XXBT", "USDT", D("0.1"), D("0.00000001"), min_qty=D("0.0001"))
    eng = engine(market, {"USDT": D("100000"), "XXBT": D("2")}, taker_fee=D("0.0026"), fee_asset=fee_in_quote)
    return FakeKraken(eng, keys)


def _htx_fake(keys: dict[str, str]) -> FakeVenue:
    market = SimMarket("btcusdt", "btc", "usdt", D("0.01"), D("0.000001"), min_notional=D("5"))
    return FakeHtx(engine(market, {"usdt": D("100000"), "btc": D("2")}, taker_fee=D("0.002"), unique_ids="all"), keys)


BINANCE_INST = instrument("binance", "BTCUSDT", "0.01", "0.00001", "5")
KRAKEN_INST = instrument("kraken", "XBT/USDT", "0.1", "0.00000001")
HTX_INST = instrument("htx", "btcusdt", "0.01", "0.000001", "5")

VENUES = {
    "binance": OrderEntryVenue(
        "binance",
        key="vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        key2="binance-key-2",
        secret="NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
        wrong_secret="not-the-secret",
        make_fake=_binance_fake,
        make_adapter=lambda key, secret, url, **kw: BinanceTrading(key, secret, [BINANCE_INST], base_url=url, **kw),
        place_request=("POST", "/api/v3/order"),
        ioc_fills=[("30000", "0.5", "0.0005", "BTC"), ("30010", "0.3", "0.0003", "BTC")],
        ioc_fee=("0.0008", "BTC"),
        ioc_leftover=OrderStatus.EXPIRED,
        sell_fee_usdt="11.996",
        bad_signature=(-1022, "Signature for this request is not valid."),
        bad_key=-2015,
        insufficient=-2010,
        duplicate=None,  # Binance answers -2010 with "Duplicate order sent."
        rate_limit_retry_after=7.0,
    ),
    "kraken": OrderEntryVenue(
        "kraken",
        key="kraken-key-1",
        key2="kraken-key-2",
        secret="kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
        wrong_secret=base64.b64encode(b"x" * 64).decode(),
        make_fake=_kraken_fake,
        make_adapter=lambda key, secret, url, **kw: KrakenTrading(key, secret, [KRAKEN_INST], base_url=url, **kw),
        place_request=("POST", "/0/private/AddOrder"),
        ioc_fills=[("30000", "0.5", "39", "USDT"), ("30010", "0.3", "23.4078", "USDT")],
        ioc_fee=("62.4078", "USDT"),
        ioc_leftover=OrderStatus.CANCELED,
        sell_fee_usdt="31.1896",
        bad_signature=("EAPI:Invalid signature", None),
        bad_key="EAPI:Invalid key",
        insufficient="EOrder:Insufficient funds",
        duplicate="EOrder:Duplicate order",
        rate_limit_retry_after=DEFAULT_RETRY_AFTER_S,  # Kraken's rate-limit error has no Retry-After: the default
    ),
    "htx": OrderEntryVenue(
        "htx",
        key="e2xxxxxx-99xxxxxx-84xxxxxx-7xxxx",
        key2="key-2",
        secret="b0xxxxxx-c6xxxxxx-94xxxxxx-dxxxx",
        wrong_secret="wrong-secret",
        make_fake=_htx_fake,
        make_adapter=lambda key, secret, url, **kw: HtxTrading(key, secret, [HTX_INST], base_url=url, **kw),
        place_request=("POST", "/v1/order/orders/place"),
        ioc_fills=[("30000", "0.5", "0.001", "BTC"), ("30010", "0.3", "0.0006", "BTC")],
        ioc_fee=("0.0016", "BTC"),
        ioc_leftover=OrderStatus.EXPIRED,
        sell_fee_usdt="23.992",
        bad_signature=("api-signature-not-valid", "Signature not valid: Verification failure [校验失败]"),
        bad_key="api-signature-not-valid",
        insufficient="account-frozen-balance-insufficient-error",
        duplicate=None,
        rate_limit_retry_after=3.0,
    ),
}


def child(
    row: OrderEntryVenue, qty: str, price: str, tif: str = "IOC", side: str = "BUY", round_no: int = 0
) -> ChildOrder:
    return ChildOrder(
        row.venue, "BTC/USDT", side, D(qty), D(price), tif, client_order_id_for("p1", round_no, row.venue)
    )


def placements(row: OrderEntryVenue, fake: Any) -> int:
    return sum(1 for request in fake.requests if request == row.place_request)
