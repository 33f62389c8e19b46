"""The market-data contract: every venue's feed, live over a real socket against its simulator, passes the same
scenarios. Venue-specific rules (Binance U/u, Kraken CRC32, HTX gzip and prevSeqNum) stay in each venue's folder.

A venue joins by adding one ``MarketDataVenue`` row: how to build its simulator and which URL to connect to;
the feed itself is built through the venue table (``connectors.venues``), as the live code builds it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
import pytest

from config.instruments import Instrument
from config.settings import HtxSettings, Settings, VenueSettings
from connectors.base import FeedHandler
from connectors.simulators.binance import BinanceSimulator
from connectors.simulators.htx import HtxSimulator
from connectors.simulators.kraken import KrakenSimulator
from connectors.simulators.market import MarketGenerator
from connectors.simulators.server import SimServer
from connectors.venues import VenueSpec, venue_spec
from connectors.ws import FeedSession
from tests.support import eventually

D = Decimal
FAST = Settings(ws_backoff_initial_s=0.05, ws_backoff_max_s=0.2, ws_open_timeout_s=2.0, ws_silence_timeout_s=30)


def inst(venue: str, symbol: str, venue_symbol: str, tick: str, step: str) -> Instrument:
    base, quote = symbol.split("/")
    return Instrument(symbol, base, quote, venue, venue_symbol, D(tick), D(step))


def generator(price: str, tick: str, step: str, seed: int) -> MarketGenerator:
    return MarketGenerator(D(price), D(tick), D(step), levels=40, seed=seed)


@dataclass(frozen=True)
class MarketDataVenue:
    """One venue's row in the contract: its simulator, its instruments, how books are named and compared."""

    venue: str
    instruments: list[Instrument]
    make_sim: Callable[[list[Instrument]], SimServer]  # a simulator that moves only when the test steps it
    settings: Callable[[SimServer], VenueSettings]
    stream_arg: Callable[[SimServer], str]  # the URL handed to VenueSpec.make_feed ("" = the venue's default)
    sim_key: Callable[[Instrument], str]  # the simulator's name for an instrument's book
    depth: int | None  # levels compared (None: the whole book)
    gaps_by_checksum: bool = False  # the venue has no sequence numbers: a gap shows as a checksum failure
    invariants: Callable[[SimServer], None] = lambda sim: None  # what the simulator must never have seen

    @property
    def spec(self) -> VenueSpec:
        return venue_spec(self.venue)


BINANCE = [
    inst("binance", "BTC/USDT", "BTCUSDT", "0.01", "0.0001"),
    inst("binance", "ETH/USDT", "ETHUSDT", "0.01", "0.0001"),
]
KRAKEN = [
    inst("kraken", "BTC/USD", "XBT/USD", "0.1", "0.00000001"),
    inst("kraken", "ETH/USD", "ETH/USD", "0.01", "0.0001"),
    # 4 price decimals: v2 prints 9.999 for 9.9990, the documented precision trap
    inst("kraken", "MATIC/USD", "MATIC/USD", "0.0001", "0.00000001"),
]
HTX = [
    inst("htx", "BTC/USDT", "btcusdt", "0.01", "0.000001"),
    # tiny prices go out in exponent form (9.121E-7), as HTX sends them
    inst("htx", "TRIO/ETH", "trioeth", "1E-10", "0.01"),
]
HTX_PRICES = {"btcusdt": "30000.00", "trioeth": "9.121E-7"}


def _binance_sim(instruments: list[Instrument]) -> SimServer:
    prices = {"BTCUSDT": "30000.00", "ETHUSDT": "2000.00"}
    gens = {
        i.venue_symbol: generator(prices[i.venue_symbol], "0.01", "0.0001", n + 3) for n, i in enumerate(instruments)
    }
    return BinanceSimulator(gens, autostart_ticks=False)


def _kraken_sim(instruments: list[Instrument]) -> SimServer:
    # v1 sends XBT/USD prices with 5 decimals although the pair has 1 (as Kraken does for XBT/CHF)
    return KrakenSimulator(instruments, autostart_ticks=False, heartbeat_s=0.2, v1_price_dp={"BTC/USD": 5})


def _htx_sim(instruments: list[Instrument]) -> SimServer:
    gens = {
        i.venue_symbol: generator(HTX_PRICES[i.venue_symbol], str(i.tick_size), str(i.step_size), n + 3)
        for n, i in enumerate(instruments)
    }
    return HtxSimulator(gens, autostart_ticks=False, ping_interval_s=0.1, instruments=instruments)


def _htx_invariants(sim: SimServer) -> None:
    assert isinstance(sim, HtxSimulator) and sim.reqs_rejected == 0  # REQs always spaced as HTX requires


def _kraken(version: int) -> MarketDataVenue:
    path = "/v2" if version == 2 else "/"
    return MarketDataVenue(
        "kraken",
        KRAKEN,
        _kraken_sim,
        settings=lambda sim: VenueSettings(depth=10, ws_url=sim.ws_base + path, rest_url=sim.base_url),
        stream_arg=lambda sim: sim.ws_base + path,
        sim_key=lambda i: i.symbol,
        depth=10,
        gaps_by_checksum=True,
    )


def _htx(levels: int) -> MarketDataVenue:
    return MarketDataVenue(
        "htx",
        HTX,
        _htx_sim,
        settings=lambda sim: HtxSettings(depth=levels, ws_url=sim.ws_base, rest_url=sim.base_url),
        stream_arg=lambda sim: "",
        sim_key=lambda i: i.venue_symbol,
        depth=levels,
        invariants=_htx_invariants,
    )


