"""Fake venue order-entry REST servers (Binance, Kraken, HTX) over one small matching engine.

Each server verifies the venue's real request signing with the shared ``connectors.<venue>.auth`` functions,
answers in the venue's shapes and errors, and can be told to time out or fail after accepting an order.
"""

from connectors.simulators.order_entry.binance import FakeBinance
from connectors.simulators.order_entry.htx import FakeHtx
from connectors.simulators.order_entry.kraken import FakeKraken
from connectors.simulators.order_entry.matching import (
    BookLiquidity,
    Liquidity,
    MatchingEngine,
    SimMarket,
    StaticBook,
    fee_in_quote,
    fee_in_received,
)
from connectors.simulators.order_entry.server import FakeVenue

__all__ = [
    "BookLiquidity",
    "FakeBinance",
    "FakeHtx",
    "FakeKraken",
    "FakeVenue",
    "Liquidity",
    "MatchingEngine",
    "SimMarket",
    "StaticBook",
    "fee_in_quote",
    "fee_in_received",
]
