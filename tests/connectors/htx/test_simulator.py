"""HtxFeed over real sockets against HtxSimulator: HTX's own cases (gzip, ping/pong, REQ pacing, step0, the recorded
capture, stalls). Sync, gaps, reorders and reconnects are in tests/connectors/test_contract_market_data.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from config.instruments import Instrument
from config.settings import HtxSettings, Settings
from connectors.htx import HtxFeed
from connectors.simulators.htx import HtxSimulator
from connectors.simulators.market import MarketGenerator
from connectors.ws import FeedSession
from tests.connectors.htx.conftest import BTC, TRIO
from tests.support import eventually

FAST = Settings(ws_backoff_initial_s=0.05, ws_backoff_max_s=0.2, ws_open_timeout_s=2.0)
PAIRS = {"BTC/USDT": "btcusdt", "TRIO/ETH": "trioeth"}


def generators() -> dict[str, MarketGenerator]:
    return {
        "btcusdt": MarketGenerator(Decimal("30000.00"), Decimal("0.01"), Decimal("0.000001"), levels=40, seed=3),
        # tiny prices go out in exponent form (9.121E-7), as HTX sends them
        "trioeth": MarketGenerator(Decimal("9.121E-7"), Decimal("1E-10"), Decimal("0.01"), levels=40, seed=4),
    }


async def shutdown(sim: HtxSimulator, session: FeedSession) -> None:
    # The simulator first: FeedSession.stop() cancels its read task, and on Python 3.11 asyncio.wait_for can
    # swallow a cancel that lands just as a frame arrives (CPython gh-86296), so with pings still coming stop()
    # could wait forever. With the server gone no frame can race the cancel.
    await sim.stop()
    await session.stop()


class Rig:
    def __init__(self, sim: HtxSimulator, feed: HtxFeed, session: FeedSession) -> None:
        self.sim, self.feed, self.session = sim, feed, session
        self.pairs = {sym: book.venue_symbol for sym, book in feed.books.items()}

    async def caught_up(self) -> None:
        """Wait until every mirrored book has applied the simulator's last increment."""
        levels = self.feed.levels

        def done() -> bool:
            return all(
                self.feed.books[sym].synced and self.feed.books[sym].update_id == self.sim.views[(vs, levels)].last_seq
                for sym, vs in self.pairs.items()
            )

        await eventually(done, what="books at the simulator's last increment")

    def assert_equal(self) -> None:
        levels = self.feed.levels
        for sym, vs in self.pairs.items():
            bids, asks = self.sim.book_levels(vs, levels)
            book = self.feed.books[sym]
            assert book.bids() == bids and book.asks() == asks, sym

    async def sync_and_compare(self, steps: int = 10) -> None:
        await self.session.wait_synced(timeout=5)
        await self.sim.step(steps)
        await self.caught_up()
        self.assert_equal()


@contextlib.asynccontextmanager
async def running(sim: HtxSimulator, make_feed: Callable[[str], HtxFeed]) -> AsyncIterator[Rig]:
    """Start the simulator, then a live FeedSession for the feed built on the simulator's URL."""
    await sim.start()
    feed = make_feed(sim.ws_base)
    session = FeedSession(feed, feed.url, settings=FAST)
    await session.start()
    try:
        yield Rig(sim, feed, session)
    finally:
        await shutdown(sim, session)


@pytest.fixture(params=[20, 150])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    sim = HtxSimulator(generators(), autostart_ticks=False, ping_interval_s=0.1)
    async with running(sim, lambda url: HtxFeed([BTC, TRIO], HtxSettings(ws_url=url, depth=request.param))) as r:
        yield r


async def test_syncs_and_mirrors_exactly(rig: Rig) -> None:
    await rig.sync_and_compare()
    assert rig.feed.books["TRIO/ETH"].best_bid()[0] < Decimal("1E-6")
    assert rig.sim.reqs_answered == 2 and rig.sim.reqs_rejected == 0  # REQs spaced >= 100 ms
    assert rig.feed.health.stats.bad_frames == 0 and rig.feed.health.stats.resyncs == 0


async def test_answered_pings_keep_the_connection(rig: Rig) -> None:
    await rig.session.wait_synced(timeout=5)
    # no market data at all: only the 0.1 s pings keep the connection
    await eventually(lambda: rig.sim.pings_sent >= 4 and rig.sim.pongs_received >= 4, what="four pings answered")
    assert rig.sim.ping_disconnects == 0 and rig.session.connections == 1
    assert rig.feed.pongs_sent >= 4


