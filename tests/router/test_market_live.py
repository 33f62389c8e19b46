"""Three simulated venues over real sockets into the consolidated book: stalls and disconnects."""

from __future__ import annotations

import pytest

from config.settings import Settings
from connectors.simulators.launch import launch_simulators
from router.market import MarketData
from tests.support import eventually

VENUES = ["binance", "kraken", "htx"]


@pytest.fixture
async def market():
    sims, overrides = await launch_simulators(["BTC/USDT"], VENUES, interval_s=0.05)
    for fields in overrides.values():
        fields["stale_after_s"] = 0.4  # type: ignore[assignment]
    settings = Settings(ws_backoff_initial_s=0.05, ws_backoff_max_s=0.2).with_venue_overrides(overrides)  # type: ignore[arg-type]
    md = MarketData(settings, ["BTC/USDT"], VENUES)
    await md.start()
    book = md.market.book("BTC/USDT")
    await eventually(lambda: book.live_venues() == VENUES)
    yield sims, md, book
    await md.stop()
    for sim in sims.values():
        await sim.stop()


async def test_all_three_venues_merge_into_one_book(market):
    sims, md, book = market
    seen = {venue for level in book.bids(50) + book.asks(50) for venue, _ in level.venues}
    assert seen == set(VENUES)
    status = md.status()
    assert all(not v["stale"] and all(b["synced"] for b in v["books"].values()) for v in status["venues"].values())


async def test_stalled_venue_leaves_the_consolidated_book_and_returns(market):
    sims, md, book = market
    await sims["htx"].apply_fault("stall")
    await eventually(lambda: book.live_venues() == ["binance", "kraken"], timeout=3)
    assert all(v != "htx" for level in book.bids(20) + book.asks(20) for v, _ in level.venues)
    await sims["htx"].apply_fault("resume")
    await eventually(lambda: book.live_venues() == VENUES, timeout=3)


async def test_disconnected_venue_reconnects_and_rejoins(market):
    sims, md, book = market
    await sims["kraken"].apply_fault("disconnect")
    await eventually(lambda: md.feeds["kraken"].health.stats.reconnects >= 1, timeout=3)
    await eventually(lambda: book.live_venues() == VENUES, timeout=5)


async def test_venue_trades_come_through_the_same_sessions(market):
    """The simulators' public trades (Binance @trade on the combined stream, Kraken v2 trade) reach the
    market data's trade listeners, parsed exactly; HTX serves trades on /ws only, so its /feed session has none."""
    sims, md, book = market
    got = []
    md.trade_listeners.append(got.append)
    await eventually(lambda: {"binance", "kraken"} <= {t.venue for t in got}, timeout=5)
    assert all(t.symbol == "BTC/USDT" and t.price > 0 and t.qty > 0 for t in got)
    assert all(str(t.price) == str(t.price.normalize()) or t.venue == "binance" for t in got)
