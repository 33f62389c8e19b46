"""Shared helpers: instruments with Binance-style filters, both engines, order shorthands."""
from __future__ import annotations

from decimal import Decimal as D
from typing import Callable

from config import Instrument
from internal_book import MatchingEngine, NewOrder, OrderType, ReferenceEngine, Side, TimeInForce

BTC = Instrument(
    symbol="BTC/USDT", base="BTC", quote="USDT", venue="internal", venue_symbol="BTCUSDT",
    tick_size=D("0.01"), step_size=D("0.001"), min_qty=D("0.001"), max_qty=D("100"),
    min_price=D("0.01"), max_price=D("1000000"), min_notional=D("5"), max_notional=D("1000000"),
    market_step_size=D("0.001"), market_max_qty=D("50"),
)
ETH = Instrument(
    symbol="ETH/USDT", base="ETH", quote="USDT", venue="internal", venue_symbol="ETHUSDT",
    tick_size=D("0.5"), step_size=D("0.1"), min_qty=D("0.1"), min_notional=D("2"),
)
CLOSED = Instrument(
    symbol="OLD/USDT", base="OLD", quote="USDT", venue="internal", venue_symbol="OLDUSDT",
    tick_size=D("0.01"), step_size=D("1"), trading=False,
)
INSTRUMENTS = (BTC, ETH, CLOSED)

# Both engines share one face (apply, state, state_hash, preview, validate_internal_state).
Engine = MatchingEngine | ReferenceEngine
ENGINES: dict[str, Callable[..., Engine]] = {"compiled": MatchingEngine, "reference": ReferenceEngine}



def limit(side: Side, qty: str, price: str, account: str = "a", tif: TimeInForce = TimeInForce.GTC,
          symbol: str = "BTC/USDT", **kw: object) -> NewOrder:
    return NewOrder(symbol, account, side, OrderType.LIMIT, D(qty), D(price), tif, **kw)  # type: ignore[arg-type]


def market(side: Side, qty: str | None = None, account: str = "a", symbol: str = "BTC/USDT",
           **kw: object) -> NewOrder:
    return NewOrder(symbol, account, side, OrderType.MARKET, None if qty is None else D(qty), **kw)  # type: ignore[arg-type]


def kinds(events: list) -> list[str]:
    return [e.kind for e in events]


def of(events: list, cls: type) -> list:
    return [e for e in events if isinstance(e, cls)]
