"""HtxFeed in mbp mode with generated frames: REQ pacing, buffer-then-align, duplicates, gaps, re-sync."""

from __future__ import annotations

import json

from config.settings import HtxSettings
from connectors.base import Send
from connectors.htx import HtxFeed
from connectors.htx.constants import REQ_SPACING_NS
from connectors.htx.market_data import feed_url, mbp_levels
from tests.connectors.htx.conftest import BTC, TRIO, D, mbp, rep

MS = 1_000_000


def reqs(actions: list) -> list[dict]:
    out = []
    for a in actions:
        assert isinstance(a, Send)
        msg = json.loads(a.text)
        if "req" in msg:
            out.append(msg)
    return out


def test_open_subscribes_and_sends_only_the_first_req() -> None:
    feed = HtxFeed([BTC, TRIO], HtxSettings(depth=20))
    actions = feed.on_open(0)
    sent = [json.loads(a.text) for a in actions]
    assert [m.get("sub") for m in sent[:2]] == ["market.btcusdt.mbp.20", "market.trioeth.mbp.20"]
    assert [m["req"] for m in reqs(actions)] == ["market.btcusdt.mbp.20"]
    assert feed.pending_reqs == ["BTC/USDT", "TRIO/ETH"]
    assert feed.url == "wss://api.huobi.pro/feed" and feed.health.stats.connected


def test_levels_and_urls_from_settings() -> None:
    assert [mbp_levels(d) for d in (1, 5, 6, 20, 21, 150, 1000)] == [5, 5, 20, 20, 150, 150, 150]
    s = HtxSettings(ws_url="ws://127.0.0.1:9/ws")
    assert feed_url(s, "mbp") == "ws://127.0.0.1:9/feed" and feed_url(s, "step0") == "ws://127.0.0.1:9/ws"


def test_buffer_align_duplicate_gap_and_resync() -> None:
    feed = HtxFeed([BTC, TRIO], HtxSettings(depth=20))
    (btc_req,) = reqs(feed.on_open(0))
    book = feed.books["BTC/USDT"]
    # Increments arrive before the snapshot: buffered.
    for frame in (
        mbp("btcusdt", 98, 95, bids=[["99.00", 9]]),  # older than the snapshot: dropped
        mbp("btcusdt", 100, 98, asks=[["101.00", 9]]),  # == snapshot seqNum: dropped
        mbp("btcusdt", 103, 100, bids=[[D("100.50"), D("1.5")]]),  # links to the snapshot: first applied
        mbp("btcusdt", 104, 103, asks=[[D("101.00"), 0], [D("101.50"), D("0.000001")]]),
    ):
        assert feed.on_frame(frame, 10 * MS) == []
    assert not book.synced and feed.health.stats.snapshots == 0
    # The REP at seqNum 100; the next REQ (TRIO) waits for 100 ms after the first.
    snap = rep(
        "btcusdt",
        btc_req["id"],
        100,
        [[D("100.00"), D("2")], [D("99.00"), D("3")]],
        [[D("101.00"), D("4")], [D("102.00"), D("5")]],
    )
    assert reqs(feed.on_frame(snap, 50 * MS)) == []
    assert book.synced and book.update_id == 104
    assert book.bids() == [(D("100.50"), D("1.5")), (D("100.00"), D("2")), (D("99.00"), D("3"))]
    assert book.asks() == [(D("101.50"), D("0.000001")), (D("102.00"), D("5"))]
    assert reqs(feed.on_frame(mbp("btcusdt", 100, 98, asks=[["101.00", 9]]), 100 * MS)) == []  # old: skipped
    # Any frame after 100 ms (plus our margin) carries the TRIO REQ out.
    after_spacing = REQ_SPACING_NS + MS
    actions = feed.on_frame(
        mbp("btcusdt", 104, 103, asks=[[D("101.00"), 0], [D("101.50"), D("0.000001")]]), after_spacing
    )
    (trio_req,) = reqs(actions)
    assert trio_req["req"] == "market.trioeth.mbp.20"
    assert book.update_id == 104 and feed.health.stats.resyncs == 0  # the duplicate was skipped
    feed.on_frame(
        rep("trioeth", trio_req["id"], 7, [[D("9.121E-7"), D("92730.24")]], [[D("9.2E-7"), D("1")]]),
        after_spacing + 10 * MS,
    )
    assert feed.books["TRIO/ETH"].best_bid() == (D("9.121E-7"), D("92730.24"))
    # 104 -> 107 missing: the chain breaks, the book is dropped and a new REQ goes out.
    actions = feed.on_frame(mbp("btcusdt", 110, 107, bids=[[D("100.00"), 0]]), after_spacing + REQ_SPACING_NS + MS)
    (again,) = reqs(actions)
    assert again["req"] == "market.btcusdt.mbp.20" and again["id"] != btc_req["id"]
    assert not book.synced and book.bids() == [] and feed.health.stats.resyncs == 1
    assert feed.books["TRIO/ETH"].synced  # only the broken book is rebuilt
    feed.on_frame(mbp("btcusdt", 112, 110, bids=[[D("100.25"), D("7")]]), 310 * MS)
    feed.on_frame(rep("btcusdt", again["id"], 110, [[D("100.00"), D("2")]], [[D("101.50"), D("1")]]), 320 * MS)
    assert book.synced and book.update_id == 112
    assert book.bids() == [(D("100.25"), D("7")), (D("100.00"), D("2"))]
    assert book.asks() == [(D("101.50"), D("1"))]
    feed.on_frame(mbp("btcusdt", 113, 112, asks=[[D("101.50"), D("3")]]), 330 * MS)
    assert book.asks() == [(D("101.50"), D("3"))] and feed.health.stats.resyncs == 1


