"""`braid record`, `braid replay` and `braid generate-market`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import orjson

from config.settings import Settings
from connectors.capture import CaptureError
from connectors.recording import CaptureWriter, Recorder, convert_legacy
from connectors.replay import Replayer
from connectors.venues import known_venues
from gateway.options import venue_url_overrides
from router.consolidated import ConsolidatedMarket


# ----- braid record -----
async def _record(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    venues = args.venue or known_venues()
    sims: dict[str, Any] = {}
    overrides: dict[str, dict[str, object]] = {}
    if args.simulated:
        from connectors.simulators.launch import launch_simulators

        sims, sim_urls = await launch_simulators(list(args.symbols), venues)
        overrides.update(sim_urls)  # type: ignore[arg-type]
    try:
        overrides.update(venue_url_overrides(args.url or []))
    except ValueError as exc:
        print(f"braid: {exc}", file=sys.stderr)
        return 2
    settings = settings.with_venue_overrides(overrides)
    writer = CaptureWriter(
        args.out,
        recording=args.name or f"record-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}",
        rotate_bytes=int(args.rotate_mb * 1024 * 1024) if args.rotate_mb else None,
        rotate_s=args.rotate_minutes * 60 if args.rotate_minutes else None,
    )
    recorder = Recorder(writer, settings)
    try:
        await recorder.start(venues, list(args.symbols))
        deadline = None if args.seconds is None else time.monotonic() + args.seconds
        while deadline is None or time.monotonic() < deadline:
            await asyncio.sleep(0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic())))
            writer.flush()
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    finally:
        await recorder.stop()
        manifest = writer.close()
        for sim in sims.values():
            await sim.stop()
    m = orjson.loads(manifest.read_bytes())
    out.write(f"recorded {m['frames']} frames in {len(m['files'])} file(s) to {args.out} (manifest {manifest})\n")
    return 0


def record(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.convert:
        try:
            manifest = convert_legacy(args.convert, args.out, recording=args.name or Path(args.out).name)
        except (CaptureError, OSError, ValueError) as exc:
            print(f"braid: {exc}", file=sys.stderr)
            return 2
        m = orjson.loads(manifest.read_bytes())
        out.write(f"converted {m['frames']} frames from {len(args.convert)} file(s) to {args.out}\n")
        return 0
    if not args.symbols:
        print("braid: record needs --symbols (or --convert FILE...)", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_record(args, settings, out))
    except KeyboardInterrupt:
        return 0


# ----- braid replay -----
class _Progress:
    """A one-line progress bar on stderr (replay time and events)."""

    def __init__(self, replayer: Replayer, stream: TextIO, width: int = 30) -> None:
        self.r, self.stream, self.width = replayer, stream, width

    def __call__(self, done: int, total: int) -> None:
        frac = done / total if total else 1.0
        bar = "#" * int(frac * self.width)
        elapsed = (self.r.now_ns - self.r.first_ns - self.r.offset_ns) / 1e9
        self.stream.write(f"\rreplay [{bar:<{self.width}}] {frac:6.1%} {done}/{total} events, t+{elapsed:8.1f}s")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def report_lines(
    replayer: Replayer, market: ConsolidatedMarket, depth: int, fee_adjusted: bool = False
) -> list[dict[str, Any]]:
    """The deterministic `braid replay` report: a summary, one line per feed, one per consolidated book."""
    res = replayer.result
    now = replayer.now_ns
    lines: list[dict[str, Any]] = [
        {
            "kind": "summary",
            "files": [str(f) for f in replayer.files],
            "events": replayer.total_events,
            "frames": res.frames,
            "snapshots_delivered": res.snapshots_delivered,
            "first_ns": replayer.first_ns,
            "last_ns": replayer.last_ns,
            "errors": [str(e) for e in res.errors],
            "unanswered_snapshots": [list(x) for x in res.unanswered_snapshots],
        }
    ]
    for feed in res.feeds:
        stats = feed.health.stats.as_dict()
        stats.pop("connected", None)
        books = {
            sym: {"synced": b.synced, "update_id": b.update_id, "bids": b.levels.bid_count, "asks": b.levels.ask_count}
            for sym, b in sorted(feed.books.items())
        }
        lines.append({"kind": "feed", "venue": feed.venue, **stats, "books": books})
    for sym in sorted(market):
        lines.append({"kind": "book", **market[sym].snapshot(depth, fee_adjusted=fee_adjusted, now_ns=now)})
    return lines


def replay(args: argparse.Namespace, settings: Settings, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if args.flow or args.generate_flow:
        return _replay_with_flow(args, settings, out, err)
    market = ConsolidatedMarket()
    try:
        replayer = Replayer(args.paths, settings=settings, skip_bad=args.on_error == "skip", market=market)
    except CaptureError as exc:
        print(f"braid: capture error at {exc}; stopped (use --on-error skip to go on with the rest)", file=err)
        return 2
    except OSError as exc:
        print(f"braid: {exc}", file=err)
        return 2
    for e in replayer.result.errors:
        print(f"braid: skipped bad data at {e}", file=err)
    show = args.progress if args.progress is not None else err.isatty()
    progress = _Progress(replayer, err) if show else None
    started = time.perf_counter()
    if args.speed and args.speed > 0:
        asyncio.run(_paced(replayer, args.speed, progress))
    else:
        replayer.run(progress=progress)
    wall = time.perf_counter() - started
    for line in report_lines(replayer, market, args.depth, args.fees):
        out.write(orjson.dumps(line, option=orjson.OPT_SORT_KEYS).decode() + "\n")
    if show:
        print(f"braid: replayed {replayer.result.frames} frames in {wall:.2f}s", file=err)
    for venue, vs in replayer.result.unanswered_snapshots:
        print(f"braid: {venue} {vs}: needed a snapshot the capture does not have; book not trusted", file=err)
    return 0


def _replay_with_flow(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    """Route an order flow through the real router (paper execution) on the replay, and report on it."""
    try:
        from router.analysis import analyse, generate_flow, load_flow
        from router.analysis_render import _text, write_report
    except ImportError as exc:  # pandas / matplotlib are the "analysis" extra
        print(f"braid: the routing report needs the analysis extra ({exc}); run: scripts/bootstrap analysis", file=err)
        return 2
    try:
        probe = Replayer(args.paths, settings=settings, skip_bad=args.on_error == "skip")
        first, last = probe.first_ns, probe.last_ns
        symbols = sorted({sym for feed in probe.feeds for sym in feed.books})
        flow = (
            load_flow(args.flow)
            if args.flow
            else generate_flow(symbols, first, last, args.generate_flow, seed=args.flow_seed)
        )
        moments = args.depth_at or [first + (last - first) * k // 4 for k in (1, 2, 3)]
        analysis = asyncio.run(
            analyse(args.paths, flow, settings=settings, depth_at=moments, skip_bad=args.on_error == "skip")
        )
    except CaptureError as exc:
        print(f"braid: capture error at {exc}; stopped (use --on-error skip to go on with the rest)", file=err)
        return 2
    except (OSError, ValueError) as exc:
        print(f"braid: {exc}", file=err)
        return 2
    out.write(
        orjson.dumps({"kind": "summary", **_text(analysis.summary())}, option=orjson.OPT_SORT_KEYS).decode() + "\n"
    )
    for row in analysis.parent_rows():
        out.write(orjson.dumps({"kind": "parent", **_text(row)}, option=orjson.OPT_SORT_KEYS).decode() + "\n")
    if args.report:
        paths = write_report(analysis, args.report)
        print(f"braid: report written to {args.report} ({', '.join(sorted(paths))})", file=err)
    return 0


async def _paced(replayer: Replayer, speed: float, progress: _Progress | None) -> None:
    task = asyncio.create_task(replayer.run_paced(speed))
    while not task.done():
        await asyncio.sleep(0.2)
        if progress is not None:
            progress(replayer.position, replayer.total_events)
    await task
    if progress is not None and replayer.position < replayer.total_events:
        progress(replayer.total_events, replayer.total_events)


# ----- braid generate-market -----
def generate(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from connectors.simulators.generated import generate_market

    venues = tuple(args.venue or ("binance", "kraken", "htx"))
    g = generate_market(
        args.out,
        seed=args.seed,
        seconds=args.minutes * 60,
        venues=venues,
        kraken_version=1 if args.kraken_v1 else 2,
        rotate_bytes=int(args.rotate_mb * 1024 * 1024) if args.rotate_mb else None,
    )
    frames = ", ".join(f"{v} {n}" for v, n in sorted(g.frames.items()))
    out.write(
        f"generated {args.minutes:g} min (seed {args.seed}) into {args.out}: frames {frames};"
        f" {len(g.dislocations)} dislocations\n"
    )
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    rp = sub.add_parser("record", help="record venue depth (raw frames, snapshots, reference data) to compressed files")
    rp.add_argument(
        "--venue", action="append", choices=known_venues(), help="venue to record (repeatable; default all)"
    )
    rp.add_argument("--symbols", nargs="+", help="canonical symbols, e.g. BTC/USDT ETH/USDT")
    rp.add_argument("--out", required=True, help="folder for the capture parts and manifest.json")
    rp.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    rp.add_argument(
        "--rotate-mb", type=float, default=64.0, help="start a new part past this many compressed MB (default 64)"
    )
    rp.add_argument("--rotate-minutes", type=float, default=None, help="start a new part every this many minutes")
    rp.add_argument("--name", default=None, help="recording id written in every part (default: record-<UTC time>)")
    rp.add_argument("--url", action="append", help="VENUE=URL: record that venue from this URL (e.g. a simulator)")
    rp.add_argument(
        "--simulated", action="store_true", help="record Braid's local venue simulators (no network needed)"
    )
    rp.add_argument(
        "--convert", nargs="+", metavar="FILE", help="instead: convert legacy capture files into Braid's format"
    )
    rp.set_defaults(run=record)

    pp = sub.add_parser(
        "replay", help="replay captures through the feeds into the consolidated book and print a report"
    )
    pp.add_argument(
        "paths", nargs="+", help="capture files or recording folders (Braid or legacy format, venues mixed)"
    )
    pp.add_argument("--speed", type=float, default=0.0, help="real time x N (default 0: as fast as possible)")
    pp.add_argument("--depth", type=int, default=10, help="consolidated levels a side in the report (default 10)")
    pp.add_argument("--fees", action="store_true", help="report fee-adjusted consolidated prices")
    pp.add_argument(
        "--on-error", choices=("stop", "skip"), default="stop", help="bad or truncated data: stop, or report and go on"
    )
    pp.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="progress bar on stderr (default: if a terminal)",
    )
    pp.add_argument("--no-progress", dest="progress", action="store_false")
    pp.add_argument(
        "--flow", help="CSV of parent orders (time_ns,parent_id,symbol,side,qty,type,price,tif) to route on the replay"
    )
    pp.add_argument("--generate-flow", type=int, metavar="N", help="route N generated parent orders instead of a CSV")
    pp.add_argument("--flow-seed", type=int, default=1, help="seed of the generated flow (default 1)")
    pp.add_argument(
        "--depth-at",
        type=int,
        action="append",
        metavar="TIME_NS",
        help="plot the consolidated depth at this replay time (repeatable)",
    )
    pp.add_argument("--report", metavar="DIR", help="write the routing report (JSON, CSV, PNG, HTML) into this folder")
    pp.set_defaults(run=replay)

    gp = sub.add_parser(
        "generate-market", help="write a seeded, reproducible multi-venue market (BTC/USDT, ETH/USDT) as captures"
    )
    gp.add_argument("--seed", type=int, default=1)
    gp.add_argument("--minutes", type=float, default=5.0)
    gp.add_argument("--out", required=True, help="folder to write (capture parts, manifest.json, market.json)")
    gp.add_argument(
        "--venue", action="append", choices=("binance", "kraken", "htx"), help="venue to include (default all)"
    )
    gp.add_argument("--kraken-v1", action="store_true", help="Kraken WS v1 frames (XBT/USDT) instead of v2")
    gp.add_argument("--rotate-mb", type=float, default=None, help="split into parts of about this many MB")
    gp.set_defaults(run=generate)
