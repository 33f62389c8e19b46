"""KrakenFeed without sockets: the recorded v1 capture, the v2 doc examples, resyncs and bad frames."""

from __future__ import annotations

import json
from decimal import Decimal

import orjson
import pytest

from config.instruments import Instrument
from config.settings import VenueSettings
from connectors.base import Send
from connectors.capture import CaptureLine, LineKind
from connectors.kraken import KrakenFeed, valid_depth, version_for_url
from connectors.numbers import format_units
from tests.connectors.kraken.conftest import FIXTURES, kraken_instrument

MATIC = kraken_instrument("MATIC/USD", "MATIC/USD", "0.0001", "0.00000001")


def v1_feed(instruments: list[Instrument], depth: int = 1000) -> KrakenFeed:
    return KrakenFeed(instruments, VenueSettings(depth=depth), version=1)


def received(lines: list[CaptureLine]) -> list[CaptureLine]:
    return [line for line in lines if line.kind is LineKind.RECEIVED]


def book_state(feed: KrakenFeed) -> dict[str, object]:
    return {s: (b.synced, b.to_json(depth=10_000)) for s, b in feed.books.items()}


def sent(actions: list[object]) -> list[dict[str, object]]:
    assert all(isinstance(a, Send) for a in actions)
    return [json.loads(a.text) for a in actions]  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------- the capture
def test_capture_replay_every_checksum_validates(capture_lines, capture_instruments) -> None:
    feed = v1_feed(capture_instruments)
    actions = []
    for line in received(capture_lines):
        actions += feed.on_frame(line.payload, line.ts_ns)
    stats = feed.health.stats
    assert stats.checksum_failures == 0 and stats.resyncs == 0 and stats.bad_frames == 0
    assert feed.checksums_ok == 4269
    assert stats.snapshots == 10
    assert len(feed.books) == 10 and all(b.synced for b in feed.books.values())
    assert actions == []
    assert feed.books["BTC/CHF"].venue_symbol == "XBT/CHF"
    # XBT/CHF is sent with 5 price decimals although pair_decimals is 1 (§2.4): the wire text counts.
    assert feed.wire_dp["BTC/CHF"] == (5, 8)


def _snapshot_frame(feed: KrakenFeed, sym: str, chan: int) -> str:
    """A v1 snapshot frame of ``feed``'s current book, at the wire decimals."""
    book = feed.books[sym]
    pdp, qdp = feed.wire_dp[sym]  # type: ignore[misc]
    ps, qs = book.price_scale, book.qty_scale

    def levels(side: list[tuple[int, int]]) -> list[list[str]]:
        return [
            [format_units(p * 10 ** (pdp - ps), pdp), format_units(q * 10 ** (qdp - qs), qdp), "0.0"] for p, q in side
        ]

    body = {"as": levels(book.levels.asks()), "bs": levels(book.levels.bids())}
    return orjson.dumps([chan, body, "book-1000", book.venue_symbol]).decode()


def test_checksum_mismatch_marks_book_stale_and_resyncs(capture_lines, capture_instruments) -> None:
    frames = received(capture_lines)
    clean = v1_feed(capture_instruments)
    target = None  # first update after frame 500 whose first ask level lands in the top 10
    for i, line in enumerate(frames):
        clean.on_frame(line.payload, line.ts_ns)
        if target is None and i > 500 and str(line.payload).startswith("[") and '{"a":[["' in str(line.payload):
            msg = json.loads(str(line.payload))
            price, qty = msg[1]["a"][0][:2]
            sym = clean._by_wire[msg[-1]]
            top = clean.books[sym].asks(10)
            if Decimal(qty) != 0 and any(p == Decimal(price) for p, _ in top):
                target = i
                break
    assert target is not None

    feed = v1_feed(capture_instruments)
    for line in frames[:target]:
        assert feed.on_frame(line.payload, line.ts_ns) == []
    assert feed.health.stats.checksum_failures == 0
    msg = json.loads(str(frames[target].payload))
    qty = msg[1]["a"][0][1]
    altered = qty[:-1] + ("1" if qty[-1] != "1" else "2")
    msg[1]["a"][0][1] = altered
    pair = msg[-1]
    sym = feed._by_wire[pair]

    actions = feed.on_frame(json.dumps(msg), frames[target].ts_ns)

    assert feed.health.stats.checksum_failures == 1
    assert feed.health.stats.resyncs == 1
    assert not feed.books[sym].synced
    assert sent(actions) == [
        {"event": "unsubscribe", "pair": [pair], "subscription": {"name": "book", "depth": 1000}},
        {"event": "subscribe", "pair": [pair], "subscription": {"name": "book", "depth": 1000}},
    ]
    # A fresh snapshot (here: the clean replay's book at the same point) brings the book back.
    feed.on_frame(_snapshot_frame(clean, sym, msg[0]), frames[target].ts_ns)
    assert feed.books[sym].synced
    for line in frames[target + 1 :]:
        clean.on_frame(line.payload, line.ts_ns)
        assert feed.on_frame(line.payload, line.ts_ns) == []
    assert feed.health.stats.checksum_failures == 1
    assert book_state(feed) == book_state(clean)


