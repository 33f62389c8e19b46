"""Binance stream and REST payloads → book messages. Pure functions; fixtures in replay_samples/binance.

A combined-stream frame is ``{"stream": "nknusdt@depth@100ms", "data": {"e": "depthUpdate", "s": "NKNUSDT",
"U": 499869750, "u": 499869752, "b": [["0.35130000", "6195.00000000"]], "a": []}}`` (§1.2); the REST snapshot
is ``{"lastUpdateId": 1027024, "bids": [...], "asks": [...]}`` (§1.3). Levels stay as the venue's strings here;
the book parses them exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from connectors.base import BookDelta, BookSnapshot, VenueTrade


class FrameError(ValueError):
    """A frame that does not have the shape the venue documents."""


class BookTicker(NamedTuple):
    venue_symbol: str
    update_id: int
    bid_price: str
    bid_qty: str
    ask_price: str
    ask_qty: str


class ServerShutdown(NamedTuple):
    event_time: int


class Ack(NamedTuple):
    request_id: Any
    result: Any


def unwrap(frame: str | bytes) -> dict[str, Any]:
    """Decode a frame and take the payload out of the combined-stream wrapper."""
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise FrameError("frame is not a JSON object")
    data = msg.get("data")
    if "stream" in msg and isinstance(data, dict):
        return data
    return msg


def depth_delta(data: dict[str, Any], symbol: str) -> BookDelta:
    first, last, bids, asks = data.get("U"), data.get("u"), data.get("b"), data.get("a")
    if type(first) is not int or type(last) is not int or first > last:
        raise FrameError(f"bad update ids U={first!r} u={last!r}")
    if not isinstance(bids, list) or not isinstance(asks, list):
        raise FrameError("b and a must be lists")
    return BookDelta(symbol, first, last, None, bids, asks)


def trade(data: dict[str, Any], symbol: str) -> VenueTrade:
    """A ``<sym>@trade`` event: ``{"e": "trade", "s", "t": id, "p", "q", "T": time ms, "m": buyer is maker}``."""
    try:
        tid, price, qty, t, maker = data["t"], Decimal(data["p"]), Decimal(data["q"]), data["T"], data["m"]
    except (KeyError, TypeError, ArithmeticError) as exc:
        raise FrameError(f"bad trade: {exc!r}") from None
    if type(tid) is not int or type(t) is not int or type(maker) is not bool:
        raise FrameError(f"bad trade fields t={tid!r} T={t!r} m={maker!r}")
    if not (price.is_finite() and qty.is_finite() and price > 0 and qty > 0):
        raise FrameError(f"bad trade price {price} or qty {qty}")
    return VenueTrade("binance", symbol, str(tid), price, qty, t, maker)


def book_ticker(data: dict[str, Any]) -> BookTicker:
    try:
        return BookTicker(data["s"], int(data["u"]), data["b"], data["B"], data["a"], data["A"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FrameError(f"bad bookTicker: {exc}") from None


def snapshot(body: str | bytes | dict[str, Any], symbol: str) -> BookSnapshot:
    try:
        data = orjson.loads(body) if isinstance(body, (str, bytes)) else body
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"snapshot is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FrameError("snapshot is not a JSON object")
    last, bids, asks = data.get("lastUpdateId"), data.get("bids"), data.get("asks")
    if type(last) is not int or not isinstance(bids, list) or not isinstance(asks, list):
        raise FrameError("snapshot needs lastUpdateId, bids and asks")
    return BookSnapshot(symbol, last, bids, asks)
