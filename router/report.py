"""Parent orders, their fills, and the execution report a desk or an analyst reads.

Price improvement compares what the parent actually paid (fees included) with what the best single
venue would have charged for the same quantity on the books as they were when the parent arrived.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from connectors.book import L2Book
from connectors.numbers import plain
from domain import AccountId, OrderSide, OrderStatus, OrderType, TenantId, TimeInForce
from router.planner import VenueTerms, plan

ZERO = Decimal(0)
INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class ParentOrder:
    """A client's order as the router receives it (after the gateway's checks)."""

    parent_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    order_type: OrderType = OrderType.LIMIT  # LIMIT or MARKET (checked below)
    price: Decimal | None = None  # limit; None for MARKET
    tif: TimeInForce = TimeInForce.GTC
    tenant: TenantId = 0  # with account: the self-trade-prevention group
    account: AccountId = 0
    # the rest of an order accepted earlier (one restored after a restart): the internal book does not check it
    # against the entry minimums again (minQty, minNotional), as Binance never re-checks a resting remainder
    remainder: bool = False

    def __post_init__(self) -> None:
        if self.side not in ("BUY", "SELL"):
            raise ValueError(f"side was {self.side!r}")
        if self.order_type not in ("LIMIT", "MARKET"):
            raise ValueError(f"order type was {self.order_type!r}")
        if self.qty <= 0:
            raise ValueError(f"qty must be positive, was {self.qty}")
        if self.order_type == "LIMIT" and (self.price is None or self.price <= 0):
            raise ValueError("a LIMIT parent needs a positive price")
        if self.order_type == "MARKET" and self.tif == "GTC":
            object.__setattr__(self, "tif", TimeInForce.IOC)  # a market order never rests


class ParentFill(NamedTuple):
    source: str  # a venue name, or "internal"
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    ref: str  # child client order id, or internal trade id
    maker: bool = False


class ExecutionReport(NamedTuple):
    """What became of a parent order (immutable; one is made per parent and answer, so it is a NamedTuple)."""

    parent_id: str
    symbol: str
    side: OrderSide
    requested: Decimal
    filled: Decimal
    status: OrderStatus  # NEW (resting), PARTIALLY_FILLED, FILLED, EXPIRED, REJECTED, CANCELED
    arrival_mid: Decimal | None
    avg_price: Decimal | None  # before fees
    effective_price: Decimal | None  # fees folded in
    fees: Decimal  # in the quote asset
    by_source: Mapping[str, tuple[Decimal, Decimal, Decimal]]  # source -> (qty, notional, fee in quote)
    best_single_venue: str | None
    best_single_venue_price: Decimal | None  # fee-adjusted, for the filled quantity, at arrival
    improvement_bps: Decimal | None  # positive: better than the best single venue
    slippage_bps: Decimal | None  # effective price against the arrival mid; positive: worse than mid
    rounds: int
    resting_qty: Decimal
    in_doubt_qty: Decimal  # children whose outcome could not be established (never re-sent)
    reject_code: int | None = None
    reject_msg: str | None = None
    fills: tuple[ParentFill, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        def s(v: Decimal | None) -> str | None:
            return None if v is None else str(plain(v))

        return {
            "parent_id": self.parent_id,
            "symbol": self.symbol,
            "side": self.side,
            "requested": s(self.requested),
            "filled": s(self.filled),
            "status": self.status,
            "arrival_mid": s(self.arrival_mid),
            "avg_price": s(self.avg_price),
            "effective_price": s(self.effective_price),
            "fees": s(self.fees),
            "by_source": {k: {"qty": s(q), "notional": s(n), "fee": s(f)} for k, (q, n, f) in self.by_source.items()},
            "best_single_venue": self.best_single_venue,
            "best_single_venue_price": s(self.best_single_venue_price),
            "improvement_bps": s(self.improvement_bps),
            "slippage_bps": s(self.slippage_bps),
            "rounds": self.rounds,
            "resting_qty": s(self.resting_qty),
            "in_doubt_qty": s(self.in_doubt_qty),
            "reject": None if self.reject_code is None else {"code": self.reject_code, "msg": self.reject_msg},
        }


def best_single_venue(
    side: OrderSide, qty: Decimal, books: Mapping[str, L2Book], terms: Mapping[str, VenueTerms]
) -> tuple[str | None, Decimal | None]:
    """The venue that alone would fill ``qty`` at the best fee-adjusted average price (None if none can)."""
    best: tuple[str | None, Decimal | None] = (None, None)
    for venue, book in books.items():
        if venue not in terms:
            continue
        t = terms[venue]
        alone = plan(side, qty, {venue: book}, {venue: VenueTerms(_no_rules(t), t.fee, t.priority)})
        if alone.planned_qty < qty:
            continue
        c = alone.children[0]
        price = (c.notional + c.fee) / c.qty if side == "BUY" else (c.notional - c.fee) / c.qty
        if best[1] is None or (price < best[1] if side == "BUY" else price > best[1]):
            best = (venue, price)
    return best


def _no_rules(t: VenueTerms) -> Any:
    from dataclasses import replace

    # the comparison is about displayed prices, not about lot steps or minimums
    return replace(t.instrument, step_size=ZERO, min_qty=ZERO, min_notional=ZERO)


def fee_value(fill: ParentFill, base: str, quote: str) -> Decimal:
    """A fill's fee in the quote asset: venues charge in quote, or in the base asset received (valued at the
    fill price). A fee in a third asset (e.g. a venue token) has no price here and counts as zero."""
    if fill.fee_asset == quote or not fill.fee:
        return fill.fee
    if fill.fee_asset == base:
        return fill.fee * fill.price
    return ZERO


def build_report(
    parent: ParentOrder,
    fills: list[ParentFill],
    *,
    status: OrderStatus,
    arrival_mid: Decimal | None,
    arrival_books: Mapping[str, L2Book],
    terms: Mapping[str, VenueTerms],
    rounds: int,
    resting_qty: Decimal = ZERO,
    in_doubt_qty: Decimal = ZERO,
    reject: tuple[int, str] | None = None,
) -> ExecutionReport:
    base, _, quote = parent.symbol.partition("/")
    filled = sum((f.qty for f in fills), ZERO)
    notional = sum((f.price * f.qty for f in fills), ZERO)
    fees = sum((fee_value(f, base, quote) for f in fills), ZERO)
    by_source: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    for f in fills:
        q, n, fee = by_source.get(f.source, (ZERO, ZERO, ZERO))
        by_source[f.source] = (q + f.qty, n + f.price * f.qty, fee + fee_value(f, base, quote))
    buy = parent.side == "BUY"
    avg = notional / filled if filled else None
    eff = (notional + fees) / filled if filled and buy else ((notional - fees) / filled if filled else None)
    venue, single = best_single_venue(parent.side, filled, arrival_books, terms) if filled else (None, None)
    improvement = None
    if eff is not None and single:
        improvement = ((single - eff) if buy else (eff - single)) / single * 10_000
    slippage = None
    if eff is not None and arrival_mid:
        slippage = ((eff - arrival_mid) if buy else (arrival_mid - eff)) / arrival_mid * 10_000
    return ExecutionReport(
        parent_id=parent.parent_id,
        symbol=parent.symbol,
        side=parent.side,
        requested=parent.qty,
        filled=filled,
        status=status,
        arrival_mid=arrival_mid,
        avg_price=avg,
        effective_price=eff,
        fees=fees,
        by_source=by_source,
        best_single_venue=venue,
        best_single_venue_price=single,
        improvement_bps=improvement,
        slippage_bps=slippage,
        rounds=rounds,
        resting_qty=resting_qty,
        in_doubt_qty=in_doubt_qty,
        reject_code=None if reject is None else reject[0],
        reject_msg=None if reject is None else reject[1],
        fills=tuple(fills),
    )