BAD_V1 = [
    '[1360,{"a":[["0.000022900","13355.8745',  # truncated JSON
    '[1360,{"a":[[["0.000022900"],"1.00000000","1618678133.1"]],"c":"1"},"book-1000","ADA/XBT"]',  # price as a list
    '[1360,{"a":[[0.0000229,"1.00000000","1618678133.1"]],"c":"1"},"book-1000","ADA/XBT"]',  # price as a number
    '[1360,{"a":[["0.000022900","1.00000000","1"]],"c":"1"},"book-1000","DOGE/XBT"]',  # unknown pair
    '[9999,{"a":[["0.000022900","1.00000000","1"]],"c":"1"},"book-1000","ADA/XBT"]',  # unknown channel id
    '[1360,{"a":[["0.000022900","-1.00000000","1"]],"c":"1"},"book-1000","ADA/XBT"]',  # negative qty
    '[1360,{"a":[["0.000022900","1.00000000","1"]],"c":"1"},"trade","ADA/XBT"]',  # another channel
    '[1360,{"as":[["0.000022900","x","1"]],"bs":[]},"book-1000","ADA/XBT"]',  # snapshot with a bad qty
    "42",
    b"\xff\xfe not json",
    '{"event":"surprise"}',  # an event we do not know
]


def test_bad_frames_are_counted_and_never_change_a_book(capture_lines, capture_instruments) -> None:
    feed = v1_feed(capture_instruments)
    frames = received(capture_lines)
    for line in frames[:1000]:
        feed.on_frame(line.payload, line.ts_ns)
    before = book_state(feed)
    stats_before = feed.health.stats.as_dict()
    for frame in BAD_V1:
        assert feed.on_frame(frame, 1) == []
    assert feed.health.stats.bad_frames == stats_before["bad_frames"] + len(BAD_V1)
    assert feed.health.stats.checksum_failures == stats_before["checksum_failures"]
    assert book_state(feed) == before
    for line in frames[1000:]:  # and the stream carries on validating
        feed.on_frame(line.payload, line.ts_ns)
    assert feed.health.stats.checksum_failures == 0 and feed.checksums_ok == 4269


# ----------------------------------------------------------------------------------------- v2
def test_v2_subscribe_frame_and_doc_example() -> None:
    feed = KrakenFeed([MATIC], VenueSettings(depth=10))
    sub, trades = sent(feed.on_open(0))
    assert sub["method"] == "subscribe" and isinstance(sub["req_id"], int)
    assert sub["params"] == {"channel": "book", "symbol": ["MATIC/USD"], "depth": 10, "snapshot": True}
    assert trades["params"] == {"channel": "trade", "symbol": ["MATIC/USD"], "snapshot": True}
    assert feed.health.stats.connected
    assert feed.on_frame((FIXTURES / "ws_book_v2_matic_snapshot.json").read_text(), 1) == []
    book = feed.books["MATIC/USD"]
    assert book.synced and book.best_bid() == (Decimal("0.5666"), Decimal("4831.75496356"))
    assert feed.on_frame((FIXTURES / "ws_book_v2_matic_update.json").read_bytes(), 2) == []
    assert feed.checksums_ok == 1 and feed.health.stats.checksum_failures == 0
    assert book.bids()[-1] == (Decimal("0.5657"), Decimal("1098.3947558"))
    feed.on_close()
    assert not book.synced and not feed.health.stats.connected


