"""Binance diff-depth feed: combined ``@depth@100ms`` streams synced to REST snapshots (§1.4), and the
``@trade`` streams on the same connection. No I/O here."""

from __future__ import annotations

import time
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

import structlog

from config.instruments import Instrument
from config.settings import VenueSettings
from connectors.base import Action, FeedStats, FetchSnapshot, Reconnect, TradeSink, VenueHealth
from connectors.binance import parse
from connectors.binance.constants import (
    COMBINED_PATH,
    DEPTH_PATH,
    DEPTH_STREAM,
    EVENT_DEPTH,
    EVENT_SHUTDOWN,
    EVENT_TRADE,
    REST_URL,
    SNAPSHOT_LIMITS,
    TRADE_STREAM,
    VENUE,
    WS_URL,
)
from connectors.binance.sequencer import BinanceSequencer
from connectors.book import VenueBook
from connectors.booksync import BookSync, Outcome

log = structlog.get_logger(__name__)

_SEQUENCER = BinanceSequencer()
_PRICE_SCALE = 8  # Binance sends 8 decimals; the book widens its scale by itself if ever needed


class BinanceFeed:
    venue = VENUE

    def __init__(self, instruments: Iterable[Instrument], settings: VenueSettings | None = None) -> None:
        self.settings = settings or VenueSettings()
        self.health = VenueHealth(VENUE, int(self.settings.stale_after_s * 1e9), FeedStats())
        self.instruments = {inst.venue_symbol: inst for inst in instruments}
        self.books: dict[str, VenueBook] = {}
        self.syncs: dict[str, BookSync] = {}
        self._sync_by_venue_symbol: dict[str, BookSync] = {}
        for vs, inst in self.instruments.items():
            book = VenueBook(VENUE, inst.symbol, vs, _PRICE_SCALE, _PRICE_SCALE)
            sync = BookSync(book, _SEQUENCER, self.health.stats)
            self.books[inst.symbol] = book
            self.syncs[inst.symbol] = sync
            self._sync_by_venue_symbol[vs] = sync
        self.trade_sink: TradeSink | None = None  # where public trades go (router/market.py sets it)
        self.snapshot_limit = max(x for x in SNAPSHOT_LIMITS if x <= max(self.settings.depth, 5))

    # ----- endpoints -----
    def ws_base(self) -> str:
        return self.settings.ws_url or WS_URL["testnet" if self.settings.testnet else "live"]

    def rest_base(self) -> str:
        return self.settings.rest_url or REST_URL["testnet" if self.settings.testnet else "live"]

    def stream_url(self) -> str:
        names = [DEPTH_STREAM.format(symbol=vs.lower()) for vs in self.instruments]
        if self.settings.trades:
            names += [TRADE_STREAM.format(symbol=vs.lower()) for vs in self.instruments]
        streams = "/".join(names)
        return f"{self.ws_base().rstrip('/')}{COMBINED_PATH}?streams={streams}"

    def snapshot_request(self, venue_symbol: str) -> tuple[str, dict[str, str]]:
        return f"{self.rest_base().rstrip('/')}{DEPTH_PATH}", {
            "symbol": venue_symbol,
            "limit": str(self.snapshot_limit),
        }

    # ----- protocol -----
    def on_open(self, now_ns: int) -> list[Action]:
        # Streams are named in the URL; buffering starts now and each book asks for its snapshot.
        for sync in self.syncs.values():
            sync.reset()
        return [FetchSnapshot(vs) for vs in self.instruments]

    def on_close(self) -> None:
        self.health.stats.connected = False
        for sync in self.syncs.values():
            sync.reset()

    def on_frame(self, frame: str | bytes, now_ns: int) -> list[Action]:
        stats = self.health.stats
        stats.messages += 1
        stats.last_frame_ns = now_ns
        try:
            data = parse.unwrap(frame)
            event = data.get("e")
            if event == EVENT_DEPTH:
                sync = self._sync_by_venue_symbol.get(data.get("s"))  # type: ignore[arg-type]
                if sync is None:
                    raise parse.FrameError(f"unknown symbol {data.get('s')!r}")
                if sync.on_delta(parse.depth_delta(data, sync.book.symbol), now_ns) is Outcome.RESYNC:
                    return [FetchSnapshot(sync.book.venue_symbol)]
                return []
            if event == EVENT_TRADE:
                sync = self._sync_by_venue_symbol.get(data.get("s"))  # type: ignore[arg-type]
                if sync is None:
                    return []  # a recording may carry trades of symbols whose book it did not keep
                trade = parse.trade(data, sync.book.symbol)
                if self.trade_sink is not None:
                    self.trade_sink(trade)
                return []
            if event == EVENT_SHUTDOWN:
                log.info("server_shutdown", venue=VENUE)
                return [Reconnect("serverShutdown")]
            return []  # acks, bookTicker, klines: not mirrored
        except parse.FrameError as exc:
            stats.bad_frames += 1
            log.warning("bad_frame", venue=VENUE, error=str(exc), frame=_excerpt(frame))
            return []

    def on_rest_snapshot(self, venue_symbol: str, body: str | bytes, now_ns: int | None = None) -> list[Action]:
        sync = self._sync_by_venue_symbol.get(venue_symbol)
        if sync is None:
            log.warning("snapshot_for_unknown_symbol", venue=VENUE, symbol=venue_symbol)
            return []
        try:
            snap = parse.snapshot(body, sync.book.symbol)
            outcome = sync.on_snapshot(snap, now_ns or time.time_ns())
        except (parse.FrameError, ValueError, TypeError, OverflowError) as exc:
            self.health.stats.bad_frames += 1
            log.warning("bad_snapshot", venue=VENUE, symbol=venue_symbol, error=str(exc))
            return [FetchSnapshot(venue_symbol)]
        if outcome is Outcome.RESYNC:
            return [FetchSnapshot(venue_symbol)]
        log.info("book_synced", venue=VENUE, symbol=sync.book.symbol, update_id=sync.book.update_id)
        return []


def capture_symbols(url: str) -> list[str]:
    """Venue symbols whose depth stream a recorded combined-stream URL carries."""
    streams = parse_qs(urlsplit(url).query).get("streams", [""])[0].split("/")
    return [s.split("@", 1)[0].upper() for s in streams if "@depth" in s]


def _excerpt(frame: str | bytes, limit: int = 160) -> str:
    text = frame if isinstance(frame, str) else frame[:limit].decode("utf-8", "replace")
    return text[:limit]
