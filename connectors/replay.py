"""Replay recorded captures through the live parse and sync code, without sockets.

Files of several venues may be mixed: each stream file's connection URL names its venue, reference data
(exchangeInfo, AssetPairs, /v1/common/symbols) gives the instruments, and recorded REST snapshots are handed to
a feed when it asks for one (at or after the moment the recorder received them), as the live session would.
"""
from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from config.instruments import Instrument
from config.settings import Settings, get_settings
from connectors.base import Action, FeedHandler, FetchSnapshot, Send
from connectors.capture import CaptureError, CaptureLine, LineKind, read_capture
from connectors.venues import VenueSpec, venue_for_url

log = structlog.get_logger(__name__)

FrameHook = Callable[[FeedHandler, CaptureLine, list[Action]], None]


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
    lines: list[CaptureLine]
    sent: list[str]


def _load(files: Iterable[str | Path], skip_bad: bool, errors: list[CaptureError]) -> list[list[CaptureLine]]:
    out = []
    for f in files:
        out.append(list(read_capture(f, skip_bad=skip_bad, errors=errors)))
    return out


def replay_files(
    files: Iterable[str | Path],
    *,
    settings: Settings | None = None,
    skip_bad: bool = False,
    on_frame: FrameHook | None = None,
) -> ReplayResult:
    settings = settings or get_settings()
    result = ReplayResult()
    per_file = _load(files, skip_bad, result.errors)

    references: dict[str, list[Instrument]] = defaultdict(list)
    snapshots: dict[tuple[str, str], list[CaptureLine]] = defaultdict(list)
    streams: list[_Stream] = []
    for lines in per_file:
        current: _Stream | None = None
        for line in lines:
            if line.kind is LineKind.HTTP:
                spec = venue_for_url(line.url or "")
                if spec is None:
                    continue
                path = urlsplit(line.url or "").path
                if path in spec.reference_paths:
                    references[spec.name].extend(spec.load_instruments(line.payload))
                else:
                    vs = _snapshot_symbol(line.url or "")
                    if vs:
                        snapshots[(spec.name, vs)].append(line)
            elif line.kind is LineKind.OPEN:
                spec = venue_for_url(line.url or "")
                if spec is None:
                    raise CaptureError(line.file, line.line_no, f"no venue known for {line.url}")
                current = _Stream(spec, line.url or "", [line], [])
                streams.append(current)
            elif line.kind in (LineKind.RECEIVED, LineKind.SENT):
                if current is None:
                    raise CaptureError(line.file, line.line_no, "frame before any connection line")
                current.lines.append(line)
                if line.kind is LineKind.SENT:
                    current.sent.append(str(line.payload))

    feeds: dict[int, FeedHandler] = {}
    for i, st in enumerate(streams):
        wanted = st.spec.capture_symbols(st.url, st.sent)
        known = {inst.venue_symbol: inst for inst in references.get(st.spec.name, [])}
        instruments = [known.get(vs) or st.spec.bare_instrument(vs) for vs in wanted]
        feeds[i] = st.spec.make_feed(instruments, settings.venue(st.spec.name), st.url)
        result.feeds.append(feeds[i])

    # One timeline: stream lines and recorded snapshots, by receive time (stable within a file).
    pending: set[tuple[str, str]] = set()
    spare: dict[tuple[str, str], list[CaptureLine]] = defaultdict(list)
    owner: dict[str, FeedHandler] = {}

    def tagged(tag: int, lines: list[CaptureLine]) -> list[tuple[int, int, int, CaptureLine]]:
        return [(ln.ts_ns, tag, n, ln) for n, ln in enumerate(lines)]

    def events() -> Iterator[tuple[int, int, int, CaptureLine]]:
        iters = [tagged(i, st.lines) for i, st in enumerate(streams)]
        iters += [tagged(-1 - n, lines) for n, (_, lines) in enumerate(sorted(snapshots.items()))]
        return heapq.merge(*iters)

    def perform(feed: FeedHandler, actions: list[Action], ts_ns: int) -> None:
        for action in actions:
            if isinstance(action, FetchSnapshot):
                key = (feed.venue, action.venue_symbol)
                owner[feed.venue + ":" + action.venue_symbol] = feed
                if spare[key]:
                    deliver(feed, spare[key].pop(0), ts_ns)
                else:
                    pending.add(key)
            elif isinstance(action, Send):
                result.sent += 1

    def deliver(feed: FeedHandler, line: CaptureLine, ts_ns: int) -> None:
        vs = _snapshot_symbol(line.url or "")
        result.snapshots_delivered += 1
        perform(feed, feed.on_rest_snapshot(vs, line.payload, ts_ns), ts_ns)  # type: ignore[attr-defined]

    for ts_ns, idx, _, line in events():
        if idx < 0:  # a recorded snapshot becomes available
            spec = venue_for_url(line.url or "")
            assert spec is not None
            key = (spec.name, _snapshot_symbol(line.url or ""))
            if key in pending:
                pending.discard(key)
                deliver(owner[key[0] + ":" + key[1]], line, ts_ns)
            else:
                spare[key].append(line)
            continue
        feed = feeds[idx]
        if line.kind is LineKind.OPEN:
            actions = feed.on_open(ts_ns)
        elif line.kind is LineKind.RECEIVED:
            result.frames += 1
            actions = feed.on_frame(line.payload, ts_ns)
        else:
            continue
        if on_frame is not None:
            on_frame(feed, line, actions)
        perform(feed, actions, ts_ns)
    result.unanswered_snapshots = sorted(pending)
    return result


def _snapshot_symbol(url: str) -> str:
    from urllib.parse import parse_qs

    return parse_qs(urlsplit(url).query).get("symbol", [""])[0]
