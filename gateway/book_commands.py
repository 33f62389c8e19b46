"""`braid book replay` and `braid book watch`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TextIO

import orjson

from config.settings import Settings
from connectors.capture import CaptureError
from connectors.replay import replay_files
from connectors.venues import known_venues
from gateway.options import venue_url_overrides
from router.consolidated import ConsolidatedBook, ConsolidatedLevel
from router.market import MarketData


def replay(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        result = replay_files(args.files, settings=settings, skip_bad=args.skip_bad)
    except CaptureError as exc:
        print(f"braid: capture error at {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"braid: {exc}", file=sys.stderr)
        return 2
    for err in result.errors:
        print(f"braid: skipped bad line {err}", file=sys.stderr)
    lines = []
    for feed in result.feeds:
        for book in feed.books.values():
            lines.append((feed.venue, book.symbol, book.to_json(args.depth)))
    for _, _, body in sorted(lines, key=lambda x: (x[0], x[1])):
        out.write(orjson.dumps(body).decode() + "\n")
    for venue, vs in result.unanswered_snapshots:
        print(f"braid: {venue} {vs}: needed a snapshot the capture does not have; book not trusted", file=sys.stderr)
    return 0


def _fmt_level(level: ConsolidatedLevel | None) -> str:
    if level is None:
        return "-"
    venues = ",".join(f"{v}:{q.normalize():f}" for v, q in level.venues)
    return f"{level.price:f} x {level.qty.normalize():f} ({venues})"


def _watch_line(book: ConsolidatedBook, fee_adjusted: bool) -> str:
    bid, ask = book.best(fee_adjusted=fee_adjusted)
    stamp = time.strftime("%H:%M:%S")
    live = ",".join(book.live_venues()) or "-"
    return f"{stamp} {book.symbol} bid {_fmt_level(bid)} | ask {_fmt_level(ask)} | live {live}"


async def _watch(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    venues = args.venue or known_venues()
    try:
        overrides = venue_url_overrides(args.url or [])
    except ValueError as exc:
        print(f"braid: {exc}", file=sys.stderr)
        return 2
    settings = settings.with_venue_overrides(overrides)
    md = MarketData(settings, [args.symbol], venues)
    await md.start()
    try:
        deadline = None if args.seconds is None else time.monotonic() + args.seconds
        book = md.market.book(args.symbol)
        while deadline is None or time.monotonic() < deadline:
            await asyncio.sleep(args.interval)
            out.write(_watch_line(book, args.fees) + "\n")
            out.flush()
    finally:
        await md.stop()
    return 0


def watch(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        return asyncio.run(_watch(args, settings, out))
    except KeyboardInterrupt:
        return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    book = sub.add_parser("book", help="mirrored order books")
    bsub = book.add_subparsers(dest="book_command", required=True)
    rp = bsub.add_parser("replay", help="replay capture files and print each final book as a JSON line")
    rp.add_argument("files", nargs="+", help="capture files: streams plus their .http/.0 snapshot and reference files")
    rp.add_argument("--depth", type=int, default=10, help="levels a side to print (default 10)")
    rp.add_argument("--skip-bad", action="store_true", help="report bad lines and go on instead of stopping")
    rp.set_defaults(run=replay)
    wp = bsub.add_parser("watch", help="show the consolidated top of book live")
    wp.add_argument("--symbol", required=True, help="canonical symbol, e.g. BTC/USDT")
    wp.add_argument(
        "--venue", action="append", choices=known_venues(), help="venue to include (repeatable; default all)"
    )
    wp.add_argument("--url", action="append", help="VENUE=URL: connect that venue to this URL (e.g. a simulator)")
    wp.add_argument("--interval", type=float, default=1.0, help="seconds between lines (default 1)")
    wp.add_argument("--seconds", type=float, default=None, help="stop after this long (default: run until Ctrl-C)")
    wp.add_argument("--fees", action="store_true", help="show fee-adjusted prices")
    wp.set_defaults(run=watch)
