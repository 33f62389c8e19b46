"""Events: the only outputs of the engine. Immutable, sequence-numbered, canonically serialised.

``to_json()`` gives the canonical bytes (sorted keys, decimals as normalised strings, enums by
name): the same inputs give the same bytes, whichever engine (compiled or reference) produced them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, Union

from internal_book.errors import RejectReason
from internal_book.orders import OrderStatus, OrderType, Side, STPMode, TimeInForce


def canonical(value: Any) -> Any:
    """JSON-ready form: Decimals as plain normalised strings, enums by name."""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, Enum):
        return value.name
    return value


class _Event:
    __slots__ = ()
    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: canonical(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]
        out["kind"] = self.kind
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class OrderAccepted(_Event):
    kind: ClassVar[str] = "accepted"
    seq: int
    ts: int
    symbol: str
    order_id: int
    client_order_id: str | None
    tenant: str
    account: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce | None
    price: Decimal | None
    quantity: Decimal | None
    quote_order_qty: Decimal | None
    stop_price: Decimal | None
    trailing_delta: int | None
    stp_mode: STPMode
    status: OrderStatus = OrderStatus.NEW


@dataclass(frozen=True, slots=True)
class Trade(_Event):
    """One fill at the maker's price; statuses are the orders' statuses right after this fill."""

    kind: ClassVar[str] = "trade"
    seq: int
    ts: int
    symbol: str
    trade_id: int
    price: Decimal
    quantity: Decimal
    taker_order_id: int
    maker_order_id: int
    taker_side: Side
    taker_status: OrderStatus
    maker_status: OrderStatus


@dataclass(frozen=True, slots=True)
class OrderCancelled(_Event):
    kind: ClassVar[str] = "cancelled"
    seq: int
    ts: int
    symbol: str
    order_id: int
    client_order_id: str | None
    executed_qty: Decimal
    leaves_qty: Decimal
    status: OrderStatus = OrderStatus.CANCELED


@dataclass(frozen=True, slots=True)
class OrderExpired(_Event):
    """Remaining quantity expired: ``EXPIRED`` (IOC/FOK/MARKET) or ``EXPIRED_IN_MATCH`` (STP)."""

    kind: ClassVar[str] = "expired"
    seq: int
    ts: int
    symbol: str
    order_id: int
    executed_qty: Decimal
    leaves_qty: Decimal
    leaves_quote: Decimal | None
    status: OrderStatus


@dataclass(frozen=True, slots=True)
class StopTriggered(_Event):
    kind: ClassVar[str] = "triggered"
    seq: int
    ts: int
    symbol: str
    order_id: int
    trigger_price: Decimal


@dataclass(frozen=True, slots=True)
class OrderRejected(_Event):
    kind: ClassVar[str] = "rejected"
    seq: int
    ts: int
    symbol: str
    client_order_id: str | None
    order_id: int | None
    reason: RejectReason
    code: int
    msg: str
    status: OrderStatus = OrderStatus.REJECTED


@dataclass(frozen=True, slots=True)
class OrderAmended(_Event):
    kind: ClassVar[str] = "amended"
    seq: int
    ts: int
    symbol: str
    order_id: int
    price: Decimal
    quantity: Decimal
    leaves_qty: Decimal
    keeps_priority: bool


@dataclass(frozen=True, slots=True)
class OrderReleased(_Event):
    """Unmatched rest of a ``protect_price`` order, handed back to the router (not rested)."""

    kind: ClassVar[str] = "released"
    seq: int
    ts: int
    symbol: str
    order_id: int
    executed_qty: Decimal
    leaves_qty: Decimal
    leaves_quote: Decimal | None


Event = Union[
    OrderAccepted, Trade, OrderCancelled, OrderExpired, StopTriggered, OrderRejected, OrderAmended, OrderReleased
]


def events_to_json(events: list[Event]) -> bytes:
    """Canonical bytes of a whole event stream, one JSON object per line."""
    return b"\n".join(e.to_json() for e in events)


@dataclass(frozen=True, slots=True)
class Preview:
    """What an order would match internally right now: (price, quantity, maker order id) fills.

    Not an event: ``preview`` changes nothing and consumes no sequence number.
    """

    fills: tuple[tuple[Decimal, Decimal, int], ...]
    filled_qty: Decimal
    remaining_qty: Decimal | None  # None for quote-quantity orders
