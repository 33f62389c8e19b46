"""KrakenTrading against the fake Kraken REST server: Kraken's own cases (no FOK, nonces, txids). The scenarios
every venue shares are in tests/connectors/test_contract_order_entry.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors.errors import InvalidOrder
from connectors.trading import ChildOrder, TradingVenue
from domain import OrderStatus
from tests.connectors.trading.venues import VENUES, OrderEntryVenue, placements
from tests.connectors.trading.venues import child as venue_child

D = Decimal
ROW = VENUES["kraken"]


@pytest.fixture
def row() -> OrderEntryVenue:
    return ROW


def child(qty: str, price: str, tif: str = "IOC", side: str = "BUY", round_no: int = 0) -> ChildOrder:
    return venue_child(ROW, qty, price, tif, side, round_no)


async def test_fok_is_refused_before_sending(trading: TradingVenue, fake: Any) -> None:
    with pytest.raises(InvalidOrder) as info:
        await trading.place(child("0.1", "30000", tif="FOK"))
    assert "no FOK" in str(info.value)
    assert placements(ROW, fake) == 0


async def test_concurrent_orders_keep_nonces_in_order(trading: TradingVenue) -> None:
    import asyncio

    orders = [child("0.01", "29000", tif="GTC", round_no=i) for i in range(6)]
    placed = await asyncio.gather(*(trading.place(o) for o in orders), trading.balances(), trading.open_orders())
    assert all(p.status is OrderStatus.NEW for p in placed[:6])  # type: ignore[union-attr]
    assert all(p.venue_order_id.startswith("O") for p in placed[:6])  # type: ignore[union-attr]  # Kraken txids
    assert len(await trading.open_orders()) == 6
