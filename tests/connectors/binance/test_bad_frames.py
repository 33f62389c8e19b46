"""Bad frames are counted, never raise, and never change a book."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from config.instruments import Instrument
from connectors.binance import BinanceFeed

INST = Instrument("BTC/USDT", "BTC", "USDT", "binance", "BTCUSDT", Decimal("0.01"), Decimal("0.0001"))


@pytest.fixture
def feed() -> BinanceFeed:
    f = BinanceFeed([INST])
    f.on_open(1)
    f.on_rest_snapshot(
        "BTCUSDT",
        orjson.dumps(
            {"lastUpdateId": 10, "bids": [["100.00000000", "1.00000000"]], "asks": [["101.00000000", "2.00000000"]]}
        ),
        2,
    )
    return f


def event(U, u, b, a, s="BTCUSDT"):
    return orjson.dumps(
        {"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "E": 1, "s": s, "U": U, "u": u, "b": b, "a": a}}
    )


BAD = [
    b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","s":"BTCUSDT","U":11,"u":1',  # truncated
    event("11", 12, [], []),  # ids as strings
    event(11, 12, "100.0", []),  # levels not a list
    event(11, 12, [["100.00000000", 3.5]], []),  # a float quantity
    event(11, 12, [["abc", "1"]], []),  # not a number
    event(11, 12, [["99.00000000", "1.00000000"], ["100.0", "-1"]], []),  # negative, after a good level
    event(11, 12, [["100.00000000"]], []),  # half a level
    event(11, 12, [], [], s="DOGEUSDT"),  # unknown symbol
    b"[1, 2, 3]",
    b"",
]


@pytest.mark.parametrize("frame", BAD)
def test_bad_frame_is_counted_and_changes_nothing(feed, frame):
    book = feed.books["BTC/USDT"]
    before = (book.bids(), book.asks(), book.update_id)
    feed.on_frame(frame, 3)
    assert (book.bids(), book.asks(), book.update_id) == before
    assert feed.health.stats.bad_frames == 1


def test_after_a_rejected_frame_the_next_event_shows_the_gap(feed):
    feed.on_frame(event(11, 12, [["abc", "1"]], []), 3)
    actions = feed.on_frame(event(13, 13, [["100.00000000", "5.00000000"]], []), 4)
    assert [type(a).__name__ for a in actions] == ["FetchSnapshot"]
    assert not feed.books["BTC/USDT"].synced
