"""Fake venues on loopback with a known book and account, and the real ccxt-backed adapters pointed at them."""

from __future__ import annotations

from decimal import Decimal

from config.instruments import Instrument
from connectors.simulators.order_entry.matching import MatchingEngine, SimMarket, StaticBook

D = Decimal


def instrument(venue: str, venue_symbol: str, tick: str, step: str, min_notional: str = "0") -> Instrument:
    return Instrument(
        symbol="BTC/USDT",
        base="BTC",
        quote="USDT",
        venue=venue,
        venue_symbol=venue_symbol,
        tick_size=D(tick),
        step_size=D(step),
        min_notional=D(min_notional),
    )


def book(symbol: str) -> StaticBook:
    # Asks 30000 x 0.5, 30010 x 1; bids 29990 x 0.4, 29980 x 2.
    return StaticBook(
        asks={symbol: [(D("30000"), D("0.5")), (D("30010"), D("1"))]},
        bids={symbol: [(D("29990"), D("0.4")), (D("29980"), D("2"))]},
    )


def engine(market: SimMarket, balances: dict[str, Decimal], **kwargs: object) -> MatchingEngine:
    return MatchingEngine([market], book(market.symbol), balances, **kwargs)  # type: ignore[arg-type]
