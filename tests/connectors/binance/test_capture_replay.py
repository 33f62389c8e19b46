"""Replaying the recorded Binance capture through the live parse and sync code."""

from __future__ import annotations

from decimal import Decimal

import orjson

from connectors.base import Verdict
from connectors.binance import BinanceSequencer, parse
from connectors.capture import LineKind, read_capture
from connectors.replay import replay_files

DIR = "binance/cryptofeed_2021-10-12"


def files(samples):
    d = samples / DIR
    return [d / "BINANCE.ws.1.0", d / "BINANCE.http.0.0", d / "BINANCE.0"]


def test_mirrored_top_of_book_equals_every_matching_book_ticker(samples):
    tops: dict[tuple[str, int], tuple] = {}
    tickers: list[parse.BookTicker] = []

    def hook(feed, line, actions):
        if line.kind is not LineKind.RECEIVED:
            return
        data = parse.unwrap(line.payload)
        if data.get("e") == "depthUpdate":
            book = feed.books[feed.instruments[data["s"]].symbol]
            if book.synced and book.update_id == data["u"]:
                tops[(data["s"], data["u"])] = (book.best_bid(), book.best_ask())
        elif {"u", "s", "b", "B", "a", "A"} <= data.keys():
            tickers.append(parse.book_ticker(data))

    result = replay_files(files(samples), on_frame=hook)
    depth_ids = set()
    for line in read_capture(samples / DIR / "BINANCE.ws.1.0"):
        if line.kind is LineKind.RECEIVED:
            data = parse.unwrap(line.payload)
            if data.get("e") == "depthUpdate":
                depth_ids.add((data["s"], data["u"]))
    comparable = [t for t in tickers if (t.venue_symbol, t.update_id) in depth_ids]
    assert len(comparable) >= 20
    symbols = set()
    for t in comparable:
        (bid, bid_qty), (ask, ask_qty) = tops[(t.venue_symbol, t.update_id)]
        assert (bid, bid_qty, ask, ask_qty) == (
            Decimal(t.bid_price),
            Decimal(t.bid_qty),
            Decimal(t.ask_price),
            Decimal(t.ask_qty),
        ), t
        symbols.add(t.venue_symbol)
    assert symbols == {"NKNUSDT", "LRCBTC", "BLZETH"}  # RUNEEUR has no bookTicker in the capture
    feed = result.feeds[0]
    assert all(book.synced for book in feed.books.values())
    assert feed.health.stats.resyncs == 0 and feed.health.stats.bad_frames == 0
    assert result.unanswered_snapshots == []


def test_documented_drop_then_apply_happens_on_the_real_capture(samples):
    """NKNUSDT: snapshot lastUpdateId 499869752 drops the first buffered event and applies U=499869753."""
    seq = BinanceSequencer()
    result = replay_files(files(samples))
    nkn = result.feeds[0].books["NKN/USDT"]
    assert nkn.synced
    snap = orjson.loads(next(read_capture(samples / DIR / "BINANCE.http.0.0")).payload)
    assert snap["lastUpdateId"] == 499869752
    first_events = []
    for line in read_capture(samples / DIR / "BINANCE.ws.1.0"):
        if line.kind is LineKind.RECEIVED:
            data = parse.unwrap(line.payload)
            if data.get("s") == "NKNUSDT" and data.get("e") == "depthUpdate":
                first_events.append(parse.depth_delta(data, "NKN/USDT"))
    verdicts = [seq.bridge(snap["lastUpdateId"], d) for d in first_events[:2]]
    assert verdicts == [Verdict.SKIP, Verdict.APPLY]
    assert first_events[1].first_id == snap["lastUpdateId"] + 1


def test_a_removed_event_is_detected_as_a_gap(samples, tmp_path):
    """Drop one NKNUSDT depth event from the capture: the feed must see the gap and ask for a new snapshot."""
    src = (samples / DIR / "BINANCE.ws.1.0").read_text().splitlines(keepends=True)
    nkn = [i for i, ln in enumerate(src) if '"s":"NKNUSDT"' in ln and "depthUpdate" in ln]
    del src[nkn[20]]
    broken = tmp_path / "BINANCE.ws.1.0"
    broken.write_text("".join(src))
    d = samples / DIR
    result = replay_files([broken, d / "BINANCE.http.0.0", d / "BINANCE.0"])
    feed = result.feeds[0]
    assert feed.health.stats.resyncs == 1
    assert not feed.books["NKN/USDT"].synced  # the one recorded snapshot is used up: no trusted book
    assert result.unanswered_snapshots == [("binance", "NKNUSDT")]
    assert feed.books["LRC/BTC"].synced  # other symbols are untouched
