"""Reference engine: a slow, obviously-correct list-based book in exact Decimals.

It is the executable specification the compiled engine is tested against (same commands in, same
event bytes out, same state hash). Every rule lives here in plain Python; no speed tricks.

Rules where Binance leaves room, as decided here (the compiled core does the same):
- Entry checks run in a fixed order: symbol, trading, parameter presence, PRICE_FILTER (price, stop,
  protect), quoteOrderQty precision, LOT_SIZE, MARKET_LOT_SIZE, TRAILING_DELTA, NOTIONAL, duplicate
  client id, "would trigger immediately", LIMIT_MAKER "would take".
- NOTIONAL: price * qty for priced types; for MARKET by quantity the last price * qty (Binance uses
  a moving average); for market stops stopPrice * qty; quoteOrderQty itself for quote orders.
- STP: the taker's mode decides; the group is (tenant, account). FOK is all-or-nothing against what
  the taker could really execute (makers it would expire don't count, its own expiry stops it).
- MARKET by quoteOrderQty buys/sells whole lots; it ends FILLED when the budget can't buy another
  lot at the next price, EXPIRED when liquidity runs out first.
- Stops: plain stops whose condition already holds are rejected; trailing stops activate (at the
  current price) instead. Trailing extremes follow every trade price and reference price; triggers
  are checked after each command's matching, lowest order id first, until none fires.
- Amend: pure quantity decrease keeps priority; a price change or increase re-enters the order at
  the back (it may trade). Quantity at or below the executed quantity is refused.
- protect_price: matching stops at the protection price; the rest is released, never rested.
- Reference prices are inputs (journaled, part of the state) but emit no event of their own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from config import Instrument
from domain import OrderSide, OrderStatus, OrderType, StpMode, TimeInForce
from internal_book import events as ev
from internal_book.commands import (
    AmendOrder,
    CancelOrder,
    CancelReplace,
    Command,
    NewOrder,
    Party,
    SetReferencePrice,
)
from internal_book.errors import RejectReason, error_of
from internal_book.filters import (
    PRICE,
    PROTECT,
    QTY,
    QUOTE,
    STOP,
    TIF,
    TRAIL,
    check_params,
)
from internal_book.orders import (
    MARKET_LIKE,
    MAX_TRAILING_DELTA,
    MIN_TRAILING_DELTA,
    PRICED,
    STOP_TYPES,
    stop_triggers_upward,
)

R = RejectReason
BPS = Decimal(10000)


class RefOrder:
    """Mutable working copy of one open order (the reference keeps it naive on purpose)."""

    def __init__(self, cmd: NewOrder, oid: int, inst: Instrument) -> None:
        self.oid = oid
        self.symbol = cmd.symbol
        self.group = (cmd.tenant, cmd.account)
        self.clid = cmd.client_order_id
        self.side = cmd.side
        self.type = cmd.order_type
        self.tif = cmd.time_in_force
        # Optional in a command, present wherever this engine reads them (a resting order has a price, a
        # stop order its stop, a trailing stop its extreme): typed Any rather than asserted at every use, as
        # the naive reference stays close to the rules it states; the property tests hold it to the core.
        self.price: Any = cmd.price
        self.qty: Any = cmd.quantity
        self.leaves = cmd.quantity if cmd.quantity is not None else Decimal(0)
        self.executed = Decimal(0)
        # quote budget rounded down to a whole number of tick*step units (all trades are multiples)
        unit = inst.tick_size * inst.step_size
        self.quote = None if cmd.quote_order_qty is None else (cmd.quote_order_qty // unit) * unit
        self.stop: Any = cmd.stop_price
        self.trail: Any = cmd.trailing_delta
        self.active = False
        self.extreme: Any = None
        self.stp = cmd.stp_mode
        self.protect = cmd.protect_price
        self.ts = cmd.ts
        self.prio = 0
        self.limit_like = self.type in PRICED

    def status(self) -> OrderStatus:
        return OrderStatus.PARTIALLY_FILLED if self.executed > 0 else OrderStatus.NEW


class ReferenceEngine:
    """Naive engine with the public command/event contract of ``MatchingEngine``."""

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self.instruments = {i.symbol: i for i in instruments}
        self.book: dict[str, list[RefOrder]] = {s: [] for s in self.instruments}
        self.stops: dict[str, list[RefOrder]] = {s: [] for s in self.instruments}
        self.last: dict[str, Decimal | None] = {s: None for s in self.instruments}
        self.open: dict[int, RefOrder] = {}
        self.clids: dict[tuple[Party, Party], dict[str, int]] = {}
        self.seq = 0
        self.next_oid = 1
        self.next_tid = 1
        self.prio = 0
        self._out: list[ev.Event] = []

    # ---- public face -------------------------------------------------------------------------
    def apply(self, cmd: Command) -> list[ev.Event]:
        self._out = []
        if isinstance(cmd, NewOrder):
            self._new(cmd)
        elif isinstance(cmd, CancelOrder):
            self._cancel(cmd)
        elif isinstance(cmd, AmendOrder):
            self._amend(cmd)
        elif isinstance(cmd, CancelReplace):
            if self._cancel(cmd.cancel):
                self._new(cmd.new_order)
        elif isinstance(cmd, SetReferencePrice):
            self._refpx(cmd)
        else:
            raise TypeError(f"unknown command {cmd!r}")
        return self._out

    def preview(self, order: NewOrder) -> ev.Preview:
        """Fills ``order`` would get now, without changing anything."""
        limit = order.price if order.order_type in PRICED else None
        if order.protect_price is not None:
            p = order.protect_price
            limit = p if limit is None else (min(limit, p) if order.side == OrderSide.BUY else max(limit, p))
        inst = self.instruments[order.symbol]
        unit = inst.tick_size * inst.step_size
        quote = None if order.quote_order_qty is None else (order.quote_order_qty // unit) * unit
        fills = tuple(
            self.simulate(
                order.symbol, order.side, (order.tenant, order.account), order.stp_mode, limit, order.quantity, quote
            )
        )
        filled = sum((q for _, q, _ in fills), Decimal(0))
        return ev.Preview(fills, filled, None if order.quantity is None else order.quantity - filled)

    def validate_internal_state(self) -> None:
        for s in self.instruments:
            bid, ask = self._best(s, OrderSide.BUY), self._best(s, OrderSide.SELL)
            assert bid is None or ask is None or bid.price < ask.price, "book crossed"
            for o in self.book[s]:
                assert o.leaves > 0 and o.leaves + o.executed == o.qty, "quantity identity broken"

    def state(self) -> dict[str, Any]:
        """Canonical state (same shape as ``MatchingEngine.state()``)."""
        syms = {}
        for s in sorted(self.instruments):
            bids = sorted((o for o in self.book[s] if o.side == OrderSide.BUY), key=lambda o: (-o.price, o.prio))
            asks = sorted((o for o in self.book[s] if o.side == OrderSide.SELL), key=lambda o: (o.price, o.prio))
            syms[s] = {
                "last": ev.canonical(self.last[s]),
                "bids": [_resting_row(o) for o in bids],
                "asks": [_resting_row(o) for o in asks],
                "stops": [_stop_row(o) for o in self.stops[s]],
            }
        return {"seq": self.seq, "next_order_id": self.next_oid, "next_trade_id": self.next_tid, "symbols": syms}

    def state_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.state(), sort_keys=True).encode()).hexdigest()

    # ---- emit --------------------------------------------------------------------------------
    def _emit(self, cls: type, **kw: Any) -> None:
        self.seq += 1
        self._out.append(cls(seq=self.seq, **kw))

    def _reject(self, cmd: Any, symbol: str, reason: R, field: int = 0, oid: int | None = None) -> None:
        code, msg = error_of(reason, field)
        self._emit(
            ev.OrderRejected,
            ts=cmd.ts,
            symbol=symbol,
            client_order_id=cmd.client_order_id,
            order_id=oid,
            reason=reason,
            code=code,
            msg=msg,
        )

    # ---- checks ------------------------------------------------------------------------------
    def _price_bad(self, inst: Instrument, p: Decimal) -> bool:
        return (
            p <= 0
            or p % inst.tick_size != 0
            or (inst.min_price > 0 and p < inst.min_price)
            or (inst.max_price > 0 and p > inst.max_price)
        )

    def _qty_bad(self, inst: Instrument, q: Decimal, remainder: bool = False) -> bool:
        return (
            q <= 0
            or q % inst.step_size != 0
            or (not remainder and inst.min_qty > 0 and q < inst.min_qty)
            or (inst.max_qty > 0 and q > inst.max_qty)
        )

    def _notional_bad(self, inst: Instrument, n: Decimal, check_max: bool = True, remainder: bool = False) -> bool:
        return (not remainder and inst.min_notional > 0 and n < inst.min_notional) or (
            check_max and inst.max_notional > 0 and n > inst.max_notional
        )

    def _check_new(self, c: NewOrder) -> tuple[R, int] | None:
        inst = self.instruments.get(c.symbol)
        if inst is None:
            return R.MATCHING_UNKNOWN_SYMBOL, 0
        if not inst.trading:
            return R.MATCHING_MARKET_CLOSED, 0
        present = {
            f
            for f, v in (
                (TIF, c.time_in_force),
                (QTY, c.quantity),
                (PRICE, c.price),
                (QUOTE, c.quote_order_qty),
                (STOP, c.stop_price),
                (TRAIL, c.trailing_delta),
                (PROTECT, c.protect_price),
            )
            if v is not None
        }
        bad = check_params(c.order_type, present)
        if bad:
            return bad
        for p in (c.price, c.stop_price, c.protect_price):
            if p is not None and self._price_bad(inst, p):
                return R.MATCHING_PRICE_FILTER, 0
        unit = inst.tick_size * inst.step_size
        if c.quote_order_qty is not None:
            if c.quote_order_qty % unit != 0:
                return R.MATCHING_BAD_PRECISION, QUOTE
            if c.quote_order_qty <= 0:
                return R.MATCHING_NOTIONAL, 0
        if c.quantity is not None:
            if self._qty_bad(inst, c.quantity, c.remainder):
                return R.MATCHING_LOT_SIZE, 0
            if c.order_type in MARKET_LIKE:
                mstep = inst.market_step_size or inst.step_size
                if c.quantity % mstep != 0 or (inst.market_max_qty > 0 and c.quantity > inst.market_max_qty):
                    return R.MATCHING_MARKET_LOT_SIZE, 0
        if c.trailing_delta is not None and not MIN_TRAILING_DELTA <= c.trailing_delta <= MAX_TRAILING_DELTA:
            return R.MATCHING_TRAILING_DELTA, 0
        if c.order_type in PRICED:
            assert c.price is not None and c.quantity is not None  # check_params requires both
            if self._notional_bad(inst, c.price * c.quantity, remainder=c.remainder):
                return R.MATCHING_NOTIONAL, 0
        elif inst.apply_min_to_market:
            last = self.last[c.symbol]
            n: Decimal | None
            if c.quote_order_qty is not None:
                n = c.quote_order_qty
            else:
                assert c.quantity is not None  # check_params: a quantity where there is no quote budget
                if c.order_type == OrderType.MARKET:
                    n = None if last is None else last * c.quantity
                else:
                    n = None if c.stop_price is None else c.stop_price * c.quantity
            if n is not None and self._notional_bad(inst, n, check_max=False):
                return R.MATCHING_NOTIONAL, 0
        if c.client_order_id is not None and c.client_order_id in self.clids.get((c.tenant, c.account), {}):
            return R.MATCHING_DUPLICATE_ORDER, 0
        last = self.last[c.symbol]
        if (
            c.order_type in STOP_TYPES
            and c.trailing_delta is None
            and last is not None
            and c.stop_price is not None
            and _stop_cond(c.order_type, c.side, last, c.stop_price)
        ):
            return R.MATCHING_WOULD_TRIGGER_IMMEDIATELY, 0
        if c.order_type == OrderType.LIMIT_MAKER:
            best = self._best(c.symbol, OrderSide.SELL if c.side == OrderSide.BUY else OrderSide.BUY)
            if best is not None and c.price is not None and _crosses(c.side, c.price, best.price):
                return R.MATCHING_WOULD_TAKE, 0
        return None

    # ---- commands ----------------------------------------------------------------------------
    def _new(self, c: NewOrder) -> None:
        bad = self._check_new(c)
        if bad:
            self._reject(c, c.symbol, *bad)
            return
        inst = self.instruments[c.symbol]
        o = RefOrder(c, self.next_oid, inst)
        self.next_oid += 1
        self._emit(
            ev.OrderAccepted,
            ts=c.ts,
            symbol=c.symbol,
            order_id=o.oid,
            client_order_id=c.client_order_id,
            tenant=c.tenant,
            account=c.account,
            side=c.side,
            order_type=c.order_type,
            time_in_force=c.time_in_force,
            price=c.price,
            quantity=c.quantity,
            quote_order_qty=o.quote if c.quote_order_qty is not None else None,
            stop_price=c.stop_price,
            trailing_delta=c.trailing_delta,
            stp_mode=c.stp_mode,
        )
        if o.type in STOP_TYPES:
            last = self.last[c.symbol]
            if (
                o.trail is not None
                and last is not None
                and (o.stop is None or _stop_cond(o.type, o.side, last, o.stop))
            ):
                o.active, o.extreme = True, last
            self._track(o)
            self.stops[c.symbol].append(o)
        else:
            self._execute(o, c.ts)
        self._run_triggers(c.symbol, c.ts)

    def _find(self, c: CancelOrder | AmendOrder) -> RefOrder | None:
        o = None
        if c.order_id is not None:
            o = self.open.get(c.order_id)
        elif c.client_order_id is not None:
            oid = self.clids.get((c.tenant, c.account), {}).get(c.client_order_id)
            o = None if oid is None else self.open.get(oid)
        if o is None or o.symbol != c.symbol or o.group != (c.tenant, c.account):
            return None
        return o

    def _cancel(self, c: CancelOrder) -> bool:
        if c.symbol not in self.instruments:
            self._reject(c, c.symbol, R.MATCHING_UNKNOWN_SYMBOL, oid=c.order_id)
            return False
        if c.order_id is None and c.client_order_id is None:
            self._reject(c, c.symbol, R.MATCHING_CANCEL_INVALID)
            return False
        o = self._find(c)
        if o is None:
            self._reject(c, c.symbol, R.MATCHING_UNKNOWN_ORDER, oid=c.order_id)
            return False
        self._remove(o)
        self._emit(
            ev.OrderCancelled,
            ts=c.ts,
            symbol=o.symbol,
            order_id=o.oid,
            client_order_id=o.clid,
            executed_qty=o.executed,
            leaves_qty=o.leaves,
        )
        return True

    def _amend(self, c: AmendOrder) -> None:
        if c.symbol not in self.instruments:
            self._reject(c, c.symbol, R.MATCHING_UNKNOWN_SYMBOL, oid=c.order_id)
            return
        if c.order_id is None and c.client_order_id is None:
            self._reject(c, c.symbol, R.MATCHING_CANCEL_INVALID)
            return
        o = self._find(c)
        if o is None:
            self._reject(c, c.symbol, R.MATCHING_UNKNOWN_ORDER, oid=c.order_id)
            return
        if o not in self.book[o.symbol]:
            self._reject(c, c.symbol, R.MATCHING_AMEND_NOT_ALLOWED, oid=o.oid)
            return
        inst = self.instruments[c.symbol]
        if c.new_quantity is None and c.new_price is None:
            self._reject(c, c.symbol, R.MATCHING_MANDATORY_PARAM, 8, oid=o.oid)
            return
        if c.new_price is not None and self._price_bad(inst, c.new_price):
            self._reject(c, c.symbol, R.MATCHING_PRICE_FILTER, oid=o.oid)
            return
        if c.new_quantity is not None and self._qty_bad(inst, c.new_quantity):
            self._reject(c, c.symbol, R.MATCHING_LOT_SIZE, oid=o.oid)
            return
        price = o.price if c.new_price is None else c.new_price
        qty = o.qty if c.new_quantity is None else c.new_quantity
        if qty <= o.executed:
            self._reject(c, c.symbol, R.MATCHING_AMEND_BELOW_EXECUTED, oid=o.oid)
            return
        if self._notional_bad(inst, price * qty):
            self._reject(c, c.symbol, R.MATCHING_NOTIONAL, oid=o.oid)
            return
        if price == o.price and qty <= o.qty:
            o.leaves -= o.qty - qty
            o.qty = qty
            self._emit(
                ev.OrderAmended,
                ts=c.ts,
                symbol=o.symbol,
                order_id=o.oid,
                price=price,
                quantity=qty,
                leaves_qty=o.leaves,
                keeps_priority=True,
            )
            return
        if o.type == OrderType.LIMIT_MAKER:
            best = self._best(o.symbol, OrderSide.SELL if o.side == OrderSide.BUY else OrderSide.BUY)
            if best is not None and _crosses(o.side, price, best.price):
                self._reject(c, c.symbol, R.MATCHING_WOULD_TAKE, oid=o.oid)
                return
        self._remove(o)
        o.price, o.leaves, o.qty = price, qty - o.executed, qty
        self._emit(
            ev.OrderAmended,
            ts=c.ts,
            symbol=o.symbol,
            order_id=o.oid,
            price=price,
            quantity=qty,
            leaves_qty=o.leaves,
            keeps_priority=False,
        )
        self._execute(o, c.ts)
        self._run_triggers(o.symbol, c.ts)

    def _refpx(self, c: SetReferencePrice) -> None:
        inst = self.instruments.get(c.symbol)
        if inst is None:
            self._emit(
                ev.OrderRejected,
                ts=c.ts,
                symbol=c.symbol,
                client_order_id=None,
                order_id=None,
                reason=R.MATCHING_UNKNOWN_SYMBOL,
                code=-1121,
                msg="Invalid symbol.",
            )
            return
        if self._price_bad(inst, c.price):
            code, msg = error_of(R.MATCHING_PRICE_FILTER)
            self._emit(
                ev.OrderRejected,
                ts=c.ts,
                symbol=c.symbol,
                client_order_id=None,
                order_id=None,
                reason=R.MATCHING_PRICE_FILTER,
                code=code,
                msg=msg,
            )
            return
        self._set_last(c.symbol, c.price)
        self._run_triggers(c.symbol, c.ts)

    # ---- book mechanics ----------------------------------------------------------------------
    def _best(self, symbol: str, side: OrderSide) -> RefOrder | None:
        rows = [o for o in self.book[symbol] if o.side == side]
        if not rows:
            return None
        if side == OrderSide.BUY:
            return min(rows, key=lambda o: (-o.price, o.prio))
        return min(rows, key=lambda o: (o.price, o.prio))

    def _remove(self, o: RefOrder) -> None:
        if o in self.book[o.symbol]:
            self.book[o.symbol].remove(o)
        else:
            self.stops[o.symbol].remove(o)
        del self.open[o.oid]
        if o.clid is not None:
            del self.clids[o.group][o.clid]

    def _track(self, o: RefOrder) -> None:
        self.open[o.oid] = o
        if o.clid is not None:
            self.clids.setdefault(o.group, {})[o.clid] = o.oid

    def _rest(self, o: RefOrder) -> None:
        self.prio += 1
        o.prio = self.prio
        self.book[o.symbol].append(o)
        self._track(o)

    def _set_last(self, symbol: str, price: Decimal) -> None:
        self.last[symbol] = price
        for s in self.stops[symbol]:
            if s.trail is None:
                continue
            if not s.active:
                if s.stop is None or _stop_cond(s.type, s.side, price, s.stop):
                    s.active, s.extreme = True, price
            elif s.side == OrderSide.BUY:
                s.extreme = min(s.extreme, price)
            else:
                s.extreme = max(s.extreme, price)

    def _execute(self, o: RefOrder, ts: int) -> None:
        """Match ``o`` as taker, then rest, expire or release what is left."""
        limit = o.price if o.limit_like else None
        if o.protect is not None:
            limit = (
                o.protect
                if limit is None
                else (min(limit, o.protect) if o.side == OrderSide.BUY else max(limit, o.protect))
            )
        opp = OrderSide.SELL if o.side == OrderSide.BUY else OrderSide.BUY
        if o.tif == TimeInForce.FOK:
            filled = sum(
                (q for _, q, _ in self.simulate(o.symbol, o.side, o.group, o.stp, limit, o.leaves, None)), Decimal(0)
            )
            if filled < o.leaves:
                cls = ev.OrderReleased if o.protect is not None else ev.OrderExpired
                extra = {} if o.protect is not None else {"status": OrderStatus.EXPIRED}
                self._emit(
                    cls,
                    ts=ts,
                    symbol=o.symbol,
                    order_id=o.oid,
                    executed_qty=o.executed,
                    leaves_qty=o.leaves,
                    leaves_quote=None,
                    **extra,
                )
                return
        stp_expired = exhausted = False
        last_trade = -1
        while True:
            if o.quote is None and o.leaves == 0:
                break
            if o.quote is not None and o.quote == 0:
                exhausted = True
                break
            m = self._best(o.symbol, opp)
            if m is None or (limit is not None and not _crosses(o.side, limit, m.price)):
                break
            if o.stp != StpMode.NONE and m.group == o.group:
                if o.stp in (StpMode.EXPIRE_MAKER, StpMode.EXPIRE_BOTH):
                    self._remove(m)
                    self._emit(
                        ev.OrderExpired,
                        ts=ts,
                        symbol=m.symbol,
                        order_id=m.oid,
                        executed_qty=m.executed,
                        leaves_qty=m.leaves,
                        leaves_quote=None,
                        status=OrderStatus.EXPIRED_IN_MATCH,
                    )
                if o.stp in (StpMode.EXPIRE_TAKER, StpMode.EXPIRE_BOTH):
                    stp_expired = True
                    break
                continue
            step = self.instruments[o.symbol].step_size
            fill = min(m.leaves, o.leaves) if o.quote is None else min(m.leaves, (o.quote // (m.price * step)) * step)
            if fill == 0:
                exhausted = True
                break
            m.leaves -= fill
            m.executed += fill
            o.executed += fill
            if o.quote is None:
                o.leaves -= fill
            else:
                o.quote -= fill * m.price
            if m.leaves == 0:
                self._remove(m)
            taker_status = OrderStatus.FILLED if (o.quote is None and o.leaves == 0) else OrderStatus.PARTIALLY_FILLED
            tid = self.next_tid
            self.next_tid += 1
            self._emit(
                ev.Trade,
                ts=ts,
                symbol=o.symbol,
                trade_id=tid,
                price=m.price,
                quantity=fill,
                taker_order_id=o.oid,
                maker_order_id=m.oid,
                taker_side=o.side,
                taker_status=taker_status,
                maker_status=OrderStatus.FILLED if m.leaves == 0 else OrderStatus.PARTIALLY_FILLED,
            )
            last_trade = len(self._out) - 1
            self._set_last(o.symbol, m.price)
        if o.quote is None and o.leaves == 0:
            return
        leaves_quote = o.quote
        if stp_expired:
            self._emit(
                ev.OrderExpired,
                ts=ts,
                symbol=o.symbol,
                order_id=o.oid,
                executed_qty=o.executed,
                leaves_qty=o.leaves,
                leaves_quote=leaves_quote,
                status=OrderStatus.EXPIRED_IN_MATCH,
            )
        elif o.quote is not None and exhausted and o.executed > 0:
            t = self._out[last_trade]
            assert isinstance(t, ev.Trade)
            self._out[last_trade] = t._replace(taker_status=OrderStatus.FILLED)
        elif o.protect is not None:
            self._emit(
                ev.OrderReleased,
                ts=ts,
                symbol=o.symbol,
                order_id=o.oid,
                executed_qty=o.executed,
                leaves_qty=o.leaves,
                leaves_quote=leaves_quote,
            )
        elif o.quote is not None or o.type in MARKET_LIKE or o.tif in (TimeInForce.IOC, TimeInForce.FOK):
            self._emit(
                ev.OrderExpired,
                ts=ts,
                symbol=o.symbol,
                order_id=o.oid,
                executed_qty=o.executed,
                leaves_qty=o.leaves,
                leaves_quote=leaves_quote,
                status=OrderStatus.EXPIRED,
            )
        else:
            self._rest(o)

    def simulate(
        self,
        symbol: str,
        side: OrderSide,
        group: tuple[Party, Party],
        stp: StpMode,
        limit: Decimal | None,
        qty: Decimal | None,
        quote: Decimal | None,
    ) -> list[tuple[Decimal, Decimal, int]]:
        """Fills (price, qty, maker id) the order would get now, without changing anything."""
        opp = OrderSide.SELL if side == OrderSide.BUY else OrderSide.BUY
        rows = [o for o in self.book[symbol] if o.side == opp]
        rows.sort(key=(lambda o: (-o.price, o.prio)) if opp == OrderSide.BUY else (lambda o: (o.price, o.prio)))
        step = self.instruments[symbol].step_size
        fills: list[tuple[Decimal, Decimal, int]] = []
        for m in rows:
            if (qty is not None and qty == 0) or (quote is not None and quote == 0):
                break
            if limit is not None and not _crosses(side, limit, m.price):
                break
            if stp != StpMode.NONE and m.group == group:
                if stp == StpMode.EXPIRE_MAKER:
                    continue
                break
            if quote is None:
                assert qty is not None, "an order without a quote budget has a quantity"
                fill = min(m.leaves, qty)
            else:
                fill = min(m.leaves, (quote // (m.price * step)) * step)
            if fill == 0:
                break
            fills.append((m.price, fill, m.oid))
            if qty is not None and quote is None:
                qty -= fill
            else:
                quote -= fill * m.price
        return fills

    def _triggered(self, s: RefOrder, last: Decimal) -> bool:
        if s.trail is None:
            return _stop_cond(s.type, s.side, last, s.stop)
        if not s.active:
            return False
        if s.side == OrderSide.BUY:
            return bool(last * BPS >= s.extreme * (BPS + s.trail))
        return bool(last * BPS <= s.extreme * (BPS - s.trail))

    def _run_triggers(self, symbol: str, ts: int) -> None:
        while True:
            last = self.last[symbol]
            if last is None:
                return
            hit = next((s for s in self.stops[symbol] if self._triggered(s, last)), None)
            if hit is None:
                return
            self.stops[symbol].remove(hit)
            del self.open[hit.oid]
            if hit.clid is not None:
                del self.clids[hit.group][hit.clid]
            self._emit(ev.StopTriggered, ts=ts, symbol=symbol, order_id=hit.oid, trigger_price=last)
            self._execute(hit, ts)


def _crosses(side: OrderSide, limit: Decimal, maker_price: Decimal) -> bool:
    return maker_price <= limit if side == OrderSide.BUY else maker_price >= limit


def _stop_cond(t: OrderType, side: OrderSide, price: Decimal, stop: Decimal) -> bool:
    return price >= stop if stop_triggers_upward(t, side) else price <= stop


def _resting_row(o: RefOrder) -> list[Any]:
    return [
        o.oid,
        o.group[0],
        o.group[1],
        o.clid,
        o.side.name,
        o.type.name,
        None if o.tif is None else o.tif.name,
        ev.canonical(o.price),
        ev.canonical(o.qty),
        ev.canonical(o.leaves),
        ev.canonical(o.executed),
        o.stp.name,
        o.ts,
    ]


def _stop_row(o: RefOrder) -> list[Any]:
    return [
        o.oid,
        o.group[0],
        o.group[1],
        o.clid,
        o.side.name,
        o.type.name,
        None if o.tif is None else o.tif.name,
        ev.canonical(o.price),
        ev.canonical(o.qty),
        ev.canonical(o.stop),
        o.trail,
        o.active,
        ev.canonical(o.extreme),
        o.stp.name,
        o.ts,
    ]
