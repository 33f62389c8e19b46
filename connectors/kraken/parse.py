"""Pure functions: Kraken WebSocket frames (v1 and v2) -> BookSnapshot / BookDelta / KrakenEvent.

v1 book frames are arrays (venue-protocols.md §2.4; sample: replay_samples/kraken KRAKEN.ws.50.0):
  snapshot ``[chanId, {"as": [[p, v, ts], ...], "bs": [...]}, "book-1000", "XBT/USD"]``
  update   ``[chanId, {"a": [...]}, {"b": [...], "c": "974947235"}, "book-10", "XBT/USD"]`` (one or two dicts)
v2 book frames are objects with JSON-number prices (§2.2), decoded with their exact text by ``loads_numbers_as_text``.
Anything malformed raises ``KrakenParseError``; nothing here touches a book.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from connectors.base import BookDelta, BookSnapshot, VenueTrade
from connectors.numbers import JsonNumber, loads_exact, loads_numbers_as_text

_UINT32_MAX = 2**32 - 1


class KrakenParseError(ValueError):
    """A frame that does not follow the protocol (the message says what was received)."""


class KrakenEvent(NamedTuple):
    """A non-book frame: heartbeat, status, ping/pong, subscription ack or error."""

    kind: str  # "heartbeat" | "status" | "ping" | "pong" | "subscribed" | "unsubscribed" | "error" | "other"
    venue_symbol: str | None = None
    channel_id: int | None = None
    req_id: int | None = None
    message: str | None = None
    depth: int | None = None  # the book depth a subscription ack confirms


class KrakenV1Book(NamedTuple):
    """A v1 book frame with the decimals its wire strings carry (the v1 checksum uses the wire text)."""

    channel_id: int
    venue_symbol: str
    message: BookSnapshot | BookDelta
    price_dp: int
    qty_dp: int


# ----------------------------------------------------------------------------------------------- decode
def decode_v1(frame: str | bytes) -> Any:
    """v1 values are strings, so plain (fast) JSON is exact; ids above 64 bits fall back to the slow path."""
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError:
        try:
            return loads_exact(frame)
        except ValueError as exc:
            raise KrakenParseError(f"invalid JSON: {exc}") from None


def decode_v2(frame: str | bytes) -> Any:
    """v2 prices and quantities are JSON numbers: keep their exact text (never a float); the book parses it."""
    try:
        return loads_numbers_as_text(frame)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KrakenParseError(f"invalid JSON: {exc}") from None


# ----------------------------------------------------------------------------------------------- v1
def _dp(text: str) -> int:
    i = text.find(".")
    return 0 if i < 0 else len(text) - i - 1


def _v1_levels(raw: Any, what: str) -> tuple[list[Any], int, int]:
    if not isinstance(raw, list):
        raise KrakenParseError(f"{what} was {type(raw).__name__}, expected a list")
    pdp = qdp = 0
    for lvl in raw:
        if type(lvl) is not list or len(lvl) < 2 or type(lvl[0]) is not str or type(lvl[1]) is not str:
            raise KrakenParseError(f"{what} level was {lvl!r}, expected [price, volume, ...] strings")
        pdp = max(pdp, _dp(lvl[0]))
        qdp = max(qdp, _dp(lvl[1]))
    return raw, pdp, qdp


def _canonical(symbols: Mapping[str, str], venue_symbol: Any) -> str:
    if type(venue_symbol) is not str:
        raise KrakenParseError(f"pair was {venue_symbol!r}, expected a string")
    try:
        return symbols[venue_symbol]
    except KeyError:
        raise KrakenParseError(f"unknown pair {venue_symbol!r}") from None


def _checksum(value: Any) -> int:
    if type(value) is str and value.isdigit():
        n = int(value)
    elif type(value) is int:
        n = value
    else:
        raise KrakenParseError(f"checksum was {value!r}, expected an unsigned 32-bit integer")
    if not 0 <= n <= _UINT32_MAX:
        raise KrakenParseError(f"checksum {n} is out of the uint32 range")
    return n


def parse_v1_book(msg: list[Any], symbols: Mapping[str, str]) -> KrakenV1Book:
    """A v1 book array -> snapshot or delta; ``symbols`` maps the wire pair (``XBT/USD``) to canonical."""
    if len(msg) not in (4, 5) or type(msg[0]) is not int or type(msg[-2]) is not str:
        raise KrakenParseError(f"book frame had {len(msg)} elements or bad types")
    if not msg[-2].startswith("book"):
        raise KrakenParseError(f"channel was {msg[-2]!r}, expected book-N")
    symbol = _canonical(symbols, msg[-1])
    dicts = msg[1:-2]
    if not all(isinstance(d, dict) for d in dicts):
        raise KrakenParseError("book payload was not an object")
    first = dicts[0]
    if "as" in first or "bs" in first:
        if len(dicts) != 1:
            raise KrakenParseError("snapshot had more than one payload")
        asks, pa, qa = _v1_levels(first.get("as", []), "as")
        bids, pb, qb = _v1_levels(first.get("bs", []), "bs")
        snap = BookSnapshot(symbol, None, bids, asks)
        return KrakenV1Book(msg[0], msg[-1], snap, max(pa, pb), max(qa, qb))
    asks_all: list[Any] = []
    bids_all: list[Any] = []
    pdp = qdp = 0
    for d in dicts:
        if "a" in d:
            levels, p, q = _v1_levels(d["a"], "a")
            asks_all += levels
            pdp, qdp = max(pdp, p), max(qdp, q)
        if "b" in d:
            levels, p, q = _v1_levels(d["b"], "b")
            bids_all += levels
            pdp, qdp = max(pdp, p), max(qdp, q)
    last = dicts[-1]
    checksum = _checksum(last["c"]) if "c" in last else None
    if not asks_all and not bids_all and checksum is None:
        raise KrakenParseError("update had no levels and no checksum")
    delta = BookDelta(symbol, None, None, None, bids_all, asks_all, checksum)
    return KrakenV1Book(msg[0], msg[-1], delta, pdp, qdp)


def parse_v1_event(msg: Mapping[str, Any]) -> KrakenEvent:
    """A v1 event object (heartbeat, systemStatus, subscriptionStatus, ping, pong)."""
    event = msg.get("event")
    reqid = msg.get("reqid") if type(msg.get("reqid")) is int else None
    if event == "heartbeat":
        return KrakenEvent("heartbeat")
    if event == "systemStatus":
        return KrakenEvent("status", message=str(msg.get("status")))
    if event in ("ping", "pong"):
        return KrakenEvent(event, req_id=reqid)
    if event == "subscriptionStatus":
        pair = msg.get("pair") if type(msg.get("pair")) is str else None
        chan = msg.get("channelID") if type(msg.get("channelID")) is int else None
        status = msg.get("status")
        sub = msg.get("subscription")
        depth = sub.get("depth") if isinstance(sub, dict) and type(sub.get("depth")) is int else None
        if status in ("subscribed", "unsubscribed"):
            return KrakenEvent(status, pair, chan, reqid, depth=depth)
        return KrakenEvent("error", pair, chan, reqid, str(msg.get("errorMessage", status)))
    if event == "error":
        return KrakenEvent("error", req_id=reqid, message=str(msg.get("errorMessage")))
    return KrakenEvent("other", message=str(event))


# ----------------------------------------------------------------------------------------------- v2
def _is_number(v: Any) -> bool:
    return type(v) is JsonNumber or type(v) is int


def _v2_levels(raw: Any, what: str) -> list[list[Any]]:
    if not isinstance(raw, list):
        raise KrakenParseError(f"{what} was {type(raw).__name__}, expected a list")
    out: list[list[Any]] = []
    for lvl in raw:
        if not isinstance(lvl, dict):
            raise KrakenParseError(f"{what} level was {lvl!r}, expected an object")
        p, q = lvl.get("price"), lvl.get("qty")
        if not _is_number(p) or not _is_number(q):
            raise KrakenParseError(f"{what} level was {lvl!r}, expected numeric price and qty")
        out.append([p, q])
    return out


def parse_v2_book(msg: Mapping[str, Any], symbols: Mapping[str, str]) -> list[BookSnapshot | BookDelta]:
    """A v2 ``book`` message -> one snapshot/delta per data item; ``symbols`` maps ``BTC/USD`` to canonical."""
    kind = msg.get("type")
    data = msg.get("data")
    if kind not in ("snapshot", "update") or not isinstance(data, list) or not data:
        raise KrakenParseError(f"book message had type {kind!r} and data {type(data).__name__}")
    out: list[BookSnapshot | BookDelta] = []
    for item in data:
        if not isinstance(item, dict):
            raise KrakenParseError("book data item was not an object")
        symbol = _canonical(symbols, item.get("symbol"))
        bids = _v2_levels(item.get("bids", []), "bids")
        asks = _v2_levels(item.get("asks", []), "asks")
        checksum = _checksum(item["checksum"]) if "checksum" in item else None
        if kind == "snapshot":
            out.append(BookSnapshot(symbol, None, bids, asks, checksum))
        else:
            out.append(BookDelta(symbol, None, None, None, bids, asks, checksum))
    return out


def parse_v2_trades(msg: Mapping[str, Any], symbols: Mapping[str, str]) -> list[VenueTrade]:
    """A v2 ``trade`` message (snapshot or update) -> trades; ``{"symbol", "side", "price", "qty", "trade_id",
    "timestamp"}`` per item, ``side`` the taker's."""
    data = msg.get("data")
    if msg.get("type") not in ("snapshot", "update") or not isinstance(data, list):
        raise KrakenParseError(f"trade message had type {msg.get('type')!r}")
    out = []
    for item in data:
        if not isinstance(item, dict):
            raise KrakenParseError("trade data item was not an object")
        symbol = _canonical(symbols, item.get("symbol"))
        price, qty, side, tid = item.get("price"), item.get("qty"), item.get("side"), item.get("trade_id")
        if not _is_number(price) or not _is_number(qty) or side not in ("buy", "sell") or type(tid) is not int:
            raise KrakenParseError(f"trade was {item!r}, expected numeric price and qty, a side and a trade_id")
        out.append(
            VenueTrade(
                "kraken",
                symbol,
                str(tid),
                Decimal(str(price)),
                Decimal(str(qty)),
                _rfc3339_ms(item.get("timestamp")),
                side == "sell",
            )
        )
    return out