def test_v2_checksum_mismatch_resubscribes_that_symbol() -> None:
    feed = KrakenFeed([MATIC, kraken_instrument("BTC/USD", "XBT/USD", "0.1", "0.00000001")], VenueSettings(depth=25))
    feed.on_open(0)
    feed.on_frame((FIXTURES / "ws_book_v2_matic_snapshot.json").read_text(), 1)
    bad = (FIXTURES / "ws_book_v2_matic_update.json").read_text().replace("2114181697", "2114181698")
    unsub, sub = sent(feed.on_frame(bad, 2))
    assert unsub["method"] == "unsubscribe"
    assert unsub["params"] == {"channel": "book", "symbol": ["MATIC/USD"], "depth": 25}
    assert sub["params"] == {"channel": "book", "symbol": ["MATIC/USD"], "depth": 25, "snapshot": True}
    assert feed.health.stats.checksum_failures == 1 and not feed.books["MATIC/USD"].synced
    # Updates still in flight before the fresh snapshot are ignored; the snapshot restores the book.
    assert feed.on_frame((FIXTURES / "ws_book_v2_matic_update.json").read_text(), 3) == []
    assert feed.on_frame((FIXTURES / "ws_book_v2_matic_snapshot.json").read_text(), 4) == []
    assert feed.books["MATIC/USD"].synced and feed.health.stats.checksum_failures == 1


def test_v2_snapshot_checksum_is_checked_too() -> None:
    feed = KrakenFeed([MATIC], VenueSettings(depth=10))
    feed.on_open(0)
    bad = (FIXTURES / "ws_book_v2_matic_snapshot.json").read_text().replace("2439117997", "1")
    actions = sent(feed.on_frame(bad, 1))
    assert [a["method"] for a in actions] == ["unsubscribe", "subscribe"]
    assert feed.health.stats.checksum_failures == 1 and not feed.books["MATIC/USD"].synced


BAD_V2 = [
    '{"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":[{"price":[0.5657],"qty":1}],"asks":[],"checksum":1}]}',
    '{"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":[{"price":"0.5657","qty":1}],"asks":[],"checksum":1}]}',
    '{"channel":"book","type":"update","data":[{"symbol":"DOGE/USD","bids":[],"asks":[],"checksum":1}]}',
    '{"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5657,"qty":-1}],"asks":[],"checksum":1}]}',
    '{"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5',
    '["not", "an", "object"]',
    '{"channel":"ticker","type":"update","data":[{"symbol":"MATIC/USD","bid":0.5}]}',  # a channel never subscribed
]


def test_v2_bad_frames_are_counted_and_never_change_a_book() -> None:
    feed = KrakenFeed([MATIC], VenueSettings(depth=10))
    feed.on_open(0)
    feed.on_frame((FIXTURES / "ws_book_v2_matic_snapshot.json").read_text(), 1)
    before = book_state(feed)
    for frame in BAD_V2:
        assert feed.on_frame(frame, 2) == []
    assert feed.health.stats.bad_frames == len(BAD_V2)
    assert feed.health.stats.checksum_failures == 0
    assert book_state(feed) == before


