"""Order-entry fixtures for any module that names its venue with a ``row`` fixture (an ``OrderEntryVenue``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.trading import TradingVenue
from tests.connectors.trading.venues import FAST, OrderEntryVenue


@pytest.fixture
async def fake(row: OrderEntryVenue) -> AsyncIterator[Any]:
    """The venue's fake REST server; its two keys trade the same account."""
    venue = row.make_fake({row.key: row.secret, row.key2: row.secret})
    async with venue:
        yield venue


@pytest.fixture
async def trading(row: OrderEntryVenue, fake: Any) -> AsyncIterator[TradingVenue]:
    """The venue's adapter, signed in with the first key."""
    adapter = row.make_adapter(row.key, row.secret, fake.url, **FAST)
    yield adapter
    await adapter.close()
