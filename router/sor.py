"""The smart order router: a client's parent order in, fills from the internal book and the venues out.

One parent, in order:
1. kill switch and pre-trade risk;
2. internal first: match other clients' resting orders, but only at prices no worse than what the venues
   would charge (fee-adjusted) for the same quantity; internal fills carry no venue fee;
3. rounds: plan children across the live venues (router.planner), send them all at once as IOC (FOK for a
   FOK parent) with deterministic client order ids, take the fills, and re-plan what is left against the
   now-current books, within the policy's round and time budget. A child whose outcome is unknown is
   reconciled by querying the venue before anything else is sent for that quantity;
4. what is left: a GTC limit remainder rests in the internal book (and is routed out when venue prices
   move through it); IOC, FOK and market remainders expire. A FOK parent that the books cannot fill in
   full is not started.

When no venue shows a price within the parent's limit, nothing is planned: the internal book is the whole
story (a GTC limit then goes to the engine once, matching and resting in one command).

Who books fills (the API's order flow) listens with ``trade_listeners``: each is called with a parent's id
whenever the internal engine trades it, resting makers included. A parent that is done and booked is
dropped with ``forget``.

The router is the only writer of the matching engine (DESIGN: one writer); all engine events pass here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from config.instruments import Instrument
from config.policy import PolicySet, PolicyStore, RoutingPolicy
from config.settings import Settings
from connectors.book import L2Book
from connectors.errors import (
    OrderStateUnknown,
    RateLimited,
    Rejected,
    VenueError,
    VenueUnavailable,
)
from connectors.numbers import units_to_decimal
from connectors.trading import ChildOrder, TradingVenue, VenueOrder, client_order_id_for
from domain import OrderSide, OrderStatus, OrderType, TimeInForce
from internal_book import MatchingEngine, NewOrder
from internal_book import events as ev
from internal_book.commands import CancelOrder
from router.consolidated import BookView, ConsolidatedMarket
from router.inventory import Inventory
from router.killswitch import KillSwitch, Scope
from router.planner import Plan, VenueTerms, plan
from router.reasons import Rejection, RejectReason, error_of
from router.report import (
    INTERNAL,
    ExecutionReport,
    ParentFill,
    ParentOrder,
    build_report,
)
from router.risk import PreTradeRisk

log = structlog.get_logger(__name__)
ZERO = Decimal(0)
BPS = Decimal(10_000)
_RECONCILE_ATTEMPTS = 5
_RECONCILE_PAUSE_S = 0.05
# bound once: an enum member costs about a microsecond to look up on Python 3.11, and these run per order
_NEW, _PARTIALLY_FILLED, _FILLED = OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED
_CANCELED, _EXPIRED, _REJECTED = OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED
_BUY, _SELL, _LIMIT = OrderSide.BUY, OrderSide.SELL, OrderType.LIMIT


@dataclass
class _Parent:
    order: ParentOrder
    policy: RoutingPolicy
    limit: Decimal | None  # the effective limit: client's, market protection band, slippage cap
    arrival_mid: Decimal | None
    arrival_books: dict[str, L2Book]
    terms: dict[str, VenueTerms] | None  # at arrival; None until something needs them (_arrival_terms)
    live_at_arrival: Mapping[str, L2Book]
    fills: list[ParentFill] = field(default_factory=list)
    rounds: int = 0
    in_doubt: Decimal = ZERO
    engine_id: int | None = None  # while resting in the internal book
    resting: Decimal = ZERO
    status: OrderStatus = _NEW
    working: dict[str, ChildOrder] = field(default_factory=dict)  # client order id -> child in flight
    # venue -> (its book's last update when a child came back short, that child's limit): the levels up to
    # that limit are gone there, whatever the mirrored book still shows, until the venue next updates
    exhausted: dict[str, tuple[int, Decimal]] = field(default_factory=dict)

    @property
    def filled(self) -> Decimal:
        return sum((f.qty for f in self.fills), ZERO)

    @property
    def remaining(self) -> Decimal:
        return self.order.qty - self.filled - self.in_doubt - self.resting


class SmartOrderRouter:
    def __init__(
        self,
        market: ConsolidatedMarket,
        venues: Mapping[str, TradingVenue],
        instruments: Mapping[tuple[str, str], Instrument],
        *,
        engine: MatchingEngine | None = None,
        policies: PolicyStore | PolicySet | None = None,
        settings: Settings | None = None,
        risk: PreTradeRisk | None = None,
        killswitch: KillSwitch | None = None,
        inventory: Inventory | None = None,
        clock: Callable[[], int] = time.time_ns,
        compare_venues: bool = True,
    ) -> None:
        """``compare_venues``: reports price the fills against the best single venue at arrival and the mid
        (a copy of every live book and a plan per parent; the Binance API's answers carry neither)."""
        self.market = market
        self.venues = dict(venues)
        self.instruments = dict(instruments)  # (venue, canonical symbol) -> rules on that venue
        self.engine = engine
        self.policies = policies if policies is not None else PolicySet(RoutingPolicy(), {})
        self.settings = settings or Settings()
        self.risk = risk
        self.killswitch = killswitch or KillSwitch()
        self.inventory = inventory or Inventory()
        self.clock = clock
        self.compare_venues = compare_venues
        self.parents: dict[str, _Parent] = {}
        self._by_engine_id: dict[int, str] = {}  # resting (or being submitted) engine order id -> parent
        # (id(policy), symbol) -> (that policy, venue -> whether it prices that venue's taker fee below zero)
        self._rebates: dict[tuple[int, str], tuple[RoutingPolicy, dict[str, bool]]] = {}
        self.trade_listeners: list[Callable[[str], None]] = []
        self.killswitch.on_halt(self._on_halt)

    # ----- the public face -----
    async def execute(self, order: ParentOrder) -> ExecutionReport:
        """Route one parent order to completion (or to rest), and report on it."""
        if order.parent_id in self.parents:
            return self.report(order.parent_id)  # a retried request never routes twice
        policy = self.policies.for_symbol(order.symbol)
        book = self.market.book(order.symbol)
        now = self.clock()
        # the mid bounds market orders and slippage and feeds risk; otherwise only the report shows it
        needs_mid = (
            self.compare_venues
            or self.risk is not None
            or order.order_type == "MARKET"
            or policy.slippage_limit_bps is not None
        )
        mid = book.mid(now) if needs_mid else None
        live = {v: b for v, b in book.live_books(now).items() if policy.allows(v)}
        arrival = {v: b.copy() for v, b in live.items()} if self.compare_venues else {}
        p = _Parent(order, policy, None, mid, arrival, None, live)
        self.parents[order.parent_id] = p

        rejection = self._admit(order, policy, mid)
        if rejection is None:
            p.limit = self._effective_limit(order, policy, mid)
            if order.order_type == "MARKET" and p.limit is None:
                rejection = Rejection(RejectReason.RISK_NO_REFERENCE_PRICE)
        if rejection is not None:
            return self._finish(p, _REJECTED, rejection)
        if order.tif == "FOK" and not self._fok_feasible(p, live):
            log.info("fok_unfillable", parent=order.parent_id)
            return self._finish(p, _EXPIRED, Rejection(RejectReason.ROUTER_FOK_UNFILLABLE))

        if policy.internalise and self.engine is not None:
            self._match_internally(p, live)
        await self._route_rounds(p)
        return self._settle(p)

    def report(self, parent_id: str) -> ExecutionReport:
        p = self.parents[parent_id]
        return self._report(p, p.status)

    def fills_of(self, parent_id: str) -> tuple[list[ParentFill], OrderStatus]:
        """A parent's fills so far (the live list: copy it to keep it) and its status, without a report."""
        p = self.parents[parent_id]
        return p.fills, p.status

    def forget(self, parent_id: str) -> None:
        """Drop a parent that is done (its fills booked elsewhere); a resting one is not dropped."""
        p = self.parents.get(parent_id)
        if p is not None and p.engine_id is None:
            del self.parents[parent_id]

    async def cancel(self, parent_id: str) -> ExecutionReport:
        """Cancel the resting remainder of a parent."""
        p = self.parents[parent_id]
        if p.engine_id is not None and self.engine is not None:
            self._engine_events(
                self.engine.cancel(
                    CancelOrder(
                        p.order.symbol, p.order.account, order_id=p.engine_id, tenant=p.order.tenant, ts=self.clock()
                    )
                )
            )
        if p.resting:
            p.resting = ZERO
        if p.engine_id is not None:
            self._by_engine_id.pop(p.engine_id, None)
        p.engine_id = None
        p.status = _CANCELED if p.filled < p.order.qty else p.status
        return self._report(p, p.status)

    async def sweep_resting(self) -> list[str]:
        """Route out resting remainders whose limit the venues' fee-adjusted prices have moved through."""
        routed = []
        for pid, p in list(self.parents.items()):
            if p.engine_id is None or not p.resting or self.killswitch.check(p.order.symbol) is not None:
                continue
            live = self._books_for(p)
            terms = self._terms(p.order.symbol, p.order.side, p.policy, live)
            probe = plan(p.order.side, p.resting, live, terms, limit_price=p.limit)
            if not probe.children:
                continue
            # take the remainder out of the internal book, route it, and rest whatever is still left
            assert self.engine is not None
            self._engine_events(
                self.engine.cancel(
                    CancelOrder(
                        p.order.symbol, p.order.account, order_id=p.engine_id, tenant=p.order.tenant, ts=self.clock()
                    )
                )
            )
            self._by_engine_id.pop(p.engine_id, None)
            p.resting, p.engine_id = ZERO, None
            await self._route_rounds(p)
            self._settle(p)
            routed.append(pid)
        return routed

    async def on_market(self, symbols: list[str] | None = None) -> None:
        """Feed the kill switch's anomaly rule with each consolidated mid, then route out crossed remainders."""
        now = self.clock()
        for symbol in symbols if symbols is not None else list(self.market):
            mid = self.market.book(symbol).mid(now)
            if mid is not None:
                await self.killswitch.observe_mid(symbol, mid, now)
        await self.sweep_resting()

    async def watch_market(self, interval_s: float = 0.1) -> None:
        """Run :meth:`on_market` forever, every ``interval_s`` (a task of the service)."""
        while True:
            try:
                await self.on_market()
            except Exception:  # one bad pass must not end the watch
                log.exception("market_watch_failed")
            await asyncio.sleep(interval_s)

    # ----- admission -----
    def _admit(self, order: ParentOrder, policy: RoutingPolicy, mid: Decimal | None) -> Rejection | None:
        halted = self.killswitch.rejection(order.symbol)
        if halted is not None:
            return halted
        if not any(v in self.venues for v in policy.venues) and not policy.internalise:
            return Rejection(RejectReason.ROUTER_NO_VENUE)
        if self.risk is not None:
            open_orders = sum(
                1
                for q in self.parents.values()
                if q.order.account == order.account and q.order.tenant == order.tenant and q.resting
            )
            refused = self.risk.evaluate(
                order.symbol, order.side, order.qty, order.price, mid, open_orders, order.account
            )
            if refused is not None:
                return refused
        return None

    def _effective_limit(self, order: ParentOrder, policy: RoutingPolicy, mid: Decimal | None) -> Decimal | None:
        buy = order.side == "BUY"
        limits: list[Decimal] = []
        if order.price is not None:
            limits.append(order.price)
        if mid is not None:
            if order.order_type == "MARKET":
                band = policy.market_protection_bps / BPS
                limits.append(mid * (1 + band) if buy else mid * (1 - band))
            if policy.slippage_limit_bps is not None:
                band = policy.slippage_limit_bps / BPS
                limits.append(mid * (1 + band) if buy else mid * (1 - band))
        if not limits:
            return None
        return min(limits) if buy else max(limits)

    def _fok_feasible(self, p: _Parent, live: Mapping[str, L2Book]) -> bool:
        internal = ZERO
        if p.policy.internalise and self.engine is not None:
            internal = self.engine.preview(self._engine_order(p, p.order.qty, p.limit, TimeInForce.IOC)).filled_qty
        venues = plan(
            p.order.side,
            p.order.qty - internal,
            self._routable(live, p),
            self._arrival_terms(p),
            limit_price=p.limit,
            max_level_share=p.policy.max_level_share,
            max_child_notional=p.policy.max_child_notional,
        )
        return internal + venues.planned_qty >= p.order.qty

    # ----- internal first -----
    def _match_internally(self, p: _Parent, live: Mapping[str, L2Book]) -> None:
        assert self.engine is not None
        qty = p.remaining
        if qty <= 0:
            return
        # never trade through the venues: no worse than what they would charge for this quantity
        reach = self._venues_reach(p, live)
        venue_price = self._venue_price(p, qty, live) if reach else None
        cap = p.limit
        if venue_price is not None:
            cap = (
                venue_price
                if cap is None
                else (min(cap, venue_price) if p.order.side == "BUY" else max(cap, venue_price))
            )
        if cap is None:
            return
        if not reach and p.order.tif == "GTC" and p.order.order_type == "LIMIT" and cap == p.order.price:
            # nothing to route: match and rest in one engine command (what _settle would rest is the same)
            if self.killswitch.check(p.order.symbol) is None:
                self._rest(p, qty)
                return
        tif = TimeInForce.FOK if p.order.tif == "FOK" and not live else TimeInForce.IOC
        events = self.engine.submit(self._engine_order(p, qty, cap, tif))
        self._engine_events(events, taker=p)
        self._drop_engine_ids(events)

    def _venues_reach(self, p: _Parent, live: Mapping[str, L2Book]) -> bool:
        """Whether a venue may fill some of the parent within its limit: one shows a price inside it.

        When none does, a plan could only be empty, and what the venues would charge for any quantity is
        beyond the limit (fees are never negative), so the limit alone caps an internal match."""
        limit = p.limit
        if limit is None or self._negative_fee(p, live):
            return True
        buy = p.order.side == "BUY"
        for v, book in live.items():
            if v not in self.venues:
                continue
            bid, _, ask, _ = book.top()
            px = ask if buy else bid
            if px is None:
                continue
            price = units_to_decimal(px, book.price_scale)
            if (buy and price <= limit) or (not buy and price >= limit):
                return True
        return False

    def _rest(self, p: _Parent, qty: Decimal) -> None:
        """Submit ``qty`` as a GTC limit at the parent's price: it matches what it can and rests the rest."""
        assert self.engine is not None
        events = self.engine.submit(self._engine_order(p, qty, p.order.price, TimeInForce.GTC))
        accepted = False
        for e in events:
            if e.kind == "accepted":
                accepted = True
                p.engine_id = e.order_id
                self._by_engine_id[e.order_id] = p.order.parent_id
        # refused by the book: nothing rests (the parent ends EXPIRED with what it filled, its lock released)
        p.resting = qty - sum((e.quantity for e in events if e.kind == "trade"), ZERO) if accepted else ZERO
        self._engine_events(events, taker=p)
        if p.resting <= 0:
            self._by_engine_id.pop(p.engine_id, None)  # type: ignore[arg-type]
            p.resting, p.engine_id = ZERO, None

    def _drop_engine_ids(self, events: list[ev.Event]) -> None:
        # an IOC/FOK engine order is over once submitted: nothing will trade it again
        for e in events:
            if e.kind == "accepted":
                self._by_engine_id.pop(e.order_id, None)

    def _venue_price(self, p: _Parent, qty: Decimal, live: Mapping[str, L2Book]) -> Decimal | None:
        """Fee-adjusted average price the venues would fill ``qty`` at (or what they can of it)."""
        unlimited = {v: VenueTerms(t.instrument, t.fee, t.priority) for v, t in self._arrival_terms(p).items()}
        venues = plan(p.order.side, qty, live, unlimited)
        if not venues.children:
            return None
        total = venues.planned_qty
        cost = sum((c.notional + c.fee if p.order.side == "BUY" else c.notional - c.fee for c in venues.children), ZERO)
        return cost / total

    def _engine_order(self, p: _Parent, qty: Decimal, price: Decimal | None, tif: TimeInForce) -> NewOrder:
        """``qty`` of the parent for the engine; less than the whole order is the rest of one the gateway
        accepted, which the entry minimums no longer apply to (as a resting remainder on Binance)."""
        return NewOrder(
            symbol=p.order.symbol,
            account=p.order.account,
            tenant=p.order.tenant,
            side=_BUY if p.order.side == "BUY" else _SELL,
            order_type=_LIMIT,
            quantity=qty,
            price=self._internal_price(p.order.symbol, price, p.order.side),
            time_in_force=tif,
            client_order_id=p.order.parent_id,
            ts=self.clock(),
            remainder=p.order.remainder or qty < p.order.qty,
        )

    def _internal_price(self, symbol: str, price: Decimal | None, side: str) -> Decimal | None:
        # the engine takes prices on its own tick: a buy cap rounds down, a sell cap rounds up
        inst = self.instruments.get(("internal", symbol))
        if price is None or inst is None or not inst.tick_size:
            return price
        ticks = price / inst.tick_size
        whole = ticks.to_integral_value(rounding="ROUND_FLOOR" if side == "BUY" else "ROUND_CEILING")
        return whole * inst.tick_size

    def _engine_events(self, events: list[ev.Event], taker: _Parent | None = None) -> None:
        for e in events:
            if e.kind == "accepted" and taker is not None and e.client_order_id == taker.order.parent_id:
                self._by_engine_id[e.order_id] = taker.order.parent_id
            elif e.kind == "trade":
                for oid, maker in ((e.taker_order_id, False), (e.maker_order_id, True)):
                    pid = self._by_engine_id.get(oid)
                    if pid is None:
                        continue
                    q = self.parents[pid]
                    q.fills.append(
                        ParentFill(
                            INTERNAL,
                            e.price,
                            e.quantity,
                            ZERO,
                            q.order.symbol.partition("/")[2],
                            f"T{e.trade_id}",
                            maker,
                        )
                    )
                    if maker:
                        q.resting -= e.quantity
                        if q.resting <= 0:
                            self._by_engine_id.pop(oid, None)
                            q.resting, q.engine_id = ZERO, None
                            q.status = _FILLED
                    for listener in self.trade_listeners:
                        listener(pid)
            elif e.kind == "expired":
                # self-trade prevention expired a resting order (EXPIRE_MAKER): that parent rests no more
                pid = self._by_engine_id.get(e.order_id)
                if pid is None or (taker is not None and pid == taker.order.parent_id):
                    continue
                q = self.parents[pid]
                self._by_engine_id.pop(e.order_id, None)
                q.resting, q.engine_id = ZERO, None
                q.status = e.status
                for listener in self.trade_listeners:
                    listener(pid)
            elif e.kind == "rejected" and taker is not None:
                log.warning("internal_rejected", parent=taker.order.parent_id, code=e.code, msg=e.msg)

    # ----- venue rounds -----
    async def _route_rounds(self, p: _Parent) -> None:
        deadline = self.clock() + int(p.policy.time_budget_s * 1e9)
        excluded: set[str] = set()
        while p.remaining > 0 and p.rounds < p.policy.max_rounds and self.clock() < deadline:
            if self.killswitch.check(p.order.symbol) is not None:
                log.info("routing_stopped_by_halt", parent=p.order.parent_id)
                return
            live = self._books_for(p, excluded)
            if not self._venues_reach(p, live):
                return
            terms = self._terms(p.order.symbol, p.order.side, p.policy, live)
            child_plan = plan(
                p.order.side,
                p.remaining,
                live,
                terms,
                limit_price=p.limit,
                max_level_share=p.policy.max_level_share,
                max_child_notional=p.policy.max_child_notional,
            )
            if not child_plan.children:
                return
            excluded |= await self._dispatch(p, child_plan, deadline)
            p.rounds += 1

    def _books_for(self, p: _Parent, excluded: set[str] = frozenset()) -> dict[str, L2Book]:  # type: ignore[assignment]
        """The books a parent may route to now: live, allowed by its policy, not halted, with what its own
        short-filled children showed to be gone taken out."""
        views = self.market.book(p.order.symbol).live_venue_books(self.clock())
        live = {v: self._without_exhausted(p, b) for v, b in views.items() if p.policy.allows(v) and v not in excluded}
        return self._routable(live, p)

    def _without_exhausted(self, p: _Parent, view: BookView) -> L2Book:
        gone = p.exhausted.get(view.venue)
        if gone is None or gone[0] != view.last_update_ns:
            return view.levels
        version, limit = gone
        buy = p.order.side == "BUY"
        levels = view.levels
        copy = levels.copy()
        rows = levels.asks() if buy else levels.bids()
        drop = []
        for price, _ in rows:
            value = units_to_decimal(price, levels.price_scale)
            if (buy and value > limit) or (not buy and value < limit):
                break
            drop.append([str(value), "0"])
        if buy:
            copy.apply(None, drop)
        else:
            copy.apply(drop)
        return copy

    def _routable(self, live: Mapping[str, L2Book], p: _Parent) -> dict[str, L2Book]:
        halted = self.killswitch.halted_venues()
        return {v: b for v, b in live.items() if v in self.venues and v not in halted}

    async def _dispatch(self, p: _Parent, child_plan: Plan, deadline: int) -> set[str]:
        """Send one round's children at once; returns venues to leave out of the next rounds."""

        def tif(venue: str) -> TimeInForce:
            # FOK where the venue has it (Kraken has none: IOC there; the parent was checked fillable first)
            fok = p.order.tif == "FOK" and getattr(self.venues[venue], "supports_fok", True)
            return TimeInForce.FOK if fok else TimeInForce.IOC

        children = [
            ChildOrder(
                c.venue,
                p.order.symbol,
                p.order.side,
                c.qty,
                c.limit_price,
                tif(c.venue),
                client_order_id_for(p.order.parent_id, p.rounds, c.venue),
            )
            for c in child_plan.children
        ]
        for child in children:
            p.working[child.client_order_id] = child
        timeout = p.policy.child_timeout_s
        results = await asyncio.gather(*(self._send(child, timeout) for child in children))
        excluded: set[str] = set()
        for child, (outcome, error) in zip(children, results, strict=True):
            p.working.pop(child.client_order_id, None)
            if outcome is not None:
                self._take_fills(p, child, outcome)
                if outcome.filled_qty < child.qty:
                    view = self.market.book(p.order.symbol).live_venue_books(self.clock()).get(child.venue)
                    if view is not None:
                        p.exhausted[child.venue] = (view.last_update_ns, child.price)
            elif isinstance(error, OrderStateUnknown):
                p.in_doubt += child.qty  # never re-sent until the venue tells us what happened
                log.error("child_in_doubt", parent=p.order.parent_id, venue=child.venue, cid=child.client_order_id)
            elif error is not None:
                excluded.add(child.venue)
                log.warning("child_failed", parent=p.order.parent_id, venue=child.venue, error=str(error))
        return excluded

    async def _send(self, child: ChildOrder, timeout_s: float) -> tuple[VenueOrder | None, VenueError | None]:
        venue = self.venues[child.venue]
        try:
            return await asyncio.wait_for(venue.place(child), timeout_s), None
        except (Rejected, RateLimited, VenueUnavailable) as exc:
            return None, exc
        except (TimeoutError, OrderStateUnknown) as exc:
            log.warning(
                "child_outcome_unknown", venue=child.venue, cid=child.client_order_id, error=str(exc) or "timeout"
            )
            return await self._reconcile(venue, child)
        except VenueError as exc:
            return None, exc

    async def _reconcile(self, venue: TradingVenue, child: ChildOrder) -> tuple[VenueOrder | None, VenueError | None]:
        """Ask the venue what became of a child before anything else is sent for its quantity."""
        absent = 0
        for attempt in range(_RECONCILE_ATTEMPTS):
            try:
                found = await venue.query(child.symbol, child.client_order_id)
            except (VenueError, KeyError, IndexError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
                # a failed or unreadable answer tells nothing: ask again
                log.warning("reconcile_query_failed", venue=child.venue, attempt=attempt, error=repr(exc))
                found = None
            else:
                if found is None:
                    absent += 1
                    if absent >= 2:  # asked twice, a moment apart: it never reached the venue
                        return None, VenueUnavailable(child.venue, "order never reached the venue")
                elif found.status.is_open and child.tif != "GTC":
                    try:  # an IOC still showing open will end by itself; cancel so it cannot linger
                        found = await venue.cancel(child.symbol, child.client_order_id)
                    except VenueError:
                        pass
                if found is not None and not found.status.is_open:
                    log.info(
                        "child_reconciled", venue=child.venue, cid=child.client_order_id, status=found.status.value
                    )
                    return found, None
            await asyncio.sleep(_RECONCILE_PAUSE_S * (attempt + 1))
        return None, OrderStateUnknown(child.venue, "outcome still unknown after reconciliation")

    def _take_fills(self, p: _Parent, child: ChildOrder, outcome: VenueOrder) -> None:
        for f in outcome.fills:
            p.fills.append(ParentFill(child.venue, f.price, f.qty, f.fee, f.fee_asset, child.client_order_id))
        if not outcome.fills and outcome.filled_qty:  # a venue that reports totals only
            avg = outcome.quote_qty / outcome.filled_qty
            p.fills.append(
                ParentFill(child.venue, avg, outcome.filled_qty, outcome.fee, outcome.fee_asset, child.client_order_id)
            )
        if outcome.filled_qty:
            self.inventory.apply_fill(
                child.venue,
                child.symbol,
                child.side,
                outcome.filled_qty,
                outcome.quote_qty,
                outcome.fee,
                outcome.fee_asset,
            )

    # ----- the end of a parent -----
    def _settle(self, p: _Parent) -> ExecutionReport:
        left = p.remaining
        if (
            left > 0
            and p.order.tif == "GTC"
            and p.order.order_type == "LIMIT"
            and self.engine is not None
            and p.engine_id is None
        ):
            if self.killswitch.check(p.order.symbol) is None:
                self._rest(p, left)
        filled = p.filled
        if filled >= p.order.qty:
            status = _FILLED
        elif p.resting > 0:
            status = _PARTIALLY_FILLED if filled else _NEW
        else:
            status = _EXPIRED
        p.status = status
        return self._report(p, status)

    def _finish(self, p: _Parent, status: OrderStatus, rejection: Rejection) -> ExecutionReport:
        p.status = status
        code, msg = error_of(rejection.reason, rejection.detail)
        log.info("parent_refused", parent=p.order.parent_id, status=status, code=code, msg=msg)
        return self._report(p, status, (code, msg))

    def _report(self, p: _Parent, status: OrderStatus, reject: tuple[int, str] | None = None) -> ExecutionReport:
        return build_report(
            p.order,
            p.fills,
            status=status,
            arrival_mid=p.arrival_mid,
            arrival_books=p.arrival_books,
            terms=self._arrival_terms(p) if self.compare_venues else {},
            rounds=p.rounds,
            resting_qty=p.resting,
            in_doubt_qty=p.in_doubt,
            reject=reject,
        )

    # ----- helpers -----
    def _arrival_terms(self, p: _Parent) -> dict[str, VenueTerms]:
        if p.terms is None:
            p.terms = self._terms(p.order.symbol, p.order.side, p.policy, p.live_at_arrival)
        return p.terms

    def _negative_fee(self, p: _Parent, venues: Mapping[str, object]) -> bool:
        """Whether a venue the parent could route to charges a negative taker fee (as _terms would price it)."""
        symbol, policy = p.order.symbol, p.policy
        known = self._rebates.get((id(policy), symbol))
        if known is None or known[0] is not policy:  # a reloaded policy set brings new policy objects
            if len(self._rebates) > 10_000:
                self._rebates.clear()
            known = self._rebates[(id(policy), symbol)] = (policy, {})
        rebate = known[1]
        for v in venues:
            r = rebate.get(v)
            if r is None:
                r = rebate[v] = (v, symbol) in self.instruments and policy.fee_for(
                    v, self.settings.venue(v).taker_fee
                ) < 0
            if r:
                return True
        return False

    def _terms(
        self, symbol: str, side: OrderSide, policy: RoutingPolicy, live: Mapping[str, L2Book]
    ) -> dict[str, VenueTerms]:
        out = {}
        for v in live:
            inst = self.instruments.get((v, symbol))
            if inst is None:
                continue
            vs = self.settings.venue(v)
            out[v] = VenueTerms(
                inst,
                policy.fee_for(v, vs.taker_fee),
                policy.priority_for(v, vs.priority),
                self.inventory.available_for(v, symbol, side),
            )
        return out

    async def _on_halt(self, scope: Scope) -> None:
        """Kill switch: cancel working children in the halted scope (their parents stop routing by themselves)."""
        for p in self.parents.values():
            for cid, child in list(p.working.items()):
                if scope.covers(child.symbol, child.venue):
                    try:
                        await self.venues[child.venue].cancel(child.symbol, cid)
                    except VenueError as exc:
                        log.warning("halt_cancel_failed", venue=child.venue, cid=cid, error=str(exc))