VENUES = {
    "binance": MarketDataVenue(
        "binance",
        BINANCE,
        _binance_sim,
        settings=lambda sim: VenueSettings(ws_url=sim.ws_base, rest_url=sim.base_url),
        stream_arg=lambda sim: "",
        sim_key=lambda i: i.venue_symbol,
        depth=None,
    ),
    "kraken-v2": _kraken(2),
    "kraken-v1": _kraken(1),
    "htx-mbp20": _htx(20),
    "htx-mbp150": _htx(150),
}


class Live:
    """A simulator and the venue's feed connected to it by a FeedSession."""

    def __init__(
        self,
        row: MarketDataVenue,
        sim: SimServer,
        feed: FeedHandler,
        session: FeedSession,
        instruments: list[Instrument],
    ) -> None:
        self.row, self.sim, self.feed, self.session, self.instruments = row, sim, feed, session, instruments

    @property
    def stats(self):  # type: ignore[no-untyped-def]
        return self.feed.health.stats

    def books_equal(self) -> bool:
        for i in self.instruments:
            book = self.feed.books[i.symbol]
            bids, asks = self.sim.book_levels(self.row.sim_key(i), self.row.depth)
            if not book.synced or book.bids() != bids or book.asks() != asks:
                return False
        return True

    async def caught_up(self, timeout: float = 5.0) -> None:
        """Wait until every mirrored book equals the simulator's (every frame sent so far has been applied)."""
        await eventually(self.books_equal, timeout=timeout, what=f"{self.row.venue} books equal the simulator's")


@contextlib.asynccontextmanager
async def live(row: MarketDataVenue, instruments: list[Instrument] | None = None) -> AsyncIterator[Live]:
    instruments = instruments or row.instruments
    sim = row.make_sim(instruments)
    await sim.start()
    spec = row.spec
    feed = spec.make_feed(instruments, row.settings(sim), row.stream_arg(sim))
    async with aiohttp.ClientSession() as http:
        session = FeedSession(
            feed, spec.stream_url(feed), settings=FAST, snapshot_fetcher=spec.snapshot_fetcher(feed, http)
        )
        await session.start()
        try:
            await session.wait_synced(timeout=5)
            yield Live(row, sim, feed, session, instruments)
            row.invariants(sim)
        finally:
            # the simulator first: with no server, no frame can race FeedSession.stop()'s cancel (CPython gh-86296)
            await sim.stop()
            await session.stop()


@pytest.fixture(params=list(VENUES))
def row(request: pytest.FixtureRequest) -> MarketDataVenue:
    return VENUES[request.param]


async def test_snapshot_and_diffs_reach_the_simulators_book(row: MarketDataVenue) -> None:
    async with live(row) as lv:
        await lv.sim.step(30)
        await lv.caught_up()
        assert lv.stats.resyncs == 0 and lv.stats.bad_frames == 0 and lv.stats.checksum_failures == 0


async def test_a_dropped_update_leads_to_a_resync_and_a_correct_book(row: MarketDataVenue) -> None:
    async with live(row) as lv:
        await lv.sim.step(5)
        await lv.caught_up()
        resyncs, snapshots = lv.stats.resyncs, lv.stats.snapshots
        await lv.sim.apply_fault("drop")
        await eventually(lambda: lv.stats.resyncs > resyncs, step=lv.sim.step, what="a resync after the gap")
        await lv.session.wait_synced(timeout=5)
        await lv.sim.step(10)
        await lv.caught_up()
        assert lv.stats.snapshots > snapshots  # the book was rebuilt from a fresh snapshot
        assert lv.stats.checksum_failures >= (1 if lv.row.gaps_by_checksum else 0)


async def test_reordered_updates_lead_to_a_resync_and_a_correct_book(row: MarketDataVenue) -> None:
    # One instrument, so that the two swapped frames are surely updates of the same book.
    async with live(row, row.instruments[:1]) as lv:
        await lv.sim.step(3)
        await lv.caught_up()
        await lv.sim.apply_fault("reorder")
        await eventually(lambda: lv.stats.resyncs >= 1, step=lv.sim.step, what="a resync after the reorder")
        await lv.session.wait_synced(timeout=5)
        await lv.sim.step(10)
        await lv.caught_up()
        assert lv.stats.checksum_failures >= (1 if lv.row.gaps_by_checksum else 0)


async def test_a_disconnect_reconnects_and_resyncs(row: MarketDataVenue) -> None:
    async with live(row) as lv:
        await lv.sim.step(5)
        await lv.caught_up()
        await lv.sim.apply_fault("disconnect")
        await eventually(lambda: lv.stats.reconnects >= 1 and lv.session.connections >= 2, what="a new connection")
        await lv.session.wait_synced(timeout=5)
        await lv.sim.step(20)
        await lv.caught_up()
        assert lv.stats.checksum_failures == 0


@pytest.mark.parametrize("venue", ["binance", "kraken", "htx"])
async def test_instruments_from_the_reference_endpoint(venue: str) -> None:
    row = next(r for r in VENUES.values() if r.venue == venue)
    spec = row.spec
    sim = row.make_sim(row.instruments)
    async with sim, aiohttp.ClientSession() as http, http.get(sim.base_url + spec.reference_path) as resp:
        body = await resp.read()
    parsed = {i.venue_symbol: i for i in spec.load_instruments(body)}
    for want in row.instruments:
        got = parsed[want.venue_symbol]
        assert (got.symbol, got.base, got.quote, got.venue) == (want.symbol, want.base, want.quote, venue)
        assert got.tick_size == want.tick_size and got.step_size == want.step_size
