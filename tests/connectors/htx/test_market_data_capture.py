"""The recorded HTX connection (HUOBI.ws.44.0) through HtxFeed(mode="step0"): gzip, ping/pong, exact numbers."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

from config.settings import HtxSettings
from connectors.base import Send
from connectors.capture import LineKind, read_capture
from connectors.htx import HtxFeed, parse_symbols
from connectors.htx.market_data import capture_symbols, make_feed
from connectors.numbers import loads_exact


def _feed(samples: Path) -> tuple[HtxFeed, list]:
    (http, _config) = list(read_capture(samples / "HUOBI.0"))
    by_venue = {i.venue_symbol: i for i in parse_symbols(http.payload)}
    lines = list(read_capture(samples / "HUOBI.ws.44.0"))
    assert lines[0].kind is LineKind.OPEN and lines[0].url == "wss://api.huobi.pro/ws"
    symbols = capture_symbols(lines[0].url, [ln.payload for ln in lines if ln.kind is LineKind.SENT])
    assert len(symbols) == 10
    feed = make_feed([by_venue[s] for s in symbols], HtxSettings(), lines[0].url)
    assert feed.mode == "step0" and feed.url == "wss://api.huobi.pro/ws"
    return feed, lines


def test_capture_replay_pongs_sync_and_exact_numbers(samples: Path) -> None:
    feed, lines = _feed(samples)
    feed.on_open(lines[0].ts_ns)
    pings = 0
    expected_pong: str | None = None
    last_depth: dict[str, dict] = {}
    for line in lines:
        if line.kind is LineKind.SENT and "pong" in str(line.payload):
            # every recorded pong follows a ping we answered with exactly the same frame
            assert expected_pong == line.payload
            expected_pong = None
        if line.kind is not LineKind.RECEIVED:
            continue
        assert isinstance(line.payload, bytes)
        actions = feed.on_frame(line.payload, line.ts_ns)
        msg = loads_exact(gzip.decompress(line.payload))
        if "ping" in msg:
            pings += 1
            assert actions == [Send(f'{{"pong":{msg["ping"]}}}')]
            expected_pong = actions[0].text
        else:
            assert actions == []
        if str(msg.get("ch", "")).endswith("depth.step0"):
            last_depth[msg["ch"].split(".")[1]] = msg["tick"]
        if line.line_no == 23:  # the first trioeth push: best bid 9.121E-7 x 92730.24
            assert feed.books["TRIO/ETH"].best_bid() == (Decimal("9.121E-7"), Decimal("92730.24"))
            assert feed.books["TRIO/ETH"].to_json(1)["bids"] == [["0.0000009121", "92730.24"]]
    assert pings == 6 and feed.pongs_sent == 6 and expected_pong is None
    stats = feed.health.stats
    assert stats.bad_frames == 0 and stats.resyncs == 0
    assert all(book.synced for book in feed.books.values()), feed.books
    # Every book equals the last recorded push for it, level for level, exactly.
    for inst in feed.instruments.values():
        tick = last_depth[inst.venue_symbol]
        book = feed.books[inst.symbol]
        assert book.update_id == tick["version"]
        assert book.bids() == [(Decimal(p), Decimal(q)) for p, q in tick["bids"]]
        assert book.asks() == [(Decimal(p), Decimal(q)) for p, q in tick["asks"]]


def test_older_version_is_ignored(samples: Path) -> None:
    feed, lines = _feed(samples)
    feed.on_open(0)
    trio = [
        ln
        for ln in lines
        if ln.kind is LineKind.RECEIVED
        and b"" != ln.payload
        and "market.trioeth.depth" in gzip.decompress(ln.payload).decode()
    ]
    first, second = trio[0], trio[1]
    feed.on_frame(second.payload, 2)
    after_second = feed.books["TRIO/ETH"].to_json(150)
    feed.on_frame(first.payload, 3)  # older version arriving late changes nothing
    assert feed.books["TRIO/ETH"].to_json(150) == after_second
