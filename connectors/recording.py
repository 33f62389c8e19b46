"""Record venue traffic in Braid's capture format: raw frames with receive times, REST snapshots, reference data.

``CaptureWriter`` writes one recording into a folder: ``<prefix>-0001.jsonl.gz``, ``-0002`` ... (a new part when
the current one passes ``rotate_bytes`` compressed bytes or ``rotate_s`` seconds of record time) and
``manifest.json`` (files with sha256, frame counts, venues, symbols, time range), rewritten at every rotation and
at close. The format is described in ``connectors/capture.py`` and replay_data/README.md.

``Recorder`` runs one live ``FeedSession`` per venue with a tap that writes every event, the same sessions
``braid serve`` runs, so a recording replays through exactly the code that produced the live books.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import aiohttp
import structlog

from config.instruments import Instrument
from config.settings import Settings, get_settings
from connectors.base import FeedHandler
from connectors.capture import BRAID_MAGIC, BRAID_VERSION, encode_header, encode_record, read_capture
from connectors.http import get_text
from connectors.venues import VenueSpec, venue_spec
from connectors.ws import FeedSession

log = structlog.get_logger(__name__)

MANIFEST = "manifest.json"
_FRAME_DIRS = ("recv",)


@dataclass
class _Part:
    name: str
    first_ns: int | None = None
    last_ns: int | None = None
    records: int = 0
    frames: int = 0
    by_venue: dict[str, int] = field(default_factory=dict)


class CaptureWriter:
    """Writes records of one recording into ``folder``, rotating parts by compressed size or record time.

    Output is a pure function of the records written (gzip mtime 0, fixed key order), so a generator that
    writes the same records writes the same bytes.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        recording: str = "rec",
        prefix: str = "capture",
        rotate_bytes: int | None = 64 * 1024 * 1024,
        rotate_s: float | None = None,
        compresslevel: int = 6,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.recording = recording
        self.prefix = prefix
        self.rotate_bytes = rotate_bytes
        self.rotate_ns = None if rotate_s is None else int(rotate_s * 1e9)
        self.compresslevel = compresslevel
        self.parts: list[_Part] = []
        self.symbols: dict[str, set[str]] = {}  # venue -> venue symbols (told by the caller)
        self.urls: dict[str, set[str]] = {}  # venue -> connection urls seen
        self._raw: BinaryIO | None = None
        self._gz: gzip.GzipFile | None = None
        self._closed = False
        self._unflushed = 0
        self._flush_every = min(1 << 20, max(1024, (rotate_bytes or 1 << 21) // 2))

    # ----- writing -----
    def write(
        self, ts_ns: int, venue: str, conn: str, direction: str, payload: str | bytes = "", url: str | None = None
    ) -> None:
        if self._closed:
            raise ValueError("capture writer is closed")
        part = self._part_for(ts_ns)
        assert self._gz is not None
        data = encode_record(ts_ns, venue, conn, direction, payload, url)
        self._gz.write(data)
        self._unflushed += len(data)
        if self._unflushed >= self._flush_every:
            # Push compressed bytes to the file: the size rotation sees them, and a crash loses little.
            self._gz.flush()
            self._unflushed = 0
        part.records += 1
        part.first_ns = ts_ns if part.first_ns is None else min(part.first_ns, ts_ns)
        part.last_ns = ts_ns if part.last_ns is None else max(part.last_ns, ts_ns)
        if direction in _FRAME_DIRS:
            part.frames += 1
            part.by_venue[venue] = part.by_venue.get(venue, 0) + 1
        if direction == "open" and url:
            self.urls.setdefault(venue, set()).add(url)

    def add_symbols(self, venue: str, venue_symbols: Iterable[str]) -> None:
        self.symbols.setdefault(venue, set()).update(venue_symbols)

    def _part_for(self, ts_ns: int) -> _Part:
        if self._gz is not None:
            part = self.parts[-1]
            too_big = self.rotate_bytes is not None and self._raw is not None and self._raw.tell() >= self.rotate_bytes
            too_old = (
                self.rotate_ns is not None and part.first_ns is not None and ts_ns - part.first_ns >= self.rotate_ns
            )
            if not (too_big or too_old):
                return part
            self._finish_part()
        name = f"{self.prefix}-{len(self.parts) + 1:04d}.jsonl.gz"
        self._raw = open(self.folder / name, "wb")
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=self.compresslevel, mtime=0)
        self._gz.write(encode_header(self.recording, len(self.parts) + 1))
        self.parts.append(_Part(name))
        return self.parts[-1]

    def _finish_part(self) -> None:
        if self._gz is not None:
            self._gz.close()
        if self._raw is not None:
            self._raw.close()
        self._gz = self._raw = None
        self.write_manifest()

    def flush(self) -> None:
        if self._gz is not None:
            self._gz.flush()

    def close(self) -> Path:
        """Finish the last part and write the manifest; returns the manifest's path."""
        if not self._closed:
            self._finish_part()
            self._closed = True
        return self.folder / MANIFEST

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- the manifest -----
    def manifest(self) -> dict[str, Any]:
        files = []
        for p in self.parts:
            path = self.folder / p.name
            done = path.exists() and not (self._gz is not None and p is self.parts[-1])
            files.append(
                {
                    "name": p.name,
                    "bytes": path.stat().st_size if done else None,
                    "sha256": _sha256(path) if done else None,
                    "records": p.records,
                    "frames": p.frames,
                    "frames_by_venue": dict(sorted(p.by_venue.items())),
                    "first_ns": p.first_ns,
                    "last_ns": p.last_ns,
                }
            )
        firsts = [p.first_ns for p in self.parts if p.first_ns is not None]
        lasts = [p.last_ns for p in self.parts if p.last_ns is not None]
        venues: dict[str, Any] = {}
        for venue in sorted(set(self.symbols) | set(self.urls) | {v for p in self.parts for v in p.by_venue}):
            venues[venue] = {
                "symbols": sorted(self.symbols.get(venue, ())),
                "urls": sorted(self.urls.get(venue, ())),
                "frames": sum(p.by_venue.get(venue, 0) for p in self.parts),
            }
        return {
            "format": f"{BRAID_MAGIC}/{BRAID_VERSION}",
            "recording": self.recording,
            "files": files,
            "venues": venues,
            "time_range_ns": [min(firsts) if firsts else None, max(lasts) if lasts else None],
            "records": sum(p.records for p in self.parts),
            "frames": sum(p.frames for p in self.parts),
        }

    def write_manifest(self) -> None:
        text = json.dumps(self.manifest(), indent=2, sort_keys=False) + "\n"
        (self.folder / MANIFEST).write_text(text)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def capture_files(folder: str | Path) -> list[Path]:
    """The capture parts of a recording folder, in order (from its manifest if there is one)."""
    folder = Path(folder)
    manifest = folder / MANIFEST
    if manifest.exists():
        return [folder / f["name"] for f in json.loads(manifest.read_text())["files"]]
    return sorted(folder.glob("*.jsonl.gz"))


def verify_manifest(folder: str | Path) -> list[str]:
    """Problems found checking a folder against its manifest (missing files, wrong sha256); empty if fine."""
    folder = Path(folder)
    problems = []
    for f in json.loads((folder / MANIFEST).read_text())["files"]:
        path = folder / f["name"]
        if not path.exists():
            problems.append(f"{path}: missing")
        elif f.get("sha256") and _sha256(path) != f["sha256"]:
            problems.append(f"{path}: sha256 differs from the manifest")
    return problems


_NOT_CAPTURES = {MANIFEST, "market.json", "SHA256SUMS"}


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files to replay: a recording folder stands for its parts (in manifest order); any other folder for
    everything under it (sub-folders included), minus manifests, READMEs and checksum lists."""
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            out.append(p)
        elif (p / MANIFEST).exists():
            out += capture_files(p)
        else:
            out += expand_inputs(
                x for x in sorted(p.iterdir()) if x.is_dir() or (x.name not in _NOT_CAPTURES and x.suffix != ".md")
            )
    return out


# ----- recording live feeds -----
class Recorder:
    """Mirror ``symbols`` on ``venues`` through the live sessions and write everything they see."""

    def __init__(self, writer: CaptureWriter, settings: Settings | None = None) -> None:
        self.writer = writer
        self.settings = settings or get_settings()
        self.feeds: dict[str, FeedHandler] = {}
        self.sessions: dict[str, FeedSession] = {}
        self._http: aiohttp.ClientSession | None = None

    async def start(self, venues: Sequence[str], symbols: Sequence[str]) -> None:
        self._http = aiohttp.ClientSession()
        for venue in venues:
            spec = venue_spec(venue)
            insts = await self._instruments(spec, symbols)
            feed = spec.make_feed(insts, self.settings.venue(venue), "")
            conn = f"{venue}-1"
            session = FeedSession(
                feed,
                spec.stream_url(feed),
                settings=self.settings,
                snapshot_fetcher=spec.snapshot_fetcher(feed, self._http),
                tap=self._tap(venue, conn, feed, spec),
            )
            self.writer.add_symbols(venue, [b.venue_symbol for b in feed.books.values()])
            self.feeds[venue] = feed
            self.sessions[venue] = session
            await session.start()
            log.info("recording_venue", venue=venue, url=session.url, symbols=list(feed.books))

    async def _instruments(self, spec: VenueSpec, symbols: Sequence[str]) -> list[Instrument]:
        assert self._http is not None
        base = (self.settings.venue(spec.name).rest_url or spec.default_rest_url).rstrip("/")
        url = base + spec.reference_path
        known: dict[str, Instrument] = {}
        try:
            body = await get_text(self._http, url, attempts=2, timeout_s=self.settings.http_timeout_s)
            self.writer.write(time.time_ns(), spec.name, f"{spec.name}-ref", "rest", body, url)
            known = {inst.symbol: inst for inst in spec.load_instruments(body)}
        except Exception as exc:  # noqa: BLE001 - no reference data: the feed is built from the names alone
            log.warning("reference_data_unavailable", venue=spec.name, error=str(exc) or type(exc).__name__)
        return [known.get(s) or spec.bare_instrument(spec.guess_venue_symbol(s), s) for s in symbols]

    def _tap(self, venue: str, conn: str, feed: FeedHandler, spec: VenueSpec) -> Any:
        write = self.writer.write
        rest_base = (self.settings.venue(venue).rest_url or spec.default_rest_url).rstrip("/")

        def tap(kind: str, payload: str | bytes, now_ns: int, detail: str | None) -> None:
            if kind == "rest":
                write(now_ns, venue, conn, "rest", payload, _snapshot_url(feed, rest_base, detail or ""))
            elif kind == "open":
                write(now_ns, venue, conn, "open", "", detail)
            else:
                write(now_ns, venue, conn, kind, payload)

        return tap

    async def wait_synced(self, timeout: float = 10.0) -> None:
        await asyncio.gather(*(s.wait_synced(timeout=timeout) for s in self.sessions.values()))

    async def stop(self) -> None:
        # Stopping is not a disconnect: no "close" record, so a replay ends with the books as they were.
        for session in self.sessions.values():
            session.tap = None
        await asyncio.gather(*(s.stop() for s in self.sessions.values()), return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        self.writer.flush()


def _snapshot_url(feed: FeedHandler, rest_base: str, venue_symbol: str) -> str:
    # The URL the snapshot came from, with ?symbol= (how a replay matches snapshots to books).
    request = getattr(feed, "snapshot_request", None)
    if request is not None:
        url, params = request(venue_symbol)
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"{url}?{query}"
    return f"{rest_base}/snapshot?symbol={venue_symbol}"


def summarize(files: Iterable[str | Path]) -> dict[str, Any]:
    """Counts per venue and direction over capture files of either format (for ``braid record --check``)."""
    counts: dict[str, dict[str, int]] = {}
    for f in files:
        for line in read_capture(f):
            venue = line.venue or (urlsplit(line.url or "").hostname or "?")
            counts.setdefault(venue, {}).setdefault(line.kind.value, 0)
            counts[venue][line.kind.value] += 1
    return counts


def convert_legacy(
    files: Iterable[str | Path], out: str | Path, *, recording: str, rotate_bytes: int | None = None
) -> Path:
    """Rewrite legacy capture files as one Braid recording in ``out``; returns the manifest path.

    Records are written in the order the replayer merges the legacy files (connections by receive time,
    recorded snapshots before stream frames of the same instant), so the two replay to the same books.
    """
    import heapq

    from connectors.capture import LineKind
    from connectors.venues import venue_for_url

    writer = CaptureWriter(out, recording=recording, prefix="capture", rotate_bytes=rotate_bytes, compresslevel=9)
    streams: list[list[tuple[str, str, Any]]] = []  # per connection: (venue, conn, line)
    snapshots: dict[tuple[str, str], list[tuple[str, str, Any]]] = {}
    references: list[tuple[str, Any]] = []
    for f in files:
        current: list[tuple[str, str, Any]] | None = None
        venue = ""
        for line in read_capture(f):
            if line.kind is LineKind.HTTP:
                spec = venue_for_url(line.url or "")
                if spec is None:
                    continue
                if urlsplit(line.url or "").path in spec.reference_paths:
                    references.append((spec.name, line))
                else:
                    from urllib.parse import parse_qs

                    vs = parse_qs(urlsplit(line.url or "").query).get("symbol", [""])[0]
                    snapshots.setdefault((spec.name, vs), []).append((spec.name, f"{spec.name}-rest", line))
            elif line.kind is LineKind.OPEN:
                spec = venue_for_url(line.url or "")
                if spec is None:
                    raise ValueError(f"{line.file}:{line.line_no}: no venue known for {line.url}")
                venue = spec.name
                current = []
                streams.append(current)
                current.append((venue, f"{venue}-{len(streams)}", line))
            elif line.kind in (LineKind.RECEIVED, LineKind.SENT) and current is not None:
                current.append((venue, current[0][1], line))
    for venue, line in references:
        writer.write(line.ts_ns, venue, f"{venue}-ref", "rest", line.payload, line.url)
    inputs = [[(item[2].ts_ns, i, n, item) for n, item in enumerate(s)] for i, s in enumerate(streams)]
    inputs += [
        [(item[2].ts_ns, -1 - k, n, item) for n, item in enumerate(lines)]
        for k, (_, lines) in enumerate(sorted(snapshots.items()))
    ]
    from connectors.venues import venue_spec

    for stream in streams:
        venue, _, first = stream[0]
        sent = [str(x[2].payload) for x in stream if x[2].kind is LineKind.SENT]
        writer.add_symbols(venue, venue_spec(venue).capture_symbols(first.url or "", sent))
    for _, _, _, (venue, conn, line) in heapq.merge(*inputs):
        writer.write(
            line.ts_ns,
            venue,
            conn,
            {"open": "open", "received": "recv", "sent": "sent", "http": "rest"}[line.kind.value],
            line.payload,
            line.url if line.kind in (LineKind.OPEN, LineKind.HTTP) else None,
        )
    return writer.close()
