"""KrakenFeed over real sockets against the local Kraken simulator (v2 and v1): Kraken's own cases (CRC32 on every
update, heartbeats, stalls, the recorded capture). Sync, gaps, reorders and reconnects are in
tests/connectors/test_contract_market_data.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from config.settings import Settings, VenueSettings
from connectors.kraken import KrakenFeed
from connectors.simulators.kraken import KrakenSimulator
from connectors.ws import FeedSession
from tests.connectors.kraken.conftest import CAPTURE, kraken_instrument
from tests.support import eventually

SETTINGS = Settings(ws_backoff_initial_s=0.05, ws_backoff_max_s=0.2, ws_silence_timeout_s=30)
DEPTH = 10
INSTRUMENTS = [
    kraken_instrument("BTC/USD", "XBT/USD", "0.1", "0.00000001"),
    kraken_instrument("ETH/USD", "ETH/USD", "0.01", "0.0001"),
    # 4 price decimals: v2 prints 9.999 for 9.9990, the documented precision trap
    kraken_instrument("MATIC/USD", "MATIC/USD", "0.0001", "0.00000001"),
]


async def settle(sim: KrakenSimulator, feed: KrakenFeed, instruments=INSTRUMENTS) -> None:  # type: ignore[no-untyped-def]
    """Wait until every mirrored book equals the simulator's top ``DEPTH`` levels."""
    await eventually(
        lambda: all(books_equal(sim, feed, inst.symbol) for inst in instruments),
        what="books equal the simulator's top levels",
    )


def books_equal(sim: KrakenSimulator, feed: KrakenFeed, symbol: str) -> bool:
    book = feed.books[symbol]
    bids, asks = sim.book_levels(symbol, DEPTH)
    return book.synced and book.bids() == bids and book.asks() == asks


@contextlib.asynccontextmanager
async def live(version: int, instruments=INSTRUMENTS) -> AsyncIterator[tuple[KrakenSimulator, KrakenFeed, FeedSession]]:  # type: ignore[no-untyped-def]
    # v1 sends XBT/USD prices with 5 decimals although the pair has 1 (as Kraken does for XBT/CHF)
    sim = KrakenSimulator(instruments, autostart_ticks=False, heartbeat_s=0.2, v1_price_dp={"BTC/USD": 5})
    await sim.start()
    url = sim.ws_base + ("/v2" if version == 2 else "/")
    feed = KrakenFeed(instruments, VenueSettings(depth=DEPTH, ws_url=url), version=version)
    session = FeedSession(feed, feed.url(), settings=SETTINGS)
    await session.start()
    try:
        await session.wait_synced()
        yield sim, feed, session
    finally:
        await session.stop()
        await sim.stop()


@pytest.fixture(params=[2, 1], ids=["v2", "v1"])
async def running(request: pytest.FixtureRequest) -> AsyncIterator[tuple[KrakenSimulator, KrakenFeed, FeedSession]]:
    async with live(request.param) as triple:
        yield triple


async def test_mirrored_books_follow_the_stream_exactly(running) -> None:
    sim, feed, _ = running
    await sim.step(60)
    await settle(sim, feed)
    stats = feed.health.stats
    assert stats.checksum_failures == 0 and stats.resyncs == 0 and stats.bad_frames == 0
    assert feed.checksums_ok > 50
    if feed.version == 1:
        assert feed.wire_dp["BTC/USD"] == (5, 8)


async def test_checksum_mismatch_marks_book_stale_and_resyncs(running) -> None:
    sim, feed, _ = running
    await sim.step(5)
    await settle(sim, feed)
    snapshots = sim.snapshots_sent
    await sim.apply_fault("corrupt_checksum")
    while sim.faults.corrupt_checksum:
        await sim.step()
    await eventually(lambda: feed.health.stats.checksum_failures == 1)
    await eventually(lambda: sim.snapshots_sent == snapshots + 1)  # unsubscribe + subscribe brought a fresh one
    assert sim.unsubscribes == 1
    await sim.step(20)
    await settle(sim, feed)
    assert feed.health.stats.resyncs == 1 and feed.health.stats.checksum_failures == 1


async def test_heartbeats_keep_the_feed_fresh(running) -> None:
    sim, feed, _ = running
    before = feed.health.stats.messages
    # no market activity (the simulator only moves when stepped): what arrives are heartbeats, every 0.2 s
    await eventually(lambda: feed.health.stats.messages >= before + 2, what="two heartbeats")
    assert not feed.health.is_stale()


async def test_capture_served_verbatim_validates_over_sockets(capture_instruments) -> None:
    sim = KrakenSimulator(capture_instruments, capture_files=[CAPTURE])
    await sim.start()
    feed = KrakenFeed(capture_instruments, VenueSettings(depth=1000, ws_url=sim.ws_base + "/"), version=1)
    session = FeedSession(feed, feed.url(), settings=SETTINGS)
    await session.start()
    try:
        await eventually(lambda: feed.checksums_ok == 4269, timeout=20)
        assert feed.health.stats.checksum_failures == 0
        assert all(b.synced for b in feed.books.values())
    finally:
        await session.stop()
        await sim.stop()


async def test_stall_makes_the_venue_stale(running) -> None:
    sim, feed, _ = running
    feed.health.stale_after_ns = 300_000_000
    await sim.step(2)
    await settle(sim, feed)
    await sim.apply_fault("stall")
    await sim.step(3)  # held back; the first update after the resume carries these changes too
    await eventually(lambda: feed.health.is_stale(), timeout=3)
    await sim.apply_fault("resume")
    await eventually(lambda: not feed.health.is_stale(), timeout=3)
    await sim.step(5)
    await settle(sim, feed)


async def test_reconnect_during_a_stall_syncs_after_the_resume(running) -> None:
    sim, feed, session = running
    await sim.step(2)
    await settle(sim, feed)
    await sim.apply_fault("stall")
    await sim.step(5)  # the market moves while nothing is sent
    await session.reconnect()
    await eventually(lambda: feed.health.stats.reconnects >= 1 and feed.health.stats.connected)
    # the new connection's subscribe reached the stalled venue, which holds it until the resume
    await eventually(
        lambda: any(c.state.get("pending") for c in sim.clients if not c.ws.closed), what="a held subscribe"
    )
    assert not any(b.synced for b in feed.books.values())
    await sim.apply_fault("resume")
    await session.wait_synced()
    await sim.step(5)
    await settle(sim, feed)
    assert feed.health.stats.checksum_failures == 0