def test_events_pings_and_errors() -> None:
    feed = KrakenFeed([MATIC], VenueSettings(depth=10))
    assert feed.on_frame('{"channel":"heartbeat"}', 5) == []
    assert feed.health.stats.last_frame_ns == 5 and feed.health.stats.messages == 1
    assert sent(feed.on_frame('{"method":"ping","req_id":9}', 6)) == [{"method": "pong", "req_id": 9}]
    feed.on_frame('{"error":"Currency pair not supported","method":"subscribe","success":false}', 7)
    assert feed.errors == 1 and feed.health.stats.bad_frames == 0
    assert json.loads(feed.ping_frame())["method"] == "ping"
    v1 = KrakenFeed([MATIC], VenueSettings(depth=10), version=1)
    assert sent(v1.on_frame('{"event":"ping","reqid":3}', 1)) == [{"event": "pong", "reqid": 3}]
    refusal = {"errorMessage": "Subscription depth not supported", "event": "subscriptionStatus", "pair": "MATIC/USD"}
    v1.on_frame(orjson.dumps({**refusal, "status": "error"}).decode(), 2)
    assert v1.errors == 1
    (sub,) = sent(v1.on_open(0))
    assert sub == {"event": "subscribe", "pair": ["MATIC/USD"], "subscription": {"name": "book", "depth": 10}}


def test_depth_truncation_applies_before_the_checksum() -> None:
    feed = KrakenFeed([MATIC], VenueSettings(depth=10))
    feed.on_open(0)
    feed.on_frame((FIXTURES / "ws_book_v2_matic_snapshot.json").read_text(), 1)
    # A new best bid pushes the 10th bid out of a depth-10 book; no qty 0 is sent for it.
    from connectors.kraken.checksum import checksum_of_decimals

    book = feed.books["MATIC/USD"]
    bids = [(Decimal("0.5667"), Decimal("1"))] + book.bids()[:9]
    crc = checksum_of_decimals(book.asks(), bids, 4, 8)
    upd = {
        "channel": "book",
        "type": "update",
        "data": [{"symbol": "MATIC/USD", "bids": [{"price": "X", "qty": 1}], "asks": [], "checksum": crc}],
    }
    text = json.dumps(upd).replace('"X"', "0.5667")
    assert feed.on_frame(text, 2) == []
    assert feed.health.stats.checksum_failures == 0
    assert book.bids() == bids


def test_helpers() -> None:
    assert valid_depth(100) == 100 and valid_depth(150) == 500 and valid_depth(5000) == 1000
    assert version_for_url("wss://ws.kraken.com/v2") == 2 and version_for_url("wss://ws.kraken.com") == 1
    with pytest.raises(ValueError):
        KrakenFeed([MATIC], VenueSettings(), version=3)


def test_depth_confirmed_by_the_ack_is_used_for_truncation() -> None:
    feed = KrakenFeed([MATIC], VenueSettings(depth=10), version=1)
    feed.on_open(0)
    feed.on_frame(
        '{"channelID":7,"channelName":"book-1000","event":"subscriptionStatus","pair":"MATIC/USD",'
        '"status":"subscribed","subscription":{"depth":1000,"name":"book"}}',
        1,
    )
    assert feed.syncs["MATIC/USD"].depth == 1000
    feed.on_open(2)  # a new connection subscribes at the configured depth again
    assert feed.syncs["MATIC/USD"].depth == 10


def test_capture_through_the_shared_replay_driver(capture_lines) -> None:
    from config.settings import Settings
    from connectors.replay import replay_files
    from tests.connectors.kraken.conftest import ASSET_PAIRS, CAPTURE

    result = replay_files([ASSET_PAIRS, CAPTURE], settings=Settings())
    (feed,) = result.feeds
    assert isinstance(feed, KrakenFeed) and feed.version == 1
    assert feed.checksums_ok == 4269 and feed.health.stats.checksum_failures == 0
    assert all(b.synced for b in feed.books.values()) and len(feed.books) == 10


def test_v2_without_reference_data_learns_decimals_from_the_snapshot() -> None:
    bare = Instrument("MATIC/USD", "MATIC", "USD", "kraken", "MATIC/USD", Decimal(0), Decimal(0))
    feed = KrakenFeed([bare], VenueSettings(depth=10))
    feed.on_open(0)
    assert feed.on_frame((FIXTURES / "ws_book_v2_matic_snapshot.json").read_text(), 1) == []
    assert feed.wire_dp["MATIC/USD"] == (4, 8)
    assert feed.on_frame((FIXTURES / "ws_book_v2_matic_update.json").read_text(), 2) == []
    assert feed.checksums_ok == 1 and feed.health.stats.checksum_failures == 0
