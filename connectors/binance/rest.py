"""Binance REST access for market data: the depth snapshot, with Retry-After honoured."""

from __future__ import annotations

import aiohttp

from connectors.binance.market_data import BinanceFeed
from connectors.http import get_text
from connectors.ws import SnapshotFetcher


def snapshot_fetcher(feed: BinanceFeed, session: aiohttp.ClientSession, *, timeout_s: float = 10.0) -> SnapshotFetcher:
    async def fetch(venue_symbol: str) -> str:
        url, params = feed.snapshot_request(venue_symbol)
        return await get_text(session, url, params, timeout_s=timeout_s)

    return fetch
