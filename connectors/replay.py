"""Replay recorded captures through the live parse and sync code, without sockets.

Files of several venues and both formats (legacy lines, Braid's ``*.jsonl.gz``) may be mixed. Each connection
in the files becomes one venue feed, built exactly as the live path builds it; reference data (exchangeInfo,
AssetPairs, /v1/common/symbols) gives the instruments; a recorded REST snapshot is handed to a feed when it asks
for one (at or after the moment the recorder received it), as the live session would.

``Replayer`` is the driver: one timeline of every file merged by receive time (stable: a recording's own order
is kept, ties between inputs go by input order), stepped as fast as possible, up to a timestamp, or paced at
real time x N; callbacks can be scheduled at replay times (``at``/``every``) and see the feeds and the
consolidated market as of that time. Nothing in it reads the wall clock, except the pacing of ``run_paced``,
which changes when events happen, never what they are; the same files give the same books, byte for byte.

Driving an order flow against a replay (the router lives above connectors, so it is passed in)::

    market = ConsolidatedMarket()
    r = Replayer(["replay_data/generated/seed1"], market=market)
    r.every(500_000_000, lambda rep: router.on_tick(market, rep.now_ns))   # every 0.5 s of replay time
    r.at(r.first_ns + 60_000_000_000, lambda rep: submit(order, rep.now_ns))  # once, a minute in
    r.run()                       # or r.run_until(t) / r.step(), or await r.run_paced(speed=10)

Callbacks run between events (after every event at or before their time) and must not drive the replayer
themselves. ``r.feeds`` / ``r.feed(venue)`` give the venue feeds (books, health, counters).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import structlog

from config.instruments import Instrument
from config.settings import Settings, get_settings
from connectors.base import Action, FeedHandler, FetchSnapshot, Send, TradeSink, VenueTrade, connect_trades
from connectors.capture import CaptureError, CaptureLine, LineKind, is_braid_file, read_capture
from connectors.venues import VenueSpec, venue_for_url, venue_spec

log = structlog.get_logger(__name__)

FrameHook = Callable[[FeedHandler, CaptureLine, list[Action]], None]

# The shipped multi-venue sample (replay_data/README.md): what an offline `braid serve` can replay.
DEFAULT_REPLAY = Path(__file__).resolve().parents[1] / "replay_data" / "generated" / "seed1"

# Event codes on the timeline.
_RECV, _OPEN, _CLOSE, _SNAP = 0, 1, 2, 3


class MarketSink(Protocol):
    """Where venue books are attached: ``router.consolidated.ConsolidatedMarket`` fits."""

    def book(self, symbol: str) -> Any: ...


@dataclass
class ReplayResult:
    feeds: list[FeedHandler] = field(default_factory=list)
    errors: list[CaptureError] = field(default_factory=list)
    frames: int = 0
    snapshots_delivered: int = 0
    sent: int = 0  # frames our feeds asked to send (pongs, resubscribes), not sent anywhere on replay
    unanswered_snapshots: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Stream:
    spec: VenueSpec
    url: str
    key: tuple[Any, ...]
    sent: list[str] = field(default_factory=list)
    feed: FeedHandler | None = None


class Replayer:
    """Drive capture files through the venue feeds (and, if given, into a consolidated market).

    Parameters
    ----------
    files:
        Capture files or recording folders, of either format.
    settings:
        Venue settings for the feeds (depth, fees, priority); the defaults if None.
    skip_bad:
        Report bad lines (``errors``) and go on with the rest; otherwise the first one raises ``CaptureError``.
    market:
        Attach every feed's books to ``market.book(symbol)`` with the venue's taker fee and priority.
    on_trade:
        Called with every public venue trade the recording carries, its time re-based like the replay's.
    loop:
        Start over after the last event, ``loop_gap_ns`` later, as if every connection had dropped and reopened.
    start_ns:
        Re-base replay time so the first event happens at ``start_ns`` (e.g. now, to serve a replay as live).
    """

    def __init__(
        self,
        files: Iterable[str | Path],
        *,
        settings: Settings | None = None,
        skip_bad: bool = False,
        market: MarketSink | None = None,
        loop: bool = False,
        loop_gap_ns: int = 1_000_000_000,
        start_ns: int | None = None,
        on_frame: FrameHook | None = None,
        on_trade: TradeSink | None = None,
    ) -> None:
        from connectors.recording import expand_inputs  # recording imports the live transport; keep it lazy

        self.settings = settings or get_settings()
        self.result = ReplayResult()
        self.market = market
        self.loop = loop
        self.loop_gap_ns = loop_gap_ns
        self.on_frame = on_frame
        self.on_trade = on_trade
        self.files = expand_inputs(files)
        self._streams: dict[tuple[Any, ...], _Stream] = {}
        self._snapshots: dict[tuple[str, str], list[CaptureLine]] = defaultdict(list)
        self._references: dict[str, list[Instrument]] = defaultdict(list)
        inputs = self._load(skip_bad)
        self._make_feeds()
        self._events = self._timeline(inputs)
        self.first_ns = self._events[0][0] if self._events else 0
        self.last_ns = self._events[-1][0] if self._events else 0
        self.offset_ns = 0 if start_ns is None else start_ns - self.first_ns
        self.now_ns = self.first_ns + self.offset_ns
        self.passes = 0  # completed passes over the files (loop mode)
        self._pos = 0
        self._timers: list[tuple[int, int, Callable[[Replayer], None]]] = []
        self._timer_seq = itertools.count()
        self._pending: set[tuple[str, str]] = set()
        self._spare: dict[tuple[str, str], list[CaptureLine]] = defaultdict(list)
        self._owner: dict[tuple[str, str], FeedHandler] = {}

    # ----- loading -----
    def _load(self, skip_bad: bool) -> list[tuple[int, list[tuple[int, int, Any, Any, CaptureLine]]]]:
        """Read every file; returns the timeline inputs as (tag, events) in input order."""
        errors = self.result.errors
        legacy_inputs: list[list[CaptureLine]] = []
        braid: dict[str, list[tuple[int, list[CaptureLine]]]] = defaultdict(list)  # recording -> [(part, lines)]
        for path in self.files:
            lines = list(read_capture(path, skip_bad=skip_bad, errors=errors))
            if is_braid_file(path):
                header = next((ln for ln in lines if ln.kind is LineKind.CONFIG), None)
                rec, part = _header(header, path)
                braid[rec].append((part, [ln for ln in lines if ln.kind is not LineKind.CONFIG]))
            else:
                legacy_inputs.append(lines)

        # Legacy: one stream per connection line, snapshots as their own inputs (as the first replayer did).
        tagged: list[tuple[int, list[Any]]] = []
        streams: list[tuple[_Stream, list[CaptureLine]]] = []
        for file_lines in legacy_inputs:
            current: tuple[_Stream, list[CaptureLine]] | None = None
            for line in file_lines:
                kind = line.kind
                if kind is LineKind.HTTP:
                    self._on_http(line, None)
                elif kind is LineKind.OPEN:
                    spec = venue_for_url(line.url or "")
                    if spec is None:
                        raise CaptureError(line.file, line.line_no, f"no venue known for {line.url}")
                    st = _Stream(spec, line.url or "", ("legacy", len(streams)))
                    self._streams[st.key] = st
                    current = (st, [line])
                    streams.append(current)
                elif kind in (LineKind.RECEIVED, LineKind.SENT):
                    if current is None:
                        raise CaptureError(line.file, line.line_no, "frame before any connection line")
                    current[1].append(line)
                    if kind is LineKind.SENT:
                        current[0].sent.append(str(line.payload))
        for i, (st, lines) in enumerate(streams):
            tagged.append((i, [(ln.ts_ns, st.key, ln) for ln in lines]))
        snaps = sorted(self._snapshots.items())
        for n, (key, lines) in enumerate(snaps):
            tagged.append((-1 - n, [(ln.ts_ns, ("snap", key), ln) for ln in lines]))
        legacy_snaps = dict(self._snapshots)
        self._snapshots.clear()

        # Braid: each recording is one input, its parts concatenated in order.
        base = len(streams)
        for r, rec in enumerate(sorted(braid)):
            events: list[Any] = []
            for _, lines in sorted(braid[rec], key=lambda x: x[0]):
                for line in lines:
                    spec = self._spec_of(line)
                    if line.kind is LineKind.HTTP:
                        snap = self._on_http(line, spec)
                        if snap is not None:
                            events.append((line.ts_ns, ("snap", snap), line))
                        continue
                    skey = ("braid", rec, line.venue, line.conn)
                    known = self._streams.get(skey)
                    if known is None:
                        st = self._streams[skey] = _Stream(spec, line.url or "", skey)
                    else:
                        st = known
                    if line.kind is LineKind.OPEN and not st.url:
                        st.url = line.url or ""
                    if line.kind is LineKind.SENT:
                        st.sent.append(str(line.payload))
                        continue
                    events.append((line.ts_ns, skey, line))
            tagged.append((base + r, events))
        for key, lines in legacy_snaps.items():
            self._snapshots[key] += lines
        return tagged

    def _spec_of(self, line: CaptureLine) -> VenueSpec:
        try:
            return venue_spec(line.venue or "")
        except KeyError:
            raise CaptureError(line.file, line.line_no, f"unknown venue {line.venue!r}") from None

    def _on_http(self, line: CaptureLine, spec: VenueSpec | None) -> tuple[str, str] | None:
        """File reference data away; return the (venue, venue symbol) of a snapshot."""
        spec = spec or venue_for_url(line.url or "")
        if spec is None:
            return None
        if urlsplit(line.url or "").path in spec.reference_paths:
            self._references[spec.name].extend(spec.load_instruments(line.payload))
            return None
        vs = _snapshot_symbol(line.url or "")
        if not vs:
            return None
        self._snapshots[(spec.name, vs)].append(line)
        return (spec.name, vs)

    def _make_feeds(self) -> None:
        for st in self._streams.values():
            wanted = st.spec.capture_symbols(st.url, st.sent)
            refs = self._references.get(st.spec.name, [])
            known = {inst.symbol: inst for inst in refs}  # a wire name may be the canonical one (Kraken v2)
            known.update({inst.venue_symbol: inst for inst in refs})
            instruments = [known.get(vs) or st.spec.bare_instrument(vs) for vs in wanted]
            vs_settings = self.settings.venue(st.spec.name)
            st.feed = st.spec.make_feed(instruments, vs_settings, st.url)
            if self.on_trade is not None:
                connect_trades(st.feed, self._trade)
            self.result.feeds.append(st.feed)
            if self.market is not None:
                for sym, book in st.feed.books.items():
                    self.market.book(sym).attach(
                        book, st.feed.health, fee=vs_settings.taker_fee, priority=vs_settings.priority
                    )

    def _timeline(self, tagged: list[tuple[int, list[Any]]]) -> list[tuple[int, int, Any, Any, CaptureLine]]:
        def events(tag: int, items: list[Any]) -> Iterator[tuple[int, int, int, Any, CaptureLine]]:
            for n, (ts, key, line) in enumerate(items):
                yield ts, tag, n, key, line

        out: list[tuple[int, int, Any, Any, CaptureLine]] = []
        codes = {LineKind.RECEIVED: _RECV, LineKind.OPEN: _OPEN, LineKind.CLOSE: _CLOSE}
        for ts, _, _, key, line in heapq.merge(*(events(tag, items) for tag, items in tagged)):
            if key[0] == "snap":
                out.append((ts, _SNAP, key[1], line, line))
                continue
            code = codes.get(line.kind)
            if code is None:
                continue
            feed = self._streams[key].feed
            out.append((ts, code, feed, line.payload, line))
        return out

    def _trade(self, trade: VenueTrade) -> None:
        # A trade's venue time moves with the replay (re-based, and later on every loop pass).
        if self.on_trade is not None:
            self.on_trade(trade._replace(time_ms=trade.time_ms + self.offset_ns // 1_000_000))

    # ----- public state -----
    @property
    def feeds(self) -> list[FeedHandler]:
        return self.result.feeds

    def feed(self, venue: str) -> FeedHandler:
        """The (last) feed of ``venue``."""
        for f in reversed(self.result.feeds):
            if f.venue == venue:
                return f
        raise KeyError(venue)

    @property
    def total_events(self) -> int:
        return len(self._events)

    @property
    def position(self) -> int:
        return self._pos

    @property
    def done(self) -> bool:
        return self._pos >= len(self._events) and not self.loop

    def next_event_ns(self) -> int | None:
        """Replay time of the next event (None at the end)."""
        if self._pos >= len(self._events):
            if not self.loop or not self._events:
                return None
            return self._events[0][0] + self._next_offset()
        return self._events[self._pos][0] + self.offset_ns

    # ----- callbacks at replay times -----
    def at(self, ts_ns: int, fn: Callable[[Replayer], None]) -> None:
        """Run ``fn(self)`` once every event at or before ``ts_ns`` has been applied (and before any later one)."""
        heapq.heappush(self._timers, (ts_ns, next(self._timer_seq), fn))

    def every(self, interval_ns: int, fn: Callable[[Replayer], None], start_ns: int | None = None) -> None:
        """Run ``fn(self)`` every ``interval_ns`` of replay time, from ``start_ns`` (default: the first event)."""

        def tick(r: Replayer) -> None:
            fn(r)
            r.at(r.now_ns + interval_ns, tick)

        self.at(self.now_ns if start_ns is None else start_ns, tick)

    def _fire(self, upto_ns: int, inclusive: bool) -> None:
        timers = self._timers
        while timers and (timers[0][0] < upto_ns or (inclusive and timers[0][0] == upto_ns)):
            ts, _, fn = heapq.heappop(timers)
            self.now_ns = max(self.now_ns, ts)
            fn(self)

    # ----- driving -----
    def run(self, progress: Callable[[int, int], None] | None = None, progress_every: int = 10_000) -> ReplayResult:
        """Replay everything as fast as possible (in loop mode: one pass, then return)."""
        end = len(self._events)
        while self._pos < end:
            self._run_events(min(end, self._pos + progress_every))
            if progress is not None:
                progress(self._pos, end)
        self._fire(self.last_ns + self.offset_ns, True)
        return self.finish()

    def run_until(self, ts_ns: int) -> None:
        """Apply every event at or before replay time ``ts_ns`` and run the callbacks due by then."""
        while True:
            nxt = self.next_event_ns()
            if nxt is None or nxt > ts_ns:
                break
            if self._pos >= len(self._events):
                self._restart()
            self._run_until_ts(ts_ns)
        self._fire(ts_ns, True)
        self.now_ns = max(self.now_ns, ts_ns)

    def step(self) -> bool:
        """Apply the next event; False at the end."""
        if self._pos >= len(self._events):
            if not self.loop or not self._events:
                return False
            self._restart()
        self._run_events(self._pos + 1)
        return True

    async def run_paced(
        self, speed: float = 1.0, *, stop: asyncio.Event | None = None, max_lag_s: float = 0.05
    ) -> None:
        """Replay at ``speed`` x real time (wall clock paces only), yielding to the event loop between batches."""
        wall0, ts0 = time.monotonic(), self.now_ns
        while stop is None or not stop.is_set():
            nxt = self.next_event_ns()
            if nxt is None:
                break
            due = wall0 + (nxt - ts0) / 1e9 / speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            # Everything due by now (plus a small batch window) in one go.
            horizon = ts0 + int((time.monotonic() - wall0 + max_lag_s) * speed * 1e9)
            self.run_until(max(nxt, horizon))
        self.finish()

    def finish(self) -> ReplayResult:
        self.result.unanswered_snapshots = sorted(self._pending)
        return self.result

    def _next_offset(self) -> int:
        return self.offset_ns + (self.last_ns - self.first_ns) + self.loop_gap_ns

    def _restart(self) -> None:
        # A new pass: every connection drops, and the recorded opens bring the books back.
        self.offset_ns = self._next_offset()
        self.passes += 1
        self._pos = 0
        for f in self.result.feeds:
            f.on_close()
        self._pending.clear()
        self._spare.clear()

    def _run_until_ts(self, ts_ns: int) -> None:
        events, off = self._events, self.offset_ns
        end = self._pos
        n = len(events)
        while end < n and events[end][0] + off <= ts_ns:
            end += 1
        self._run_events(end)

    def _run_events(self, end: int) -> None:
        """The hot loop: apply events [pos, end)."""
        events, off, result, hook = self._events, self.offset_ns, self.result, self.on_frame
        timers = self._timers
        perform = self._perform
        i = self._pos
        frames = 0
        try:
            while i < end:
                ts, code, feed, payload, line = events[i]
                now = ts + off
                if timers and timers[0][0] < now:
                    self._pos = i
                    result.frames += frames
                    frames = 0
                    self._fire(now, False)
                self.now_ns = now
                i += 1
                if code == _RECV:
                    frames += 1
                    actions = feed.on_frame(payload, now)
                elif code == _OPEN:
                    actions = feed.on_open(now)
                elif code == _CLOSE:
                    feed.on_close()
                    continue
                else:
                    self._snapshot_available(feed, line, now)
                    continue
                if hook is not None:
                    hook(feed, line, actions)
                if actions:
                    perform(feed, actions, now)
        finally:
            self._pos = i
            result.frames += frames

    def _perform(self, feed: FeedHandler, actions: list[Action], now_ns: int) -> None:
        for action in actions:
            if isinstance(action, FetchSnapshot):
                key = (feed.venue, action.venue_symbol)
                self._owner[key] = feed
                if self._spare[key]:
                    self._deliver(feed, self._spare[key].pop(0), now_ns)
                else:
                    self._pending.add(key)
            elif isinstance(action, Send):
                self.result.sent += 1

    def _deliver(self, feed: FeedHandler, line: CaptureLine, now_ns: int) -> None:
        vs = _snapshot_symbol(line.url or "")
        self.result.snapshots_delivered += 1
        self._perform(feed, feed.on_rest_snapshot(vs, line.payload, now_ns), now_ns)  # type: ignore[attr-defined]

    def _snapshot_available(self, key: tuple[str, str], line: CaptureLine, now_ns: int) -> None:
        if key in self._pending:
            self._pending.discard(key)
            self._deliver(self._owner[key], line, now_ns)
        else:
            self._spare[key].append(line)


def _header(header: CaptureLine | None, path: Path) -> tuple[str, int]:
    import orjson

    if header is None:
        return f"file:{path}", 0
    meta = orjson.loads(header.payload)
    return str(meta.get("recording", f"file:{path}")), int(meta.get("part", 0))


def replay_files(
    files: Iterable[str | Path],
    *,
    settings: Settings | None = None,
    skip_bad: bool = False,
    on_frame: FrameHook | None = None,
) -> ReplayResult:
    """Replay ``files`` to the end as fast as possible and return the feeds and counters."""
    return Replayer(files, settings=settings, skip_bad=skip_bad, on_frame=on_frame).run()


def _snapshot_symbol(url: str) -> str:
    return parse_qs(urlsplit(url).query).get("symbol", [""])[0]


async def replay_live(
    paths: Iterable[str | Path],
    market: MarketSink,
    *,
    settings: Settings | None = None,
    speed: float = 1.0,
    stop: asyncio.Event | None = None,
) -> Replayer:
    """Serve recorded data as if it were live (for ``braid serve`` without network): loop forever at ``speed``,
    times re-based to now, so feed health and staleness behave as they would on live venues. Returns when
    ``stop`` is set."""
    replayer = Replayer(paths, settings=settings, market=market, loop=True, start_ns=time.time_ns())
    await replayer.run_paced(speed, stop=stop)
    return replayer