async def test_a_client_that_never_pongs_is_dropped() -> None:
    async with HtxSimulator(generators(), autostart_ticks=False, ping_interval_s=0.05) as sim:
        async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_base + "/feed") as ws:
            frames = 0
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.BINARY:
                    break
                frames += 1
            assert ws.closed and frames == 2  # two pings, then the server hung up
        assert sim.ping_disconnects == 1


async def test_step0_over_sockets() -> None:
    sim = HtxSimulator(generators(), autostart_ticks=False, ping_interval_s=0.1)
    async with running(sim, lambda url: HtxFeed([BTC, TRIO], HtxSettings(ws_url=url), mode="step0")) as rig:
        feed = rig.feed
        assert feed.url.endswith("/ws")
        await eventually(lambda: len(feed.acked) == 4)  # depth.step0 and trade.detail, for both symbols
        trades = []
        feed.trade_sink = trades.append
        await eventually(lambda: all(b.synced for b in feed.books.values()), step=sim.step)
        await eventually(lambda: trades, step=sim.step, what="a trade.detail push on the /ws session")
        assert trades[0].venue == "htx" and trades[0].price > 0 and trades[0].symbol in PAIRS
        await sim.step(3)
        await eventually(lambda: all(feed.books[s].update_id == sim.version[v] for s, v in PAIRS.items()))
        for sym, vs in PAIRS.items():
            bids, asks = sim.book_levels(vs, 150)
            assert feed.books[sym].bids() == bids and feed.books[sym].asks() == asks


async def test_recorded_capture_served_verbatim(samples: Path) -> None:
    from connectors.capture import LineKind, read_capture
    from connectors.htx import parse_symbols
    from connectors.htx.market_data import capture_symbols

    http, _ = list(read_capture(samples / "HUOBI.0"))
    by_venue = {i.venue_symbol: i for i in parse_symbols(http.payload)}
    lines = list(read_capture(samples / "HUOBI.ws.44.0"))
    symbols = capture_symbols(lines[0].url or "", [str(ln.payload) for ln in lines if ln.kind is LineKind.SENT])
    instruments: list[Instrument] = [by_venue[s] for s in symbols]
    sim = HtxSimulator({}, autostart_ticks=False, capture=samples / "HUOBI.ws.44.0")
    async with running(sim, lambda url: HtxFeed(instruments, HtxSettings(ws_url=url), mode="step0")) as rig:
        feed = rig.feed
        await rig.session.wait_synced(timeout=10)
        received = sum(1 for ln in lines if isinstance(ln.payload, bytes))
        await eventually(lambda: feed.health.stats.messages == received)  # the whole recording arrived
        assert feed.pongs_sent == 6
        assert feed.health.stats.bad_frames == 0 and len(feed.books) == 10
        assert feed.books["TRIO/ETH"].bids(1)[0][0] < Decimal("1E-6")


async def test_symbols_endpoint_round_trips_through_fetch_instruments() -> None:
    from connectors.htx import fetch_instruments

    async with HtxSimulator(generators(), autostart_ticks=False) as sim:
        async with aiohttp.ClientSession() as http:
            guessed = {i.venue_symbol: i for i in await fetch_instruments(http, sim.base_url)}
        assert guessed["btcusdt"].symbol == "BTC/USDT" and guessed["trioeth"].symbol == "TRIO/ETH"
        assert guessed["trioeth"].tick_size == Decimal("1E-10") and guessed["btcusdt"].step_size == Decimal("0.000001")
    async with HtxSimulator(generators(), autostart_ticks=False, instruments=[BTC]) as sim:
        async with aiohttp.ClientSession() as http:
            (btc,) = await fetch_instruments(http, sim.base_url)
        assert btc == BTC


async def test_stall_sends_nothing_then_resumes_on_the_same_connection(rig: Rig) -> None:
    await rig.sync_and_compare()
    await rig.sim.apply_fault("stall")  # at once: the simulator runs on this event loop
    pings = rig.sim.pings_sent
    await asyncio.sleep(0.4)  # the point: four ping intervals pass and nothing at all is sent while stalled
    assert rig.sim.pings_sent == pings
    await rig.sim.apply_fault("resume")
    await eventually(lambda: rig.sim.pings_sent >= pings + 2 and rig.sim.pongs_received >= pings + 1)
    assert rig.session.connections == 1 and rig.sim.ping_disconnects == 0
    await rig.sync_and_compare()
