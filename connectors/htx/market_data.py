"""HTX market data as a pure FeedHandler: frames in, book changes and actions out (no I/O, time injected).

Two modes:
  ``mbp``   ``market.<sym>.mbp.<levels>`` increments on ``/feed``, aligned to a ``req`` snapshot asked on the same
            connection, continuity by the prevSeqNum chain (sequencer.py); a broken chain asks a new snapshot.
  ``step0`` ``market.<sym>.depth.step0`` on ``/ws``: every push is a whole book (about one a second).
The transport (connectors/ws.py) connects to ``HtxFeed.url`` and hands every frame to ``on_frame``.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from decimal import Decimal
from urllib.parse import urlsplit

import structlog

from config.instruments import Instrument
from config.settings import VenueSettings
from connectors.base import Action, Send, TradeSink, VenueHealth, VenueTrade
from connectors.book import VenueBook
from connectors.booksync import BookSync, Outcome
from connectors.htx.constants import (
    DEPTH_STEP0_TOPIC,
    FEED_PATH,
    MBP_LEVELS,
    MBP_TOPIC,
    MODES,
    REQ_SPACING_NS,
    REQ_TIMEOUT_NS,
    TRADE_TOPIC,
    VENUE,
    WS_HOSTS,
    WS_PATH,
)
from connectors.htx.parse import (
    HtxAck,
    HtxDepth,
    HtxErrorAnswer,
    HtxFrameError,
    HtxMbpSnapshot,
    HtxMbpUpdate,
    HtxMessage,
    HtxPing,
    HtxTrades,
    parse_frame,
    split_topic,
    to_delta,
    to_snapshot,
)
from connectors.htx.sequencer import HtxMbpSequencer

log = structlog.get_logger(__name__)


def mbp_levels(depth: int) -> int:
    """The smallest mbp level count that covers ``depth`` (5, 20 or 150); deeper asks get 150."""
    for levels in MBP_LEVELS:
        if depth <= levels:
            return levels
    return MBP_LEVELS[-1]


def feed_url(settings: VenueSettings, mode: str) -> str:
    """``/feed`` for mbp, ``/ws`` for step0, on the host of ``settings.ws_url`` (a simulator) or HTX's."""
    base = (settings.ws_url or WS_HOSTS["mainnet"]).rstrip("/")
    for path in (WS_PATH, FEED_PATH):
        if base.endswith(path):
            base = base[: -len(path)]
            break
    return base + (FEED_PATH if mode == "mbp" else WS_PATH)


def _json_text(obj: dict[str, str | int]) -> str:
    # Compact, like the recorded frames ({"pong":1618678073643}); values are plain ids, topics and ints.
    parts = [f'"{k}":{v}' if isinstance(v, int) else f'"{k}":"{v}"' for k, v in obj.items()]
    return "{" + ",".join(parts) + "}"


