"""Pure parse functions for v1 arrays and v2 objects."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.base import BookDelta, BookSnapshot
from connectors.kraken.parse import (
    KrakenParseError,
    decode_v1,
    decode_v2,
    parse_v1_book,
    parse_v1_event,
    parse_v2_book,
    parse_v2_event,
)

SYMS = {"XBT/USD": "BTC/USD", "BTC/USD": "BTC/USD"}


def test_v1_snapshot_records_wire_decimals() -> None:
    msg = decode_v1(
        '[464,{"as":[["56218.30000","0.15000000","1618678117.243818"]],"bs":[["56200.1","1.5","1"]]},"book-10","XBT/USD"]'
    )
    parsed = parse_v1_book(msg, SYMS)
    assert isinstance(parsed.message, BookSnapshot)
    assert parsed.message.symbol == "BTC/USD" and parsed.channel_id == 464
    assert (parsed.price_dp, parsed.qty_dp) == (5, 8)


def test_v1_update_with_two_dicts_and_republish() -> None:
    msg = decode_v1(
        '[1,{"a":[["5541.30000","2.50700000","1534614248.456738","r"]]},'
        '{"b":[["5541.20000","1.52900000","1534614248.765567"]],"c":"974942666"},"book-10","XBT/USD"]'
    )
    parsed = parse_v1_book(msg, SYMS)
    delta = parsed.message
    assert isinstance(delta, BookDelta)
    assert delta.asks[0][:2] == ["5541.30000", "2.50700000"] and delta.bids[0][0] == "5541.20000"
    assert delta.checksum == 974942666


@pytest.mark.parametrize(
    "text",
    [
        '[1,{"a":[[["1"],"2","3"]],"c":"1"},"book-10","XBT/USD"]',  # price as a list
        '[1,{"a":[[1.5,"2","3"]],"c":"1"},"book-10","XBT/USD"]',  # price as a number
        '[1,{"a":[["1","2","3"]],"c":"x"},"book-10","XBT/USD"]',  # checksum not a number
        '[1,{"a":[["1","2","3"]],"c":"1"},"book-10","DOGE/USD"]',  # unknown pair
        '[1,{"a":[["1","2","3"]],"c":"1"},"trade","XBT/USD"]',  # not a book channel
        '[1,{"a":"x"},"book-10","XBT/USD"]',
        '["1",{"a":[]},"book-10","XBT/USD"]',
        "[1]",
    ],
)
def test_v1_bad_book_frames_raise(text: str) -> None:
    with pytest.raises(KrakenParseError):
        parse_v1_book(decode_v1(text), SYMS)


def test_v1_truncated_json_raises() -> None:
    with pytest.raises(KrakenParseError):
        decode_v1('[1,{"a":[["1","2"')


def test_v1_big_connection_id_is_read() -> None:
    ev = parse_v1_event(decode_v1('{"connectionID":17843232920108168701,"event":"systemStatus","status":"online"}'))
    assert ev.kind == "status"


def test_v1_events() -> None:
    ack = parse_v1_event(
        decode_v1(
            '{"channelID":1664,"channelName":"book-1000","event":"subscriptionStatus","pair":"XBT/USD","status":"subscribed"}'
        )
    )
    assert (ack.kind, ack.venue_symbol, ack.channel_id) == ("subscribed", "XBT/USD", 1664)
    err = parse_v1_event(
        decode_v1('{"errorMessage":"Currency pair not supported","event":"subscriptionStatus","status":"error"}')
    )
    assert err.kind == "error" and "not supported" in (err.message or "")
    assert parse_v1_event({"event": "heartbeat"}).kind == "heartbeat"
    assert parse_v1_event({"event": "ping", "reqid": 7}) == parse_v1_event({"event": "ping", "reqid": 7})


def test_v2_numbers_keep_their_exact_text_never_float() -> None:
    msg = decode_v2(
        '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.1}],"asks":[],"checksum":1}]}'
    )
    (delta,) = parse_v2_book(msg, SYMS)
    assert isinstance(delta, BookDelta)
    assert delta.bids == [["45283.5", "0.1"]] and type(delta.bids[0][0]).__name__ == "JsonNumber"
    assert Decimal(delta.bids[0][0]) == Decimal("45283.5") and delta.checksum == 1


@pytest.mark.parametrize(
    "text",
    [
        '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":[1],"qty":1}],"asks":[]}]}',
        '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":"1","qty":1}],"asks":[]}]}',
        '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":true,"qty":1}],"asks":[]}]}',
        '{"channel":"book","type":"update","data":[{"symbol":"ETH/USD","bids":[],"asks":[]}]}',
        '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[],"asks":[],"checksum":-1}]}',
        '{"channel":"book","type":"sideways","data":[]}',
        '{"channel":"book","type":"update","data":{}}',
    ],
)
def test_v2_bad_book_frames_raise(text: str) -> None:
    with pytest.raises(KrakenParseError):
        parse_v2_book(decode_v2(text), SYMS)


def test_v2_events() -> None:
    ok = parse_v2_event(
        decode_v2(
            '{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"},"success":true}'
        )
    )
    assert (ok.kind, ok.venue_symbol) == ("subscribed", "BTC/USD")
    bad = parse_v2_event(
        decode_v2('{"error":"Currency pair not supported","method":"subscribe","success":false,"req_id":3}')
    )
    assert (bad.kind, bad.req_id) == ("error", 3)
    assert parse_v2_event({"channel": "heartbeat"}).kind == "heartbeat"
    assert parse_v2_event({"method": "pong", "req_id": 5}).req_id == 5
