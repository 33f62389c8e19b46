"""Pure parsing of HTX market-data frames: gzip + JSON (numbers kept as their exact text) -> typed messages
-> book messages.

Fixtures: the recorded ``HUOBI.ws.44.0`` (``depth.step0``, pings, sub acks, ``trade.detail``) and, for ``mbp``,
the HTX doc samples quoted in docs/venue-protocols.md sections 3.1-3.3.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from typing import Any

from connectors.base import BookDelta, BookSnapshot
from connectors.numbers import JsonNumber, loads_numbers_as_text

Level = list[str | int]  # JsonNumber text or a JSON integer


class HtxFrameError(ValueError):
    """A frame that cannot be read: bad gzip, bad JSON, or fields of the wrong type."""


@dataclass(frozen=True, slots=True)
class HtxPing:
    ts: int


@dataclass(frozen=True, slots=True)
class HtxAck:
    """``{"id", "status": "ok", "subbed"|"unsubbed": topic}``."""

    id: Any
    topic: str


@dataclass(frozen=True, slots=True)
class HtxErrorAnswer:
    id: Any
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class HtxDepth:
    """One ``market.<sym>.depth.step0`` push: the whole book; ``version`` rises, not contiguously."""

    venue_symbol: str
    version: int
    bids: list[Level]
    asks: list[Level]


@dataclass(frozen=True, slots=True)
class HtxMbpUpdate:
    """One ``market.<sym>.mbp.<levels>`` increment; continuity is ``prev_seq_num`` == the last ``seq_num``."""

    venue_symbol: str
    levels: int
    seq_num: int
    prev_seq_num: int
    bids: list[Level]
    asks: list[Level]


@dataclass(frozen=True, slots=True)
class HtxMbpSnapshot:
    """The ``rep`` answer to an mbp ``req``: the book at ``seq_num``."""

    id: Any
    venue_symbol: str
    levels: int
    seq_num: int
    bids: list[Level]
    asks: list[Level]


@dataclass(frozen=True, slots=True)
class HtxOther:
    """A well-formed frame on a topic we do not mirror (``kline``, ...)."""

    topic: str


@dataclass(frozen=True, slots=True)
class HtxTrades:
    """One ``market.<sym>.trade.detail`` push: ``tick.data`` items ``{"tradeId", "amount", "price", "ts",
    "direction"}`` (the taker's side)."""

    venue_symbol: str
    items: list[tuple[int, Any, Any, int, str]]  # (tradeId, price, amount, ts ms, direction)


HtxMessage = HtxPing | HtxAck | HtxErrorAnswer | HtxDepth | HtxMbpUpdate | HtxMbpSnapshot | HtxTrades | HtxOther


_NUMBER_TYPES = (JsonNumber, int)


def decode_frame(frame: bytes | bytearray | str) -> Any:
    """Gunzip a binary frame (every HTX server frame is gzip) and parse its JSON exactly."""
    if isinstance(frame, (bytes, bytearray)):
        try:
            raw: bytes | str = gzip.decompress(frame)
        except (OSError, EOFError, zlib.error) as exc:
            raise HtxFrameError(f"bad gzip frame: {exc}") from None
    elif isinstance(frame, str):
        raw = frame  # text frames do not come from HTX, but a replayer may hand over decoded text
    else:
        raise HtxFrameError(f"frame was {type(frame).__name__}, expected bytes or str")
    try:
        return loads_numbers_as_text(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise HtxFrameError(f"bad JSON: {exc}") from None


def parse_frame(frame: bytes | bytearray | str) -> HtxMessage:
    return parse_message(decode_frame(frame))


def parse_message(msg: Any) -> HtxMessage:
    """Classify one decoded frame; raise HtxFrameError on anything malformed."""
    if not isinstance(msg, dict):
        raise HtxFrameError(f"frame was a {type(msg).__name__}, expected an object")
    if "ping" in msg:
        return HtxPing(_int(msg["ping"], "ping"))
    if msg.get("status") == "error":
        return HtxErrorAnswer(msg.get("id"), str(msg.get("err-code", "")), str(msg.get("err-msg", "")))
    if "subbed" in msg or "unsubbed" in msg:
        return HtxAck(msg.get("id"), _str(msg.get("subbed", msg.get("unsubbed")), "subbed"))
    if "rep" in msg:
        topic = _str(msg["rep"], "rep")
        sym, kind, levels = split_topic(topic)
        if kind != "mbp":
            return HtxOther(topic)
        data = _dict(msg.get("data"), "data")
        return HtxMbpSnapshot(
            msg.get("id"),
            sym,
            levels,
            _int(data.get("seqNum"), "seqNum"),
            _levels(data.get("bids"), "bids"),
            _levels(data.get("asks"), "asks"),
        )
    if "ch" in msg:
        topic = _str(msg["ch"], "ch")
        sym, kind, levels = split_topic(topic)
        if kind == "depth.step0":
            tick = _dict(msg.get("tick"), "tick")
            return HtxDepth(
                sym,
                _int(tick.get("version"), "version"),
                _levels(tick.get("bids"), "bids"),
                _levels(tick.get("asks"), "asks"),
            )
        if kind == "mbp":
            tick = _dict(msg.get("tick"), "tick")
            # tick-by-tick levels (5, 20) carry only the side that changed
            return HtxMbpUpdate(
                sym,
                levels,
                _int(tick.get("seqNum"), "seqNum"),
                _int(tick.get("prevSeqNum"), "prevSeqNum"),
                _levels(tick.get("bids", []), "bids"),
                _levels(tick.get("asks", []), "asks"),
            )
        if kind == "trade.detail":
            trade_tick = _dict(msg.get("tick"), "tick")
            rows = trade_tick.get("data")
            if not isinstance(rows, list):
                raise HtxFrameError("trade.detail tick.data was not a list")
            items = []
            for raw in rows:
                d = _dict(raw, "trade")
                price, amount = d.get("price"), d.get("amount")
                if type(price) not in _NUMBER_TYPES or type(amount) not in _NUMBER_TYPES:
                    raise HtxFrameError(f"trade was {d!r}, expected numeric price and amount")
                direction = d.get("direction")
                if direction not in ("buy", "sell"):
                    raise HtxFrameError(f"trade direction was {direction!r}")
                items.append((_int(d.get("tradeId"), "tradeId"), price, amount, _int(d.get("ts"), "ts"), direction))
            return HtxTrades(sym, items)
        return HtxOther(topic)
    if msg.get("status") == "ok":
        return HtxAck(msg.get("id"), "")
    raise HtxFrameError(f"unknown message with keys {sorted(msg)[:5]}")


def split_topic(topic: str) -> tuple[str, str, int]:
    """'market.btcusdt.mbp.150' -> ('btcusdt', 'mbp', 150); 'market.btcusdt.depth.step0' -> (.., 'depth.step0', 0)."""
    parts = topic.split(".")
    if len(parts) < 3 or parts[0] != "market" or not parts[1]:
        raise HtxFrameError(f"topic was {topic!r}, expected market.<symbol>.<channel>")
    kind = ".".join(parts[2:])
    if parts[2] == "mbp" and len(parts) == 4:
        if not parts[3].isdigit():
            raise HtxFrameError(f"topic was {topic!r}: levels must be a number")
        return parts[1], "mbp", int(parts[3])
    return parts[1], kind, 0


def to_delta(msg: HtxMbpUpdate, symbol: str) -> BookDelta:
    return BookDelta(symbol, None, msg.seq_num, msg.prev_seq_num, msg.bids, msg.asks)


def to_snapshot(msg: HtxMbpSnapshot | HtxDepth, symbol: str) -> BookSnapshot:
    update_id = msg.seq_num if isinstance(msg, HtxMbpSnapshot) else msg.version
    return BookSnapshot(symbol, update_id, msg.bids, msg.asks)


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise HtxFrameError(f"{name} was {value!r}, expected an integer")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise HtxFrameError(f"{name} was {value!r}, expected a string")
    return value


def _dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise HtxFrameError(f"{name} was {type(value).__name__}, expected an object")
    return value


def _levels(value: Any, name: str) -> list[Level]:
    """Check the shape and types only; the book parses the values (all or nothing) and refuses zero
    prices, negatives and anything out of range, so a bad level never reaches it half-applied."""
    if not isinstance(value, list):
        raise HtxFrameError(f"{name} was {type(value).__name__}, expected a list of [price, size]")
    nums = _NUMBER_TYPES
    for i, item in enumerate(value):
        if type(item) is not list or len(item) < 2 or type(item[0]) not in nums or type(item[1]) not in nums:
            raise HtxFrameError(f"{name}[{i}] was {item!r}, expected [price, size] as JSON numbers")
        if str(item[0])[0] == "-" or str(item[1])[0] == "-":
            raise HtxFrameError(f"{name}[{i}] was {item!r}, expected non-negative numbers")
    return value
