"""Kraken book feed (WS v2 by default, v1 for the recorded captures): frames in, books and actions out. No I/O.

Kraken sends the snapshot in-stream after the subscribe, has no update ids and checks continuity with a CRC32
of the top 10 levels after each message (venue-protocols.md §2.2-2.4). A mismatch resyncs that one symbol:
unsubscribe and subscribe again, which brings a fresh snapshot.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import orjson
import structlog

from config.instruments import Instrument
from config.settings import VenueSettings
from connectors.base import Action, BookDelta, BookSnapshot, FeedStats, Send, TradeSink, VenueHealth
from connectors.book import VenueBook
from connectors.booksync import BookSync, Checksum, Outcome
from connectors.kraken.checksum import book_checksum
from connectors.kraken.constants import (
    BOOK_CHANNEL,
    BOOK_DEPTHS,
    PING_V1,
    PING_V2,
    TRADE_CHANNEL,
    VENUE,
    WS_URL_V1,
    WS_URL_V2,
)
from connectors.kraken.parse import (
    KrakenEvent,
    KrakenParseError,
    decode_v1,
    decode_v2,
    parse_v1_book,
    parse_v1_event,
    parse_v2_book,
    parse_v2_event,
    parse_v2_trades,
)
from connectors.kraken.sequencer import KrakenSequencer

log = structlog.get_logger(__name__)

_SEQUENCER = KrakenSequencer()
# What a malformed frame can raise on its way through parse and the book (never out of on_frame).
_BAD_FRAME = (KrakenParseError, ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


def valid_depth(requested: int) -> int:
    """The smallest depth Kraken accepts that covers ``requested`` (at most 1000)."""
    return next((d for d in BOOK_DEPTHS if d >= requested), BOOK_DEPTHS[-1])


def version_for_url(url: str) -> int:
    """``wss://ws.kraken.com/v2`` -> 2; the bare host (or ``/v1``) -> 1."""
    return 2 if urlsplit(url).path.rstrip("/").endswith("/v2") else 1


def capture_symbols(url: str, sent: Sequence[str]) -> list[str]:
    """Venue pairs a recorded connection subscribed to ``book`` for (from the frames it sent)."""
    out: list[str] = []
    for text in sent:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(msg, dict):
            continue
        if msg.get("event") == "subscribe" and (msg.get("subscription") or {}).get("name") == BOOK_CHANNEL:
            out += [p for p in msg.get("pair", []) if isinstance(p, str) and p not in out]
        elif msg.get("method") == "subscribe" and (msg.get("params") or {}).get("channel") == BOOK_CHANNEL:
            out += [p for p in msg["params"].get("symbol", []) if isinstance(p, str) and p not in out]
    return out


