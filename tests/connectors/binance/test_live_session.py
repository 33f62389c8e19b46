"""The Binance feed over real sockets against the local simulator: Binance's own cases (shutdown notice, staleness,
429/418 on snapshots). Sync, gaps, reorders and reconnects are in tests/connectors/test_contract_market_data.py."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp
import pytest

from config.instruments import Instrument
from config.settings import Settings, VenueSettings
from connectors.binance import BinanceFeed
from connectors.binance.rest import snapshot_fetcher
from connectors.simulators.binance import BinanceSimulator
from connectors.simulators.market import MarketGenerator
from connectors.ws import FeedSession
from tests.support import eventually

SETTINGS = Settings(ws_backoff_initial_s=0.05, ws_backoff_max_s=0.2, ws_silence_timeout_s=30)


def instrument(vs: str, base: str, quote: str) -> Instrument:
    return Instrument(f"{base}/{quote}", base, quote, "binance", vs, Decimal("0.01"), Decimal("0.0001"))


INSTRUMENTS = [instrument("BTCUSDT", "BTC", "USDT"), instrument("ETHUSDT", "ETH", "USDT")]


def generators() -> dict[str, MarketGenerator]:
    return {
        "BTCUSDT": MarketGenerator(Decimal("30000.00"), Decimal("0.01"), Decimal("0.0001"), levels=40, seed=3),
        "ETHUSDT": MarketGenerator(Decimal("2000.00"), Decimal("0.01"), Decimal("0.0001"), levels=40, seed=4),
    }


async def settle(sim: BinanceSimulator, feed: BinanceFeed) -> None:
    """Wait until every mirrored book has caught up with the simulator's last update id."""
    await eventually(
        lambda: all(
            feed.books[inst.symbol].synced and feed.books[inst.symbol].update_id == sim.update_ids[inst.venue_symbol]
            for inst in INSTRUMENTS
        ),
        what="books at the simulator's last update id",
    )


def assert_books_equal(sim: BinanceSimulator, feed: BinanceFeed) -> None:
    for inst in INSTRUMENTS:
        sim_bids, sim_asks = sim.book_levels(inst.venue_symbol)
        book = feed.books[inst.symbol]
        assert book.bids() == sim_bids
        assert book.asks() == sim_asks


@pytest.fixture
async def running():
    sim = BinanceSimulator(generators(), autostart_ticks=False)
    await sim.start()
    feed = BinanceFeed(INSTRUMENTS, VenueSettings(ws_url=sim.ws_base, rest_url=sim.base_url, stale_after_s=0.3))
    async with aiohttp.ClientSession() as http:
        session = FeedSession(feed, feed.stream_url(), settings=SETTINGS, snapshot_fetcher=snapshot_fetcher(feed, http))
        await session.start()
        await session.connected.wait()
        await session.wait_synced()
        yield sim, feed, session
        await session.stop()
    await sim.stop()


async def test_server_shutdown_notice_makes_us_reconnect(running):
    sim, feed, session = running
    await sim.server_shutdown()
    await eventually(lambda: feed.health.stats.reconnects >= 1 and session.connected.is_set(), what="a reconnect")
    await session.wait_synced()
    await sim.step(5)
    await settle(sim, feed)
    assert_books_equal(sim, feed)


async def test_stalled_venue_turns_stale_and_recovers(running):
    sim, feed, _ = running
    await sim.step(2)
    await settle(sim, feed)
    assert not feed.health.is_stale()
    await eventually(feed.health.is_stale, timeout=3, what="stale once nothing came for 0.3 s")
    await sim.step(2)
    await settle(sim, feed)
    assert not feed.health.is_stale()


async def test_snapshot_429_retry_after_is_honoured():
    sim = BinanceSimulator(generators(), autostart_ticks=False)
    await sim.start()
    sim.rest_rejections = [429, 418]
    sim.retry_after_s = 1
    feed = BinanceFeed(INSTRUMENTS[:1], VenueSettings(ws_url=sim.ws_base, rest_url=sim.base_url))
    try:
        async with aiohttp.ClientSession() as http:
            session = FeedSession(
                feed, feed.stream_url(), settings=SETTINGS, snapshot_fetcher=snapshot_fetcher(feed, http)
            )
            loop = asyncio.get_running_loop()
            started = loop.time()
            await session.start()
            await session.wait_synced(timeout=6)
            waited = loop.time() - started
            await session.stop()
    finally:
        await sim.stop()
    assert sim.depth_requests == 3  # two refusals, then the snapshot
    assert waited >= 2.0  # Retry-After: 1 s, twice
