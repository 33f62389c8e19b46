"""Market data as the router sees it: one live feed session per venue feeding the consolidated books, and
the venues' public trades handed to ``trade_listeners``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from config.instruments import Instrument
from config.settings import Settings
from connectors.base import FeedHandler, TradeSink, VenueTrade, connect_trades
from connectors.http import get_text
from connectors.venues import VenueSpec, venue_spec
from connectors.ws import FeedSession
from router.consolidated import ConsolidatedMarket

log = structlog.get_logger(__name__)


async def resolve_instruments(
    spec: VenueSpec, symbols: Iterable[str], settings: Settings, http: aiohttp.ClientSession
) -> list[Instrument]:
    """The venue's rules for our canonical symbols, from its reference data; names alone if that fails."""
    wanted = list(symbols)
    base = (settings.venue(spec.name).rest_url or spec.default_rest_url).rstrip("/")
    try:
        body = await get_text(http, base + spec.reference_path, attempts=2, timeout_s=settings.http_timeout_s)
        known = {inst.symbol: inst for inst in spec.load_instruments(body)}
    except Exception as exc:  # noqa: BLE001 - no network, or a simulator without reference data
        log.warning("reference_data_unavailable", venue=spec.name, error=str(exc) or type(exc).__name__)
        known = {}
    out = []
    for sym in wanted:
        inst = known.get(sym)
        if inst is None:
            inst = spec.bare_instrument(spec.guess_venue_symbol(sym), sym)
        out.append(inst)
    return out


class MarketData:
    def __init__(self, settings: Settings, symbols: Iterable[str], venues: Iterable[str]) -> None:
        self.settings = settings
        self.symbols = list(symbols)
        self.venues = list(venues)
        self.market = ConsolidatedMarket()
        self.feeds: dict[str, FeedHandler] = {}
        self.sessions: dict[str, FeedSession] = {}
        self.trade_listeners: list[TradeSink] = []  # every venue's public trades (the API's market data)
        self._http: aiohttp.ClientSession | None = None

    async def start(self, instruments: Mapping[str, list[Instrument]] | None = None) -> None:
        self._http = aiohttp.ClientSession()
        for venue in self.venues:
            spec = venue_spec(venue)
            vs = self.settings.venue(venue)
            insts = (instruments or {}).get(venue) or await resolve_instruments(
                spec, self.symbols, self.settings, self._http
            )
            feed = spec.make_feed(insts, vs, "")
            connect_trades(feed, lambda trade: _fan_out(self.trade_listeners, trade))
            session = FeedSession(
                feed,
                spec.stream_url(feed),
                settings=self.settings,
                snapshot_fetcher=spec.snapshot_fetcher(feed, self._http),
            )
            self.feeds[venue] = feed
            self.sessions[venue] = session
            for sym, book in feed.books.items():
                self.market.book(sym).attach(book, feed.health, fee=vs.taker_fee, priority=vs.priority)
            await session.start()
            log.info("venue_started", venue=venue, url=spec.stream_url(feed), symbols=list(feed.books))

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.sessions.values()), return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def status(self, now_ns: int | None = None) -> dict[str, Any]:
        return market_status(self.feeds, self.market, now_ns)


class ReplayMarketData:
    """The same face as ``MarketData``, fed by recorded data looping at wall-clock time.

    What ``braid serve`` runs with no network: the shipped recordings go through the same feed handlers and
    into the same consolidated books, with times re-based to now so health and staleness behave as live.
    """

    def __init__(self, settings: Settings, paths: Iterable[str | Path], *, speed: float = 1.0) -> None:
        self.settings = settings
        self.paths = list(paths)
        self.speed = speed
        self.market = ConsolidatedMarket()
        self.feeds: dict[str, FeedHandler] = {}
        self.trade_listeners: list[TradeSink] = []  # the recordings' public trades, re-based to now
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, instruments: Mapping[str, list[Instrument]] | None = None) -> None:
        from connectors.replay import Replayer  # the replayer pulls in the recorder; only needed here

        replayer = Replayer(
            self.paths,
            settings=self.settings,
            market=self.market,
            loop=True,
            start_ns=time.time_ns(),
            on_trade=lambda trade: _fan_out(self.trade_listeners, trade),
        )
        self.feeds = {feed.venue: feed for feed in replayer.feeds}
        self._task = asyncio.create_task(replayer.run_paced(self.speed, stop=self._stop), name="replay-market")
        log.info("replay_market_started", paths=[str(p) for p in self.paths], venues=sorted(self.feeds))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, timeout=5)

    def status(self, now_ns: int | None = None) -> dict[str, Any]:
        return market_status(self.feeds, self.market, now_ns)


def _fan_out(listeners: list[TradeSink], trade: VenueTrade) -> None:
    for listener in listeners:
        try:
            listener(trade)
        except Exception:  # one listener's failure must not stop the feed
            log.exception("trade_listener_failed", venue=trade.venue, symbol=trade.symbol)


def market_status(
    feeds: Mapping[str, FeedHandler], market: ConsolidatedMarket, now_ns: int | None = None
) -> dict[str, Any]:
    """Health and counters per venue, and which venues each consolidated book is using now."""
    now = now_ns or time.time_ns()
    venues = {}
    for name, feed in feeds.items():
        h = feed.health
        venues[name] = {
            "stale": h.is_stale(now),
            "last_frame_age_s": h.age_s(now),
            "books": {sym: {"synced": b.synced, "update_id": b.update_id} for sym, b in feed.books.items()},
            **h.stats.as_dict(),
        }
    return {"venues": venues, "symbols": {sym: market[sym].live_venues(now) for sym in market}}