def _rfc3339_ms(value: Any) -> int:
    """``2026-01-01T00:00:01.234567Z`` -> epoch milliseconds (UTC), exact."""
    if type(value) is not str or not value.endswith("Z") or len(value) < 20:
        raise KrakenParseError(f"timestamp was {value!r}, expected RFC 3339 in UTC")
    try:
        whole = datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise KrakenParseError(f"timestamp was {value!r}, expected RFC 3339 in UTC") from None
    frac = value[20:-1] if value[19] == "." else ""
    if not frac.isdigit() and frac:
        raise KrakenParseError(f"timestamp was {value!r}, expected RFC 3339 in UTC")
    return int(whole.timestamp()) * 1000 + int((frac + "000")[:3])


def parse_v2_event(msg: Mapping[str, Any]) -> KrakenEvent:
    """A v2 non-book message: heartbeat/status channels, method acks (subscribe, unsubscribe, pong)."""
    channel = msg.get("channel")
    if channel == "heartbeat":
        return KrakenEvent("heartbeat")
    if channel == "status":
        return KrakenEvent("status")
    method = msg.get("method")
    req_id = msg.get("req_id") if type(msg.get("req_id")) is int else None
    if method in ("ping", "pong"):
        return KrakenEvent(method, req_id=req_id)
    if method in ("subscribe", "unsubscribe"):
        result = msg.get("result")
        result = result if isinstance(result, dict) else {}
        symbol = result.get("symbol") if type(result.get("symbol")) is str else None
        depth = result.get("depth") if type(result.get("depth")) is int else None
        if msg.get("success") is True:
            kind = "subscribed" if method == "subscribe" else "unsubscribed"
            return KrakenEvent(kind, symbol, None, req_id, depth=depth)
        if symbol is None and type(msg.get("symbol")) is str:
            symbol = msg["symbol"]
        return KrakenEvent("error", symbol, None, req_id, str(msg.get("error")))
    if "error" in msg:
        return KrakenEvent("error", req_id=req_id, message=str(msg.get("error")))
    return KrakenEvent("other", message=str(channel or method))