class KrakenFeed:
    """FeedHandler for Kraken spot books; ``version`` 2 (JSON numbers, v2 names) or 1 (strings, XBT names)."""

    venue = VENUE

    def __init__(
        self, instruments: Iterable[Instrument], settings: VenueSettings | None = None, *, version: int = 2
    ) -> None:
        if version not in (1, 2):
            raise ValueError(f"Kraken WebSocket version was {version!r}, expected 1 or 2")
        self.version = version
        self.settings = settings or VenueSettings(depth=100)
        self.depth = valid_depth(self.settings.depth)
        self.health = VenueHealth(VENUE, int(self.settings.stale_after_s * 1e9), FeedStats())
        self.instruments: dict[str, Instrument] = {}
        self.books: dict[str, VenueBook] = {}
        self.syncs: dict[str, BookSync] = {}
        self.wire_symbols: dict[str, str] = {}  # canonical -> the name on this protocol version
        self._by_wire: dict[str, str] = {}  # wire name -> canonical
        # v1 checksums use the wire text: (price decimals, qty decimals) as sent, learned from the snapshot.
        self.wire_dp: dict[str, tuple[int, int] | None] = {}
        self._learn_dp: set[str] = set()  # v2 symbols without a known precision
        self._channels: dict[str, int] = {}  # v1: canonical -> channelID from the subscription ack
        self._req_ids = itertools.count(1)
        self.checksums_ok = 0  # updates whose checksum validated
        self.errors = 0  # error answers from the venue (subscription refused, ...)
        self.trade_sink: TradeSink | None = None  # where public trades go (v2 only; router/market.py sets it)
        self._last_trade: dict[str, int] = {}  # per symbol, the last trade id passed on (a resubscribe repeats some)
        for inst in instruments:
            self._add(inst)

    def _add(self, inst: Instrument) -> None:
        sym = inst.symbol
        wire = inst.venue_symbol if self.version == 1 else sym
        book = VenueBook(VENUE, sym, wire, inst.price_decimals, inst.qty_decimals)
        self.instruments[sym] = inst
        self.books[sym] = book
        self.syncs[sym] = BookSync(
            book, _SEQUENCER, self.health.stats, depth=self.depth, checksum=self._checker(sym, inst), keep_buffer=False
        )
        self.wire_symbols[sym] = wire
        self._by_wire[wire] = sym
        self.wire_dp[sym] = None
        if self.version == 2 and not (inst.tick_size and inst.step_size):
            log.warning("kraken_precision_unknown", symbol=sym)
            self._learn_dp.add(sym)

    def _checker(self, sym: str, inst: Instrument) -> Checksum:
        if self.version == 2 and inst.tick_size and inst.step_size:
            pdp, qdp = inst.price_decimals, inst.qty_decimals  # v2: the pair's precision, not the JSON text

            def check_v2(book: VenueBook, expected: int) -> bool:
                return book_checksum(book.levels, pdp, qdp) == expected

            return check_v2

        # v1 (wire text), or v2 without reference data: decimals as seen on the wire (for v2 a lower bound
        # that the many levels of a snapshot almost always reach).
        def check_wire(book: VenueBook, expected: int) -> bool:
            dp = self.wire_dp[sym]
            return dp is not None and book_checksum(book.levels, dp[0], dp[1]) == expected

        return check_wire

    # ----- endpoints and frames -----
    def url(self) -> str:
        return self.settings.ws_url or (WS_URL_V2 if self.version == 2 else WS_URL_V1)

    def ping_frame(self) -> str:
        """A client keep-alive ping (the server answers with a pong)."""
        return (PING_V2 if self.version == 2 else PING_V1) % next(self._req_ids)

    def subscribe_frame(self, symbols: Iterable[str], method: str = "subscribe") -> str:
        """The (un)subscribe frame for canonical ``symbols`` at the feed's depth."""
        wire = [self.wire_symbols[s] for s in symbols]
        if self.version == 2:
            params = {"channel": BOOK_CHANNEL, "symbol": wire, "depth": self.depth}
            if method == "subscribe":
                params["snapshot"] = True
            return orjson.dumps({"method": method, "params": params, "req_id": next(self._req_ids)}).decode()
        return orjson.dumps(
            {"event": method, "pair": wire, "subscription": {"name": BOOK_CHANNEL, "depth": self.depth}}
        ).decode()

    def trade_subscribe_frame(self, symbols: Iterable[str]) -> str:
        """The v2 subscribe frame for the ``trade`` channel (its snapshot: the last 50 trades)."""
        params = {"channel": TRADE_CHANNEL, "symbol": [self.wire_symbols[s] for s in symbols], "snapshot": True}
        return orjson.dumps({"method": "subscribe", "params": params, "req_id": next(self._req_ids)}).decode()

    # ----- the FeedHandler protocol -----
    def on_open(self, now_ns: int) -> list[Action]:
        for sym, sync in self.syncs.items():
            sync.reset()
            sync.depth = self.depth
            self.wire_dp[sym] = None
        self._channels.clear()
        self.health.stats.connected = True
        if not self.books:
            return []
        actions: list[Action] = [Send(self.subscribe_frame(self.books))]
        if self.version == 2 and self.settings.trades:
            actions.append(Send(self.trade_subscribe_frame(self.books)))
        return actions

    def on_close(self) -> None:
        self.health.stats.connected = False
        for sync in self.syncs.values():
            sync.reset()
        self._channels.clear()

    def on_frame(self, frame: str | bytes, now_ns: int) -> list[Action]:
        stats = self.health.stats
        stats.messages += 1
        stats.last_frame_ns = now_ns
        try:
            if self.version == 1:
                return self._on_v1(decode_v1(frame), now_ns)
            return self._on_v2(decode_v2(frame), now_ns)
        except _BAD_FRAME as exc:
            stats.bad_frames += 1
            log.warning("kraken_bad_frame", error=str(exc), frame=_excerpt(frame))
            return []

    # ----- v1 -----
    def _on_v1(self, msg: Any, now_ns: int) -> list[Action]:
        if isinstance(msg, dict):
            return self._on_event(parse_v1_event(msg))
        if not isinstance(msg, list):
            raise KrakenParseError(f"frame was {type(msg).__name__}, expected an object or array")
        parsed = parse_v1_book(msg, self._by_wire)
        sym = parsed.message.symbol
        chan = self._channels.get(sym)
        if chan is not None and chan != parsed.channel_id:
            raise KrakenParseError(f"channel {parsed.channel_id} for {parsed.venue_symbol}, subscribed as {chan}")
        if isinstance(parsed.message, BookSnapshot):
            actions = self._apply(parsed.message, now_ns, wire_dp=(parsed.price_dp, parsed.qty_dp))
        else:
            if self.wire_dp[sym] is None and (parsed.message.bids or parsed.message.asks):
                self.wire_dp[sym] = (parsed.price_dp, parsed.qty_dp)  # the snapshot was empty
            actions = self._apply(parsed.message, now_ns)
        return actions

    # ----- v2 -----
    def _on_v2(self, msg: Any, now_ns: int) -> list[Action]:
        if not isinstance(msg, dict):
            raise KrakenParseError(f"frame was {type(msg).__name__}, expected an object")
        if msg.get("channel") == BOOK_CHANNEL:
            actions: list[Action] = []
            for item in parse_v2_book(msg, self._by_wire):  # the whole frame is checked before any book moves
                if item.symbol in self._learn_dp:
                    seen = (_decimals(item.bids, item.asks, 0), _decimals(item.bids, item.asks, 1))
                    old = self.wire_dp[item.symbol] if isinstance(item, BookDelta) else None
                    self.wire_dp[item.symbol] = seen if old is None else (max(old[0], seen[0]), max(old[1], seen[1]))
                actions += self._apply(item, now_ns)
            return actions
        if msg.get("channel") == TRADE_CHANNEL:
            for trade in parse_v2_trades(msg, self._by_wire):
                tid = int(trade.trade_id)
                if tid <= self._last_trade.get(trade.symbol, -1):
                    continue  # already passed on (a snapshot after a resubscribe repeats recent trades)
                self._last_trade[trade.symbol] = tid
                if self.trade_sink is not None:
                    self.trade_sink(trade)
            return []
        return self._on_event(parse_v2_event(msg))

    # ----- shared -----
    def _apply(
        self, item: BookSnapshot | BookDelta, now_ns: int, wire_dp: tuple[int, int] | None = None
    ) -> list[Action]:
        sym = item.symbol
        sync = self.syncs[sym]
        if isinstance(item, BookSnapshot):
            try:
                outcome = sync.on_snapshot(item, now_ns)
            except (ValueError, TypeError, OverflowError) as exc:
                # The book is as it was; if it had none yet, ask for a fresh snapshot.
                self.health.stats.bad_frames += 1
                log.warning("kraken_bad_snapshot", symbol=sym, error=str(exc))
                return [] if self.books[sym].synced else self._resubscribe(sym)
            if wire_dp is not None:
                self.wire_dp[sym] = wire_dp
                if (
                    outcome is Outcome.SYNCED
                    and not self.books[sym].levels.bid_count + self.books[sym].levels.ask_count
                ):
                    self.wire_dp[sym] = None  # empty snapshot: learn the decimals from the first update
        else:
            outcome = sync.on_delta(item, now_ns)
            if outcome is Outcome.APPLIED and item.checksum is not None:
                self.checksums_ok += 1
        if outcome is Outcome.RESYNC:
            return self._resubscribe(sym)
        return []

    def _resubscribe(self, sym: str) -> list[Action]:
        log.info("kraken_resubscribe", symbol=sym, version=self.version)
        self._channels.pop(sym, None)
        return [Send(self.subscribe_frame([sym], "unsubscribe")), Send(self.subscribe_frame([sym]))]

    def _on_event(self, ev: KrakenEvent) -> list[Action]:
        kind = ev.kind
        if kind == "ping":
            if self.version == 2:
                return [Send(orjson.dumps({"method": "pong", "req_id": ev.req_id}).decode())]
            return [Send(orjson.dumps({"event": "pong", "reqid": ev.req_id}).decode())]
        sym = self._by_wire.get(ev.venue_symbol) if ev.venue_symbol is not None else None
        if kind == "subscribed" and sym is not None:
            if ev.channel_id is not None:
                self._channels[sym] = ev.channel_id
            if ev.depth in BOOK_DEPTHS and ev.depth != self.syncs[sym].depth:
                # Truncate to what the venue serves (a replayed capture may have used another depth).
                log.info("kraken_depth_from_ack", symbol=sym, depth=ev.depth, configured=self.depth)
                self.syncs[sym].depth = ev.depth
        elif kind == "unsubscribed" and sym is not None:
            self._channels.pop(sym, None)
        elif kind == "error":
            self.errors += 1
            log.warning("kraken_error", symbol=ev.venue_symbol, message=ev.message, req_id=ev.req_id)
        elif kind == "other":
            # A channel or event we never subscribed to: count it like any other frame we cannot use.
            raise KrakenParseError(f"unexpected message {ev.message!r}")
        return []


def _decimals(bids: Sequence[Any], asks: Sequence[Any], i: int) -> int:
    # Most decimals among the levels' price (i=0) or qty (i=1) values (JSON number text or int).
    out = 0
    for side in (bids, asks):
        for lvl in side:
            value = lvl[i]
            if type(value) is int:
                continue
            exp = Decimal(value).as_tuple().exponent
            if isinstance(exp, int) and -exp > out:
                out = -exp
    return out


def _excerpt(frame: str | bytes) -> str:
    text = frame if isinstance(frame, str) else frame[:200].decode("utf-8", "replace")
    return text[:200]
