"""Events: the only outputs of the engine. Immutable, sequence-numbered, canonically serialised.

``to_json()`` gives the canonical bytes (sorted keys, decimals as normalised strings, enums by
name): the same inputs give the same bytes, whichever engine (compiled or reference) produced them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, NamedTuple

from domain import OrderSide, OrderStatus, OrderType, StpMode, TimeInForce
from internal_book.commands import Party
from internal_book.errors import RejectReason


def canonical(value: Any) -> Any:
    """JSON-ready form: Decimals as plain normalised strings, enums by name."""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, Enum):
        return value.name
    return value


def _to_dict(self: Any) -> dict[str, Any]:
    out = {name: canonical(value) for name, value in zip(self._fields, self, strict=True)}
    out["kind"] = self.kind
    return out


def _to_json(self: Any) -> bytes:
    return json.dumps(_to_dict(self), sort_keys=True, separators=(",", ":")).encode()


# Events are NamedTuples: immutable, cheap to build (the engine makes millions). Each class names its
# ``kind`` (a Literal, so ``e.kind == "trade"`` narrows an ``Event`` for the type checker) and gets the
# canonical ``to_dict()`` / ``to_json()`` below.


class OrderAccepted(NamedTuple):
    seq: int
    ts: int
    symbol: str
    order_id: int
    client_order_id: str | None
    tenant: Party
    account: Party
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce | None
    price: Decimal | None
    quantity: Decimal | None
    quote_order_qty: Decimal | None
    stop_price: Decimal | None
    trailing_delta: int | None
    stp_mode: StpMode
    status: OrderStatus = OrderStatus.NEW

    @property
    def kind(self) -> Literal["accepted"]:
        return "accepted"


class Trade(NamedTuple):
    """One fill at the maker's price; statuses are the orders' statuses right after this fill."""

    seq: int
    ts: int
    symbol: str
    trade_id: int
    price: Decimal
    quantity: Decimal
    taker_order_id: int
    maker_order_id: int
    taker_side: OrderSide
    taker_status: OrderStatus
    maker_status: OrderStatus

    @property
    def kind(self) -> Literal["trade"]:
        return "trade"


class OrderCancelled(NamedTuple):
    seq: int
    ts: int
    symbol: str
    order_id: int
    client_order_id: str | None
    executed_qty: Decimal
    leaves_qty: Decimal
    status: OrderStatus = OrderStatus.CANCELED

    @property
    def kind(self) -> Literal["cancelled"]:
        return "cancelled"


class OrderExpired(NamedTuple):
    """Remaining quantity expired: ``EXPIRED`` (IOC/FOK/MARKET) or ``EXPIRED_IN_MATCH`` (STP)."""

    seq: int
    ts: int
    symbol: str
    order_id: int
    executed_qty: Decimal
    leaves_qty: Decimal
    leaves_quote: Decimal | None
    status: OrderStatus

    @property
    def kind(self) -> Literal["expired"]:
        return "expired"


class StopTriggered(NamedTuple):
    seq: int
    ts: int
    symbol: str
    order_id: int
    trigger_price: Decimal

    @property
    def kind(self) -> Literal["triggered"]:
        return "triggered"


class OrderRejected(NamedTuple):
    seq: int
    ts: int
    symbol: str
    client_order_id: str | None
    order_id: int | None
    reason: RejectReason
    code: int
    msg: str
    status: OrderStatus = OrderStatus.REJECTED

    @property
    def kind(self) -> Literal["rejected"]:
        return "rejected"


class OrderAmended(NamedTuple):
    seq: int
    ts: int
    symbol: str
    order_id: int
    price: Decimal
    quantity: Decimal
    leaves_qty: Decimal
    keeps_priority: bool

    @property
    def kind(self) -> Literal["amended"]:
        return "amended"


class OrderReleased(NamedTuple):
    """Unmatched rest of a ``protect_price`` order, handed back to the router (not rested)."""

    seq: int
    ts: int
    symbol: str
    order_id: int
    executed_qty: Decimal
    leaves_qty: Decimal
    leaves_quote: Decimal | None

    @property
    def kind(self) -> Literal["released"]:
        return "released"


for _cls in (
    OrderAccepted,
    Trade,
    OrderCancelled,
    OrderExpired,
    StopTriggered,
    OrderRejected,
    OrderAmended,
    OrderReleased,
):
    _cls.to_dict = _to_dict  # type: ignore[union-attr]
    _cls.to_json = _to_json  # type: ignore[union-attr]


Event = (
    OrderAccepted | Trade | OrderCancelled | OrderExpired | StopTriggered | OrderRejected | OrderAmended | OrderReleased
)


def events_to_json(events: list[Event]) -> bytes:
    """Canonical bytes of a whole event stream, one JSON object per line."""
    return b"\n".join(_to_json(e) for e in events)


@dataclass(frozen=True, slots=True)
class Preview:
    """What an order would match internally right now: (price, quantity, maker order id) fills.

    Not an event: ``preview`` changes nothing and consumes no sequence number.
    """

    fills: tuple[tuple[Decimal, Decimal, int], ...]
    filled_qty: Decimal
    remaining_qty: Decimal | None  # None for quote-quantity orders
