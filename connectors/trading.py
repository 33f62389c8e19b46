"""The order-entry face every venue adapter offers the router: child orders in, venue order states out.

Amounts are exact ``Decimal``; symbols and asset names are canonical (``BTC/USDT``, ``BTC``); each adapter
translates to its venue's spelling. A child order carries a deterministic client order id, so sending it
twice can never make two orders: the adapter (and the venue) recognise the id.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import structlog

from connectors.errors import OrderStateUnknown, VenueError
from domain import OrderSide, OrderStatus, TimeInForce

log = structlog.get_logger(__name__)

ZERO = Decimal(0)
_SIDES = tuple(str(s) for s in OrderSide)  # plain text, for the checks' messages
_TIFS = tuple(str(t) for t in TimeInForce)

# Fixed namespace: the same (parent, round, venue) gives the same id in every process, forever.
_ID_NAMESPACE = uuid.UUID("6f1b2a3c-5d4e-4f60-8a7b-9c0d1e2f3a4b")


@dataclass(frozen=True)
class ChildOrder:
    venue: str
    symbol: str  # canonical, e.g. "BTC/USDT"
    side: OrderSide
    qty: Decimal
    price: Decimal  # limit
    tif: TimeInForce
    client_order_id: str

    def __post_init__(self) -> None:
        if self.side not in _SIDES:
            raise ValueError(f"side was {self.side!r}, expected one of {_SIDES}")
        if self.tif not in _TIFS:
            raise ValueError(f"tif was {self.tif!r}, expected one of {_TIFS}")
        if not isinstance(self.qty, Decimal) or not isinstance(self.price, Decimal):
            raise TypeError("qty and price must be Decimal")
        if self.qty <= 0 or self.price <= 0:
            raise ValueError(f"qty and price must be positive, received {self.qty} @ {self.price}")


@dataclass(frozen=True)
class VenueFill:
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str  # canonical
    trade_id: str


@dataclass(frozen=True)
class VenueOrder:
    venue: str
    symbol: str
    client_order_id: str
    venue_order_id: str | None
    side: OrderSide
    price: Decimal
    qty: Decimal
    status: OrderStatus
    filled_qty: Decimal
    quote_qty: Decimal  # sum of price * qty over the fills
    fee: Decimal
    fee_asset: str
    fills: tuple[VenueFill, ...] = ()

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def avg_price(self) -> Decimal | None:
        return self.quote_qty / self.filled_qty if self.filled_qty else None


class TradingVenue(Protocol):
    """One venue's order entry. Errors are ``connectors.errors.VenueError`` subclasses."""

    venue: str

    async def place(self, order: ChildOrder) -> VenueOrder: ...

    async def query(self, symbol: str, client_order_id: str) -> VenueOrder | None: ...

    async def cancel(self, symbol: str, client_order_id: str) -> VenueOrder: ...

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]: ...

    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]: ...

    async def close(self) -> None: ...


def client_order_id_for(parent_id: str, round_no: int, venue: str) -> str:
    """Deterministic id of the child sent to ``venue`` in routing round ``round_no`` of ``parent_id``.

    A UUID (36 chars, hex and '-') is the one form every venue takes: Binance newClientOrderId
    (``^[.A-Z:/a-z0-9_-]{1,36}$``), Kraken cl_ord_id (UUID, or free text of at most 18 chars) and HTX
    client-order-id (at most 64 chars).
    """
    if round_no < 0:
        raise ValueError(f"round_no was {round_no}")
    return str(uuid.uuid5(_ID_NAMESPACE, f"{parent_id}\x1f{round_no}\x1f{venue}"))


def fills_summary(fills: tuple[VenueFill, ...], default_fee_asset: str) -> tuple[Decimal, Decimal, Decimal, str]:
    """(filled qty, quote qty, fee, fee asset) over fills; the fee is summed in the first fill's asset."""
    filled = sum((f.qty for f in fills), ZERO)
    quote = sum((f.price * f.qty for f in fills), ZERO)
    asset = fills[0].fee_asset if fills else default_fee_asset
    fee = sum((f.fee for f in fills if f.fee_asset == asset), ZERO)
    if any(f.fee_asset != asset for f in fills):
        log.warning("mixed_fee_assets", assets=sorted({f.fee_asset for f in fills}))
    return filled, quote, fee, asset


class SentIds:
    """Client order ids this adapter has already sent: a second place() of one is answered by a query.

    Venues only enforce uniqueness among open orders (Binance, Kraken), so a retried IOC that already
    filled would otherwise be accepted again.
    """

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def seen(self, client_order_id: str) -> bool:
        return client_order_id in self._ids

    def add(self, client_order_id: str) -> None:
        self._ids.add(client_order_id)


async def place_once(
    sent: SentIds,
    order: ChildOrder,
    send: Callable[[ChildOrder], Awaitable[VenueOrder]],
    query: Callable[[str, str], Awaitable[VenueOrder | None]],
) -> VenueOrder:
    """Send ``order`` unless its id went out before; then the venue's record of it is the answer."""
    if sent.seen(order.client_order_id):
        existing = await query(order.symbol, order.client_order_id)
        if existing is not None:
            log.info("place_deduplicated", venue=order.venue, client_order_id=order.client_order_id)
            return existing
    sent.add(order.client_order_id)  # before sending: a timeout must still count as sent
    try:
        return await send(order)
    except VenueError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        # the venue answered something that is not an order (cut off, HTML, another shape): it may have taken it
        raise OrderStateUnknown(order.venue, f"unreadable answer: {exc!r}") from exc


def decimal_text(value: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros: Decimal('1E+2') -> '100', '0.50' -> '0.5'."""
    return format(value.normalize(), "f")


def dec(value: object) -> Decimal:
    """Exact Decimal of a venue number (strings as sent; ints; never a float that slipped through)."""
    if isinstance(value, float):
        raise TypeError(f"a float reached an exact field: {value!r}")
    if value is None or value == "":
        return ZERO
    return Decimal(str(value))
