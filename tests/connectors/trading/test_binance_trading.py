"""BinanceTrading against the fake Binance REST server: Binance's own cases. The scenarios every venue shares
(fills, cancels, errors, unknown outcomes) are in tests/connectors/test_contract_order_entry.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.trading import ChildOrder, TradingVenue
from domain import OrderStatus
from tests.connectors.trading.venues import VENUES, OrderEntryVenue
from tests.connectors.trading.venues import child as venue_child

D = Decimal
ROW = VENUES["binance"]


@pytest.fixture
def row() -> OrderEntryVenue:
    return ROW


def child(qty: str, price: str, tif: str = "IOC", side: str = "BUY", round_no: int = 0) -> ChildOrder:
    return venue_child(ROW, qty, price, tif, side, round_no)


async def test_fok_that_cannot_fill_expires_untouched(trading: TradingVenue) -> None:
    placed = await trading.place(child("0.6", "30000", tif="FOK"))
    assert placed.status is OrderStatus.EXPIRED and placed.filled_qty == 0 and placed.fills == ()