def test_snapshot_older_than_the_buffer_asks_again() -> None:
    feed = HtxFeed([BTC], HtxSettings(depth=5))
    (first,) = reqs(feed.on_open(0))
    feed.on_frame(mbp("btcusdt", 205, 203, bids=[[D("1.00"), 1]], levels=5), 1 * MS)
    actions = feed.on_frame(rep("btcusdt", first["id"], 200, [[D("1.00"), 2]], [], levels=5), 2 * MS)
    assert reqs(actions) == [] and not feed.books["BTC/USDT"].synced  # 100 ms not yet passed
    (second,) = reqs(feed.on_frame(mbp("btcusdt", 206, 205, asks=[[D("2.00"), 1]], levels=5), 150 * MS))
    feed.on_frame(rep("btcusdt", second["id"], 205, [[D("1.00"), 1]], [], levels=5), 160 * MS)
    book = feed.books["BTC/USDT"]
    assert book.synced and book.update_id == 206
    assert book.bids() == [(D("1.00"), D("1"))] and book.asks() == [(D("2.00"), D("1"))]


def test_depth_is_kept_to_the_subscribed_levels() -> None:
    feed = HtxFeed([BTC], HtxSettings(depth=5))
    (req,) = reqs(feed.on_open(0))
    bids = [[D(f"{100 - i}.00"), D("1")] for i in range(5)]
    feed.on_frame(rep("btcusdt", req["id"], 10, bids, [], levels=5), 1 * MS)
    feed.on_frame(mbp("btcusdt", 11, 10, bids=[[D("100.50"), D("1")]], levels=5), 2 * MS)
    assert [p for p, _ in feed.books["BTC/USDT"].bids()] == [
        D("100.50"),
        D("100.00"),
        D("99.00"),
        D("98.00"),
        D("97.00"),
    ]


def test_error_answer_to_a_req_is_counted_and_asked_again_later() -> None:
    from connectors.simulators.htx import encode_frame

    feed = HtxFeed([BTC], HtxSettings(depth=20))
    (req,) = reqs(feed.on_open(0))
    err = encode_frame(
        {"id": req["id"], "status": "error", "err-code": "too-many-request", "err-msg": "slow down", "ts": 1}
    )
    assert reqs(feed.on_frame(err, 20 * MS)) == []
    assert feed.error_answers == 1 and feed.health.stats.bad_frames == 0
    assert reqs(feed.on_frame(encode_frame({"ping": 5}), 100 * MS)) == []
    (again,) = reqs(feed.on_frame(encode_frame({"ping": 6}), REQ_SPACING_NS + MS))
    assert again["req"] == "market.btcusdt.mbp.20"


def test_unanswered_req_is_asked_again_after_the_timeout() -> None:
    from connectors.simulators.htx import encode_frame

    feed = HtxFeed([BTC], HtxSettings(depth=20))
    feed.on_open(0)
    assert reqs(feed.on_frame(encode_frame({"ping": 1}), 5_000 * MS)) == []
    assert len(reqs(feed.on_frame(encode_frame({"ping": 2}), 10_001 * MS))) == 1


def test_close_resets_books_and_reopen_starts_over() -> None:
    feed = HtxFeed([BTC], HtxSettings(depth=20))
    (req,) = reqs(feed.on_open(0))
    feed.on_frame(rep("btcusdt", req["id"], 10, [[D("1.00"), 1]], [[D("2.00"), 1]]), 1 * MS)
    assert feed.books["BTC/USDT"].synced
    feed.on_close()
    assert not feed.books["BTC/USDT"].synced and feed.books["BTC/USDT"].bids() == []
    assert not feed.health.stats.connected and feed.pending_reqs == []
    assert len(reqs(feed.on_open(2 * MS))) == 1  # a fresh connection may REQ at once
