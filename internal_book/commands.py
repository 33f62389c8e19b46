"""Commands: the only inputs of the engine. Immutable; time is carried in ``ts`` (no clock reads).

Prices and quantities are ``Decimal`` at this edge; the engine scales them to integer ticks/lots.
``tenant`` + ``account`` together form the self-trade-prevention group, so two tenants whose
accounts share an id never collide; orders of different accounts (any tenant) match freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain import OrderSide, OrderType, StpMode, TimeInForce

# An account or tenant as the engine sees it: only compared and hashed (Braid passes its integer ids; the
# engine's own tests use names).
Party = int | str


@dataclass(frozen=True, slots=True)
class NewOrder:
    """Place an order (Binance ``POST /api/v3/order`` fields, plus ``protect_price`` for the router).

    ``protect_price``: match only against resting orders at prices no worse than this; whatever is
    left is released to the caller (event ``released``), never rested.
    ``remainder``: what is left of an order that passed the entry filters when it first came in (the router's
    remainder of a client order, an order restored after a restart): as on Binance, where a resting order's
    remainder is never re-checked, the entry minimums (``minQty``, ``minNotional``) do not apply to it.
    """

    symbol: str
    account: Party
    side: OrderSide
    order_type: OrderType
    quantity: Decimal | None = None
    price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    quote_order_qty: Decimal | None = None
    stop_price: Decimal | None = None
    trailing_delta: int | None = None
    client_order_id: str | None = None
    stp_mode: StpMode = StpMode.EXPIRE_MAKER
    tenant: Party = ""
    ts: int = 0
    protect_price: Decimal | None = None
    remainder: bool = False


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel an open order (resting or pending stop) by ``order_id`` or ``client_order_id``."""

    symbol: str
    account: Party
    order_id: int | None = None
    client_order_id: str | None = None
    tenant: Party = ""
    ts: int = 0


@dataclass(frozen=True, slots=True)
class AmendOrder:
    """Change a resting order. A pure quantity decrease keeps time priority; anything else loses it.

    ``new_quantity`` is the new total (original) quantity, as Binance's ``newQty``.
    """

    symbol: str
    account: Party
    order_id: int | None = None
    client_order_id: str | None = None
    new_quantity: Decimal | None = None
    new_price: Decimal | None = None
    tenant: Party = ""
    ts: int = 0


@dataclass(frozen=True, slots=True)
class CancelReplace:
    """Cancel then place (Binance ``cancelReplaceMode=STOP_ON_FAILURE``): no placement if the cancel fails."""

    cancel: CancelOrder
    new_order: NewOrder


@dataclass(frozen=True, slots=True)
class SetReferencePrice:
    """Feed the market reference price (consolidated mid/last) that stop orders trigger on."""

    symbol: str
    price: Decimal
    ts: int = 0


Command = NewOrder | CancelOrder | AmendOrder | CancelReplace | SetReferencePrice