class HtxFeed:
    """HTX spot books for ``instruments``; satisfies ``connectors.base.FeedHandler``."""

    venue = VENUE

    def __init__(self, instruments: list[Instrument], settings: VenueSettings, *, mode: str = "mbp") -> None:
        if mode not in MODES:
            raise ValueError(f"mode was {mode!r}, expected one of {MODES}")
        self.mode = mode
        self.settings = settings
        self.levels = mbp_levels(settings.depth) if mode == "mbp" else 0
        self.url = feed_url(settings, mode)
        self.health = VenueHealth(VENUE, stale_after_ns=int(settings.stale_after_s * 1e9))
        self.instruments: dict[str, Instrument] = {i.venue_symbol: i for i in instruments}
        self.books: dict[str, VenueBook] = {}
        self.syncs: dict[str, BookSync] = {}
        for inst in instruments:
            book = VenueBook(VENUE, inst.symbol, inst.venue_symbol, inst.price_decimals, inst.qty_decimals)
            self.books[inst.symbol] = book
            # mbp: buffer increments until the REQ snapshot; keep only the subscribed levels (the venue sends
            # no deletes for levels pushed out of the top N).
            self.syncs[inst.symbol] = BookSync(
                book,
                HtxMbpSequencer(),
                self.health.stats,
                depth=self.levels or None,
                keep_buffer=mode == "mbp",
            )
        self.error_answers = 0  # {"status":"error"} answers from the venue
        self.pongs_sent = 0
        self.trade_sink: TradeSink | None = None  # where public trades go (router/market.py sets it)
        self.acked: set[str] = set()  # topics the venue confirmed
        self._ids = 0
        self._req_queue: deque[str] = deque()  # canonical symbols waiting for a REQ
        self._req_inflight: tuple[str, str, int] | None = None  # (id, symbol, sent_ns)
        self._last_req_ns: int | None = None

    # ----- FeedHandler -----
    def on_open(self, now_ns: int) -> list[Action]:
        """Subscribe every symbol; in mbp mode also queue one REQ per symbol (sent one at a time, see _next_req)."""
        self._reset()
        self.health.stats.connected = True
        actions: list[Action] = []
        for inst in self.instruments.values():
            actions.append(Send(_json_text({"sub": self._topic(inst.venue_symbol), "id": self._new_id("sub")})))
            if self.mode == "step0" and self.settings.trades:  # /feed (mbp) does not serve trade.detail
                topic = TRADE_TOPIC.format(symbol=inst.venue_symbol)
                actions.append(Send(_json_text({"sub": topic, "id": self._new_id("sub")})))
            if self.mode == "mbp":
                self._req_queue.append(inst.symbol)
        actions.extend(self._next_req(now_ns))
        return actions

    def on_frame(self, frame: str | bytes, now_ns: int) -> list[Action]:
        stats = self.health.stats
        stats.messages += 1
        stats.last_frame_ns = now_ns
        try:
            msg = parse_frame(frame)
            actions = self._dispatch(msg, now_ns)
        except (HtxFrameError, ValueError, TypeError, OverflowError) as exc:
            # The book is untouched: parse validates first and the book's load/apply is all-or-nothing.
            stats.bad_frames += 1
            log.warning("htx_bad_frame", error=str(exc)[:300], frame=repr(frame[:80]))
            actions = []
        # REQs wait for the previous answer and 100 ms; any frame is a chance to send the next one.
        actions.extend(self._next_req(now_ns))
        return actions

    def on_close(self) -> None:
        self._reset()
        self.health.stats.connected = False

    # ----- dispatch -----
    def _dispatch(self, msg: HtxMessage, now_ns: int) -> list[Action]:
        if isinstance(msg, HtxPing):
            self.pongs_sent += 1
            return [Send(_json_text({"pong": msg.ts}))]
        if isinstance(msg, HtxMbpUpdate):
            if self.mode != "mbp" or msg.levels != self.levels:
                raise HtxFrameError(f"unsubscribed topic market.{msg.venue_symbol}.mbp.{msg.levels}")
            symbol = self._symbol(msg.venue_symbol)
            return self._after(symbol, self.syncs[symbol].on_delta(to_delta(msg, symbol), now_ns))
        if isinstance(msg, HtxMbpSnapshot):
            symbol = self._symbol(msg.venue_symbol)
            if msg.levels != self.levels:
                raise HtxFrameError(f"rep for mbp.{msg.levels}, subscribed mbp.{self.levels}")
            if self._req_inflight is not None and self._req_inflight[1] == symbol:
                self._req_inflight = None
            try:
                outcome = self.syncs[symbol].on_snapshot(to_snapshot(msg, symbol), now_ns)
            except (ValueError, TypeError, OverflowError):
                self._queue_req(symbol)  # an unreadable snapshot: ask again, and count the frame as bad
                raise
            return self._after(symbol, outcome)
        if isinstance(msg, HtxDepth):
            return self._on_depth(msg, now_ns)
        if isinstance(msg, HtxTrades):
            inst = self.instruments.get(msg.venue_symbol)
            if inst is not None and self.trade_sink is not None:
                for tid, price, amount, ts, direction in msg.items:
                    self.trade_sink(
                        VenueTrade(
                            VENUE, inst.symbol, str(tid), Decimal(price), Decimal(amount), ts, direction == "sell"
                        )
                    )
            return []
        if isinstance(msg, HtxErrorAnswer):
            self._on_error(msg)
        elif isinstance(msg, HtxAck):
            self.acked.add(msg.topic)
            log.debug("htx_subscribed", topic=msg.topic, id=msg.id)
        return []  # other topics (kline, ...) are not mirrored

    def _on_depth(self, msg: HtxDepth, now_ns: int) -> list[Action]:
        if self.mode != "step0":
            raise HtxFrameError(f"unsubscribed topic market.{msg.venue_symbol}.depth.step0")
        symbol = self._symbol(msg.venue_symbol)
        book = self.books[symbol]
        if book.synced and book.update_id is not None and msg.version <= book.update_id:
            return []  # an older or repeated push: the book is already newer
        self.syncs[symbol].on_snapshot(to_snapshot(msg, symbol), now_ns)
        return []

    def _on_error(self, msg: HtxErrorAnswer) -> None:
        self.error_answers += 1
        log.warning("htx_error_answer", id=msg.id, code=msg.code, message=msg.message)
        inflight = self._req_inflight
        if inflight is not None and inflight[0] == msg.id:
            self._req_inflight = None  # ask again, after the usual spacing
            self._queue_req(inflight[1])

    def _after(self, symbol: str, outcome: Outcome) -> list[Action]:
        if outcome is Outcome.RESYNC:
            self._queue_req(symbol)
        return []

    # ----- snapshot requests -----
    def _queue_req(self, symbol: str) -> None:
        inflight = self._req_inflight
        if symbol in self._req_queue or (inflight is not None and inflight[1] == symbol):
            return
        self._req_queue.append(symbol)

    def _next_req(self, now_ns: int) -> list[Action]:
        """At most one REQ in flight, and REQs more than 100 ms apart on the connection (HTX's rule)."""
        if self._req_inflight is not None:
            if now_ns - self._req_inflight[2] < REQ_TIMEOUT_NS:
                return []
            log.warning("htx_req_timeout", symbol=self._req_inflight[1])
            self._req_queue.append(self._req_inflight[1])
            self._req_inflight = None
        if not self._req_queue:
            return []
        if self._last_req_ns is not None and now_ns - self._last_req_ns < REQ_SPACING_NS:
            return []
        symbol = self._req_queue.popleft()
        req_id = self._new_id("req")
        self._req_inflight = (req_id, symbol, now_ns)
        self._last_req_ns = now_ns
        return [Send(_json_text({"req": self._topic(self.books[symbol].venue_symbol), "id": req_id}))]

    @property
    def pending_reqs(self) -> list[str]:
        """Symbols waiting for a snapshot (in flight first)."""
        head = [] if self._req_inflight is None else [self._req_inflight[1]]
        return head + list(self._req_queue)

    # ----- helpers -----
    def _reset(self) -> None:
        for sync in self.syncs.values():
            sync.reset()
        self.acked.clear()
        self._req_queue.clear()
        self._req_inflight = None
        self._last_req_ns = None

    def _topic(self, venue_symbol: str) -> str:
        if self.mode == "mbp":
            return MBP_TOPIC.format(symbol=venue_symbol, levels=self.levels)
        return DEPTH_STEP0_TOPIC.format(symbol=venue_symbol)

    def _symbol(self, venue_symbol: str) -> str:
        inst = self.instruments.get(venue_symbol)
        if inst is None:
            raise HtxFrameError(f"unknown symbol {venue_symbol!r}")
        return inst.symbol

    def _new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"


def mode_for_url(url: str) -> str:
    """``/feed`` carries mbp, everything else step0 (used when replaying a recorded connection)."""
    return "mbp" if urlsplit(url).path.rstrip("/").endswith(FEED_PATH) else "step0"


def capture_symbols(url: str, sent: Sequence[str]) -> list[str]:
    """Venue symbols whose book topics a recorded connection subscribed (from its sent ``sub`` frames)."""
    out: list[str] = []
    for text in sent:
        try:
            msg = json.loads(text)
            sym, kind, _ = split_topic(str(msg.get("sub", "")))
        except (ValueError, AttributeError):
            continue
        if kind in ("mbp", "depth.step0") and sym not in out:
            out.append(sym)
    return out


def make_feed(instruments: Sequence[Instrument], settings: VenueSettings, url: str) -> HtxFeed:
    """A feed for one connection URL: mbp on ``/feed``, step0 on ``/ws``."""
    return HtxFeed(list(instruments), settings, mode=mode_for_url(url))
