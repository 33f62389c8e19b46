"""Bad frames are counted in stats.bad_frames, never raise, and never change a book."""

from __future__ import annotations

import gzip
import json

import pytest

from config.settings import HtxSettings
from connectors.htx import HtxFeed
from connectors.simulators.htx import encode_frame
from tests.connectors.htx.conftest import BTC, TRIO, D, mbp, rep

MS = 1_000_000


def gz(text: str) -> bytes:
    return gzip.compress(text.encode())


BAD_FRAMES = [
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03garbage",  # bad gzip
    b"plain bytes, not gzip",
    gzip.compress(b'{"ch":"market.btcusdt.mbp.20","ts":1,"tick":{"seqNum":12,"prevSeqNum":11,"bids":[[1')[
        :-3
    ],  # cut gzip
    gz('{"ch":"market.btcusdt.mbp.20","ts":1,"tick":{"seqNum":12,"prevSeqNum":11,"bids":[[1'),  # truncated JSON
    "{not json",
    gz('"just a string"'),
    gz('{"ch":"market.btcusdt.mbp.20","tick":{"seqNum":"12","prevSeqNum":11,"bids":[[100.10,1]]}}'),  # seqNum as string
    gz('{"ch":"market.btcusdt.mbp.20","tick":{"seqNum":12,"prevSeqNum":11,"bids":[["100.10",1]]}}'),  # price as string
    gz('{"ch":"market.btcusdt.mbp.20","tick":{"seqNum":12,"prevSeqNum":11,"bids":[[100.10,true]]}}'),  # bool size
    gz('{"ch":"market.btcusdt.mbp.20","tick":{"seqNum":12,"prevSeqNum":11,"bids":[[100.10,-1]]}}'),  # negative size
    gz(
        '{"ch":"market.btcusdt.mbp.20","tick":{"seqNum":12,"prevSeqNum":11,"bids":[[100.10,1],[100.20]]}}'
    ),  # short level
    gz('{"ch":"market.btcusdt.mbp.20","tick":"x"}'),
    gz('{"ch":"market.dogeusdt.mbp.20","tick":{"seqNum":12,"prevSeqNum":11,"bids":[[1.5,1]]}}'),  # unknown symbol
    gz('{"ch":"market.btcusdt.mbp.150","tick":{"seqNum":12,"prevSeqNum":11,"bids":[[100.10,1]]}}'),  # not subscribed
    gz('{"ch":"market.btcusdt.depth.step0","tick":{"bids":[],"asks":[],"version":5}}'),  # wrong mode
    gz('{"id":"x","rep":"market.dogeusdt.mbp.20","status":"ok","data":{"seqNum":1,"bids":[],"asks":[]}}'),
    gz('{"id":"x","rep":"market.btcusdt.mbp.20","status":"ok","data":{"seqNum":1,"bids":[[1,1]],"asks":"none"}}'),
    gz('{"unexpected":true}'),
]


@pytest.fixture
def synced() -> HtxFeed:
    feed = HtxFeed([BTC, TRIO], HtxSettings(depth=20))
    req = json.loads(feed.on_open(0)[-1].text)
    feed.on_frame(rep("btcusdt", req["id"], 11, [[D("100.00"), D("2")]], [[D("101.00"), D("3")]]), 1 * MS)
    assert feed.books["BTC/USDT"].synced
    return feed


def _state(feed: HtxFeed) -> list:
    return [(b.to_json(100), b.synced, b.price_scale, b.qty_scale) for b in feed.books.values()]


def test_bad_frames_are_counted_and_change_nothing(synced: HtxFeed) -> None:
    frames = BAD_FRAMES
    before = _state(synced)
    for i, frame in enumerate(frames, 1):
        assert synced.on_frame(frame, (10 + i) * MS) == []
        assert synced.health.stats.bad_frames == i, frame
        assert _state(synced) == before
    assert synced.health.stats.resyncs == 0 and synced.health.stats.messages == len(frames) + 1
    # The chain is intact: the next good increment still links to the book.
    synced.on_frame(mbp("btcusdt", 12, 11, bids=[[D("100.10"), D("1")]]), 100 * MS)
    assert synced.books["BTC/USDT"].bids() == [(D("100.10"), D("1")), (D("100.00"), D("2"))]


def test_bad_step0_frames_change_nothing() -> None:
    feed = HtxFeed([TRIO], HtxSettings(), mode="step0")
    feed.on_open(0)
    good = {
        "ch": "market.trioeth.depth.step0",
        "ts": 1,
        "tick": {"bids": [[D("9.121E-7"), D("5")]], "asks": [[D("9.2E-7"), 1]], "version": 10},
    }
    feed.on_frame(encode_frame(good), 1)
    before = feed.books["TRIO/ETH"].to_json(10)
    bad = json.loads(json.dumps(good, default=str))
    bad["tick"]["version"] = 11
    bad["tick"]["asks"] = [["9.3E-7", 1]]  # strings are not HTX numbers
    for frame in (
        gz(json.dumps(bad)),
        b"\x00\x01",
        gz('{"ch":"market.xyz.depth.step0","tick":{"bids":[],"asks":[],"version":12}}'),
    ):
        feed.on_frame(frame, 2)
    assert feed.health.stats.bad_frames == 3
    assert feed.books["TRIO/ETH"].to_json(10) == before and feed.books["TRIO/ETH"].update_id == 10
