import gzip
from decimal import Decimal

import pytest

from connectors.htx.parse import (
    HtxAck,
    HtxDepth,
    HtxErrorAnswer,
    HtxFrameError,
    HtxMbpSnapshot,
    HtxMbpUpdate,
    HtxOther,
    HtxPing,
    HtxTrades,
    parse_frame,
    split_topic,
    to_delta,
    to_snapshot,
)


def gz(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)  # fixed header: the same test ids in every process


def test_ping_from_gzip() -> None:
    assert parse_frame(gz('{"ping":1618678073643}')) == HtxPing(1618678073643)


def test_step0_exponent_numbers_are_exact_decimals() -> None:
    msg = parse_frame(
        gz(
            '{"ch":"market.trioeth.depth.step0","ts":1,"tick":{"bids":[[9.121E-7,92730.24]],"asks":[[9.2E-7,1]],"version":7}}'
        )
    )
    assert isinstance(msg, HtxDepth)
    # the numbers' own text, which the book parses exactly
    assert msg.bids == [["9.121E-7", "92730.24"]] and type(msg.bids[0][0]).__name__ == "JsonNumber"
    assert [[Decimal(p), Decimal(q)] for p, q in msg.bids] == [[Decimal("9.121E-7"), Decimal("92730.24")]]
    assert msg.asks[0][1] == 1 and not isinstance(msg.asks[0][1], float)
    assert to_snapshot(msg, "TRIO/ETH").update_id == 7


def test_mbp_increment_with_one_side_only() -> None:
    # The doc sample (venue-protocols.md 3.3).
    msg = parse_frame(
        gz(
            '{"ch":"market.btcusdt.mbp.5","ts":1573199608679,"tick":{"seqNum":100020146795,'
            '"prevSeqNum":100020146794,"asks":[[645.14,26.75597395914065]]}}'
        )
    )
    assert msg == HtxMbpUpdate("btcusdt", 5, 100020146795, 100020146794, [], [["645.14", "26.75597395914065"]])
    delta = to_delta(msg, "BTC/USDT")
    assert (delta.last_id, delta.prev_id, delta.first_id) == (100020146795, 100020146794, None)


def test_rep_snapshot_and_acks_and_errors() -> None:
    msg = parse_frame(
        gz(
            '{"id":"id2","rep":"market.btcusdt.mbp.150","status":"ok","data":{"seqNum":100020142010,"bids":[[618.37,71.594]],"asks":[]}}'
        )
    )
    assert msg == HtxMbpSnapshot("id2", "btcusdt", 150, 100020142010, [["618.37", "71.594"]], [])
    assert parse_frame(gz('{"id":"id1","status":"ok","subbed":"market.btcusdt.mbp.150","ts":1}')) == HtxAck(
        "id1", "market.btcusdt.mbp.150"
    )
    err = parse_frame(gz('{"id":"x","status":"error","err-code":"bad-request","err-msg":"invalid topic","ts":1}'))
    assert err == HtxErrorAnswer("x", "bad-request", "invalid topic")
    assert parse_frame(gz('{"ch":"market.btcusdt.kline.1min","tick":{}}')) == HtxOther("market.btcusdt.kline.1min")
    trades = parse_frame(
        gz(
            '{"ch":"market.btcusdt.trade.detail","ts":1,"tick":{"id":7,"ts":1,"data":[{"id":70,"ts":1618678027940,'
            '"tradeId":100045088885,"amount":20995.88,"price":9.2E-7,"direction":"buy"}]}}'
        )
    )
    assert trades == HtxTrades("btcusdt", [(100045088885, "9.2E-7", "20995.88", 1618678027940, "buy")])
    with pytest.raises(HtxFrameError):
        parse_frame(gz('{"ch":"market.btcusdt.trade.detail","tick":{}}'))


def test_split_topic() -> None:
    assert split_topic("market.btcusdt.mbp.150") == ("btcusdt", "mbp", 150)
    assert split_topic("market.btcusdt.depth.step0") == ("btcusdt", "depth.step0", 0)
    with pytest.raises(HtxFrameError):
        split_topic("market")


@pytest.mark.parametrize(
    "frame",
    [
        b"\x1f\x8b\x08\x00garbage",  # bad gzip
        b"not gzip at all",
        gz('{"ch":"market.btcusdt.mbp.20","tick":{"seqNum":5,'),  # truncated JSON
        gz("[1,2]"),
        gz('{"ping":"soon"}'),
        gz('{"ch":"market.btcusdt.mbp.20","tick":{"seqNum":"5","prevSeqNum":4}}'),
        gz('{"ch":"market.btcusdt.mbp.20","tick":{"seqNum":5,"prevSeqNum":4,"bids":[["1.0",2]]}}'),
        gz('{"ch":"market.btcusdt.mbp.20","tick":{"seqNum":5,"prevSeqNum":4,"bids":[[1.0]]}}'),
        gz('{"ch":"market.btcusdt.mbp.20","tick":{"seqNum":5,"prevSeqNum":4,"bids":[[1.0,-2]]}}'),
        gz('{"ch":"market.btcusdt.mbp.20","tick":{"seqNum":5,"prevSeqNum":4,"bids":[[NaN,2]]}}'),
        gz('{"ch":"market.btcusdt.mbp.20","tick":{"seqNum":5,"prevSeqNum":4,"asks":{"1":2}}}'),
        gz('{"ch":"market.btcusdt.depth.step0","tick":{"bids":[],"asks":[],"version":true}}'),
        gz('{"rep":"market.btcusdt.mbp.20","status":"ok","data":null}'),
        gz('{"hello":1}'),
    ],
)
def test_malformed_frames_raise_frame_error(frame: bytes) -> None:
    with pytest.raises(HtxFrameError):
        parse_frame(frame)
