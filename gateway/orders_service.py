"""The order flow behind the Binance API.

One new order, in order: parameters → Binance filters (the symbol's published exchangeInfo rules) →
ledger reservation → SmartOrderRouter.execute (kill switch and pre-trade risk run there first) → fills
settled in the ledger → order and trades persisted and **committed before the answer** → answer.
Everything one order does to the durable state goes into one ``wallets.Batch``: it commits whole or not
at all, and a refusal discards it (nothing changes).

Resting remainders fill later (another client's order matches them internally, or the market watch routes
them out); those fills are found through the router's engine events and booked in the same batch as the
order that caused them. Codes and texts come from :func:`router.reasons.error_of` (the router's report
carries them) and internal_book's error table.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any, Literal

import structlog

from config.instruments import Instrument
from domain import (
    OPEN_STATUSES,
    AccountId,
    Millis,
    OrderId,
    OrderSide,
    OrderStatus,
    OrderType,
    TenantId,
    TimeInForce,
    now_ms,
)
from gateway.binance_errors import (
    INSUFFICIENT_BALANCE,
    INVALID_SYMBOL,
    NO_REFERENCE_PRICE,
    UNKNOWN_ORDER,
    UNSUPPORTED_COMBINATION,
    RequestError,
    binance_error,
)
from internal_book import error_of as matching_error_of
from internal_book.errors import RejectReason as MatchingReason
from internal_book.filters import PRICE, QTY, QUOTE, STOP, TIF, TRAIL, check_params
from internal_book.orders import STOP_TYPES
from router.reasons import Reason, error_of
from router.report import INTERNAL, ExecutionReport, ParentFill, ParentOrder
from router.risk import PreTradeRisk
from router.sor import SmartOrderRouter
from wallets import (
    Batch,
    InsufficientBalance,
    OrderRecord,
    TradeRecord,
    Wallets,
    models,
    venue_account,
)
from wallets.db import Insert, Upsert

ParentTif = Literal["GTC", "IOC", "FOK"]  # a parent order's time in force (router.report.ParentOrder)

log = structlog.get_logger(__name__)
ZERO = Decimal(0)
Q8 = Decimal("0.00000001")
QUOTE_PRECISION = 8  # decimals of a quote amount (exchangeInfo's quoteAssetPrecision)
# text -> member for what a client sends (a dict lookup: an Enum call costs a microsecond per order)
_SIDE_OF = dict(OrderSide.__members__)
_TYPE_OF = {t: OrderType[t] for t in ("LIMIT", "LIMIT_MAKER", "MARKET")}  # the types Braid takes
_TIF_OF = dict(TimeInForce.__members__)
_STATUS_OF = dict(OrderStatus.__members__)
# bound once: an enum member costs about a microsecond to look up on Python 3.11
_BUY, _LIMIT, _LIMIT_MAKER, _MARKET = OrderSide.BUY, OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET
_GTC, _IOC = TimeInForce.GTC, TimeInForce.IOC
_NEW, _PARTIALLY_FILLED, _FILLED = OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED
_CANCELED, _EXPIRED, _EXPIRED_IN_MATCH = OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.EXPIRED_IN_MATCH
_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


class OrderRefused(Exception):
    """A Binance error answer from the order flow (code, msg); nothing was changed."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg

    @classmethod
    def of(cls, key: RequestError | Reason, detail: str = "", **fields: object) -> OrderRefused:
        """The one table's answer for ``key`` (:func:`gateway.binance_errors.binance_error`)."""
        code, msg, _ = binance_error(key, detail, **fields)
        return cls(code, msg)


def _refuse(reason: MatchingReason, field_code: int = 0) -> OrderRefused:
    return OrderRefused(*matching_error_of(reason, field_code))


@dataclass(slots=True)
class OrderRow:
    """An order while this process works it (the store keeps immutable snapshots of it)."""

    order_id: OrderId
    account_id: AccountId
    symbol: str  # Binance spelling, e.g. BTCUSDT
    client_order_id: str
    side: OrderSide
    type: OrderType
    tif: TimeInForce | None
    price: Decimal | None
    orig_qty: Decimal
    orig_quote_qty: Decimal
    executed_qty: Decimal
    cum_quote: Decimal
    status: OrderStatus
    time: Millis
    update_time: Millis
    reserved_asset: str = ""
    reserved_left: Decimal = ZERO  # still locked for this order
    canonical: str = ""  # BTC/USDT
    booked: int = 0  # router fills settled so far
    saved: bool = False
    # for an order restored after a restart: its fills' references start anew (the engine's trade ids do), so
    # they carry the restart's mark to stay apart from those booked before it
    fill_epoch: str = ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def row(self) -> dict[str, Any]:
        """The ``braid_orders`` row (built by hand: dataclasses.asdict deep-copies every Decimal)."""
        return {
            "order_id": self.order_id,
            "account_id": self.account_id,
            "symbol": self.symbol,
            "client_order_id": self.client_order_id,
            "side": self.side,
            "type": self.type,
            "tif": self.tif,
            "price": self.price,
            "stop_price": None,
            "orig_qty": self.orig_qty,
            "orig_quote_qty": self.orig_quote_qty or None,
            "executed_qty": self.executed_qty,
            "cum_quote": self.cum_quote,
            "status": self.status,
            "time": self.time,
            "update_time": self.update_time,
            "route": None,
        }

    def snapshot(self) -> OrderRow:
        """A copy as it stands (what one committed write holds; dataclasses.replace costs several times this)."""
        return OrderRow(
            self.order_id,
            self.account_id,
            self.symbol,
            self.client_order_id,
            self.side,
            self.type,
            self.tif,
            self.price,
            self.orig_qty,
            self.orig_quote_qty,
            self.executed_qty,
            self.cum_quote,
            self.status,
            self.time,
            self.update_time,
            self.reserved_asset,
            self.reserved_left,
            self.canonical,
            self.booked,
            self.saved,
            self.fill_epoch,
        )

    def record(self) -> OrderRecord:
        return OrderRecord(
            self.order_id,
            self.account_id,
            self.symbol,
            self.client_order_id,
            self.side,
            self.type,
            self.status,
            self.tif,
            self.price,
            None,
            self.orig_qty,
            self.orig_quote_qty or None,
            self.executed_qty,
            self.cum_quote,
            self.time,
            self.update_time,
        )


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: TenantId
    account_id: AccountId


@dataclass(slots=True)
class NewOrderRequest:
    """An order as the client sent it: side, type and tif are the client's text until ``validate`` checks them."""

    symbol: str
    side: str
    type: str
    tif: str | None = None
    quantity: Decimal | None = None
    quote_qty: Decimal | None = None
    price: Decimal | None = None
    client_order_id: str | None = None
    resp_type: str | None = None
    stop_price: Decimal | None = None
    trailing_delta: int | None = None


@dataclass(slots=True)
class Placed:
    order: OrderRow
    fills: list[TradeRecord]


# (kind, account_id, payload): "order" {order, fills, exec_type}; "balance" {} (the account's balances changed)
Listener = Callable[[str, int, dict[str, Any]], None]
Changed = list[tuple[OrderRow, list[TradeRecord], str]]  # (order, its new fills, execution type)


class OrdersService:
    def __init__(
        self,
        router: SmartOrderRouter,
        wallets: Wallets,
        instruments: dict[str, Instrument],
        *,
        commission_rate: Decimal = Decimal("0.001"),
        risk: PreTradeRisk | None = None,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.router = router
        self._traded: set[str] = set()  # parents the internal engine traded since they were last booked
        router.trade_listeners.append(self._traded.add)
        self.risk = risk  # checked here with the service's own open-order counts (the router's would scan)
        self.open_count: dict[int, int] = {}
        self._inflight: set[tuple[int, str]] = set()  # (account, client order id) of orders being placed
        self._open_cids: dict[tuple[int, str], int] = {}  # (account, client order id) -> open order id
        self._mids: dict[str, tuple[object, Decimal | None]] = {}
        self._book_version: dict[str, int] = {}  # symbol -> bumped whenever its resting orders change
        self._levels: dict[str, tuple[int, dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
        self.wallets = wallets
        self.by_symbol = {i.base + i.quote: i for i in instruments.values()}  # BTCUSDT -> the published rules
        self.commission_rate = commission_rate
        self.clock_ms = clock_ms
        self.live: dict[int, OrderRow] = {}  # order id -> open order worked here
        self.listeners: list[Listener] = []
        self.trade_listeners: list[Callable[[str, TradeRecord], None]] = []

    def instrument(self, symbol: str) -> Instrument:
        inst = self.by_symbol.get(symbol)
        if inst is None:
            raise OrderRefused.of(INVALID_SYMBOL)
        return inst

    # ----- validation (also order/test) -----
    def validate(self, req: NewOrderRequest) -> Instrument:
        """Parameter and filter checks only; raises OrderRefused."""
        inst = self.instrument(req.symbol)
        if req.side not in _SIDE_OF:
            raise OrderRefused.of(RequestError.INVALID_SIDE)
        if req.type not in _TYPE_OF:
            if req.type in STOP_TYPES:
                raise OrderRefused.of(UNSUPPORTED_COMBINATION)
            raise OrderRefused.of(RequestError.INVALID_ORDER_TYPE)
        if req.tif is not None and req.tif not in _TIF_OF:
            raise OrderRefused.of(RequestError.INVALID_TIME_IN_FORCE)
        if req.client_order_id is not None and not _CLIENT_ID.match(req.client_order_id):
            raise OrderRefused.of(
                RequestError.ILLEGAL_RANGE, name="newClientOrderId", legal=r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
            )
        present = {
            f
            for f, v in (
                (TIF, req.tif),
                (QTY, req.quantity),
                (PRICE, req.price),
                (QUOTE, req.quote_qty),
                (STOP, req.stop_price),
                (TRAIL, req.trailing_delta),
            )
            if v is not None
        }
        bad = check_params(_TYPE_OF[req.type], present)
        if bad is not None:
            raise _refuse(*bad)
        if not inst.trading:
            raise _refuse(MatchingReason.MATCHING_MARKET_CLOSED)
        market = req.type == "MARKET"
        if req.price is not None:
            p = req.price
            if (
                p <= 0
                or (inst.min_price and p < inst.min_price)
                or (inst.max_price and p > inst.max_price)
                or not inst.price_on_tick(p)
            ):
                raise _refuse(MatchingReason.MATCHING_PRICE_FILTER)
        if req.quantity is not None:
            q = req.quantity
            step = (inst.market_step_size or inst.step_size) if market else inst.step_size
            max_q = (inst.market_max_qty or inst.max_qty) if market else inst.max_qty
            reason = (
                MatchingReason.MATCHING_MARKET_LOT_SIZE
                if market and inst.market_step_size
                else MatchingReason.MATCHING_LOT_SIZE
            )
            if q <= 0 or (inst.min_qty and q < inst.min_qty) or (max_q and q > max_q) or (step and q % step):
                raise _refuse(reason)
        if req.quote_qty is not None:
            if req.quote_qty <= 0:
                raise _refuse(MatchingReason.MATCHING_NOTIONAL)
            if -int(req.quote_qty.as_tuple().exponent) > QUOTE_PRECISION:  # what exchangeInfo publishes
                raise _refuse(MatchingReason.MATCHING_BAD_PRECISION, QUOTE)
        notional = self._notional(req, inst)
        if notional is not None and (
            (inst.min_notional and notional < inst.min_notional and (not market or inst.apply_min_to_market))
            or (inst.max_notional and notional > inst.max_notional)
        ):
            raise _refuse(MatchingReason.MATCHING_NOTIONAL)
        return inst

    def _notional(self, req: NewOrderRequest, inst: Instrument) -> Decimal | None:
        if req.quote_qty is not None:
            return req.quote_qty
        if req.price is not None and req.quantity is not None:
            return req.price * req.quantity
        mid = self._mid(inst.symbol)
        return None if mid is None or req.quantity is None else req.quantity * mid

    # ----- new order -----
    async def place(self, caller: Caller, req: NewOrderRequest) -> Placed:
        inst = self.validate(req)
        acct = caller.account_id
        orders = self.wallets.orders
        order_id = orders.new_order_id()
        cid = req.client_order_id or f"braid{order_id}"
        if (acct, cid) in self._open_cids or (acct, cid) in self._inflight:
            raise _refuse(MatchingReason.MATCHING_DUPLICATE_ORDER)
        self._inflight.add((acct, cid))  # two concurrent orders with one client id: the second is refused
        try:
            return await self._place(caller, req, inst, order_id, cid)
        finally:
            self._inflight.discard((acct, cid))

    async def _place(self, caller: Caller, req: NewOrderRequest, inst: Instrument, order_id: int, cid: str) -> Placed:
        acct = caller.account_id
        buy = req.side == "BUY"
        qty, reserve = self._size(req, inst)
        if req.type == "MARKET" and buy and req.quote_qty is not None:
            # the router may pay a little above the displayed walk (fee-adjusted venue choice): lock 1% headroom
            # when the balance allows; what is not spent is released at the end
            extra = (reserve / 100).quantize(Q8, ROUND_UP)
            if self.wallets.ledger.available(acct, inst.quote).free >= reserve + extra:
                reserve += extra
        if self.risk is not None:
            refused = self.risk.evaluate(
                inst.symbol,
                _SIDE_OF[req.side],
                qty,
                req.price,
                self._mid(inst.symbol),
                self.open_count.get(acct, 0),
                acct,
            )
            if refused is not None:
                raise OrderRefused(*error_of(refused.reason, refused.detail))
        if req.type == "LIMIT_MAKER" and self._would_take(inst, buy, req.price):  # type: ignore[arg-type]
            raise _refuse(MatchingReason.MATCHING_WOULD_TAKE)
        asset = inst.quote if buy else inst.base
        batch = Batch()
        try:
            await self.wallets.ledger.reserve(acct, asset, reserve, f"order:{order_id}", batch=batch)
        except InsufficientBalance:
            raise OrderRefused.of(INSUFFICIENT_BALANCE) from None
        t = self.clock_ms()
        side, order_type = _SIDE_OF[req.side], _TYPE_OF[req.type]
        tif = _GTC if order_type == "LIMIT_MAKER" else (_TIF_OF[req.tif] if req.tif and order_type == "LIMIT" else None)
        row = OrderRow(
            order_id,
            acct,
            req.symbol,
            cid,
            side,
            order_type,
            tif,
            req.price,
            qty,
            req.quote_qty or ZERO,
            ZERO,
            ZERO,
            _NEW,
            t,
            t,
            asset,
            reserve,
            inst.symbol,
        )
        parent = ParentOrder(
            str(order_id),
            inst.symbol,
            side,
            qty,
            _MARKET if order_type == "MARKET" else _LIMIT,
            req.price,
            tif or _IOC,
            caller.tenant_id,
            acct,
        )
        try:
            report = await self.router.execute(parent)
        except Exception:
            await self._unreserve(acct, asset, reserve, order_id, batch)  # no reservation stays behind
            raise
        if report.status == "REJECTED" or (report.reject_code is not None and not report.filled):
            await self._unreserve(acct, asset, reserve, order_id, batch)
            if report.reject_code is None or report.reject_msg is None:
                raise OrderRefused.of(RequestError.ORDER_REJECTED)
            raise OrderRefused(report.reject_code, report.reject_msg)
        self._track(row)
        changed: Changed = []
        fills = await self._book(row, report, batch)
        await self._touched(batch, changed, exclude=order_id)
        snaps = await self._commit(batch, [(row, fills, "NEW"), *changed])
        return Placed(snaps[order_id], fills)

    async def _unreserve(self, acct: int, asset: str, amount: Decimal, order_id: int, batch: Batch) -> None:
        """A refused order's reservation, released in the same (committed) write: the ledger's view in memory
        and in the database stay the same, so no later posting has to re-read a balance mid-request."""
        await self.wallets.ledger.release(acct, asset, amount, f"order:{order_id}", batch=batch)
        await self.wallets.store.write(batch)

    def _mid(self, symbol: str) -> Decimal | None:
        """The consolidated mid, merged again only when a venue book moved (or one came or went)."""
        now = time.time_ns()
        book = self.router.market.book(symbol)
        version = tuple((v, b.last_update_ns) for v, b in book.live_venue_books(now).items())
        cached = self._mids.get(symbol)
        if cached is not None and cached[0] == version:
            return cached[1]
        mid = book.mid(now)
        self._mids[symbol] = (version, mid)
        return mid

    def _size(self, req: NewOrderRequest, inst: Instrument) -> tuple[Decimal, Decimal]:
        """(base quantity to route, amount to reserve) for the order."""
        buy = req.side == "BUY"
        if req.type != "MARKET":
            assert req.quantity is not None and req.price is not None
            return req.quantity, (req.quantity * req.price if buy else req.quantity)
        band = self._protection_price(inst, buy)
        if req.quantity is not None:
            return req.quantity, ((req.quantity * band).quantize(Q8, ROUND_UP) if buy else req.quantity)
        assert req.quote_qty is not None
        qty = self._qty_for_quote(inst, buy, req.quote_qty, band)
        if qty <= 0:
            raise _refuse(
                MatchingReason.MATCHING_MARKET_LOT_SIZE if inst.market_step_size else MatchingReason.MATCHING_LOT_SIZE
            )
        return qty, (req.quote_qty if buy else qty)

    def _protection_price(self, inst: Instrument, buy: bool) -> Decimal:
        mid = self._mid(inst.symbol)
        if mid is None:
            raise OrderRefused.of(NO_REFERENCE_PRICE)
        band = self.router.policies.for_symbol(inst.symbol).market_protection_bps / Decimal(10_000)
        return mid * (1 + band) if buy else mid * (1 - band)

    def _qty_for_quote(self, inst: Instrument, buy: bool, quote: Decimal, band: Decimal) -> Decimal:
        """Base quantity a quote amount buys (or sells for), walking the consolidated book within the band."""
        book = self.router.market.book(inst.symbol)
        left, qty = quote, ZERO
        for lvl in book.asks(200) if buy else book.bids(200):
            p, q = lvl.price, lvl.qty
            if (buy and p > band) or (not buy and p < band):
                break
            take = min(q, left / p)
            qty += take
            left -= take * p
            if left <= 0:
                break
        step = inst.market_step_size or inst.step_size
        return (qty // step) * step if step else qty.quantize(Q8, ROUND_DOWN)

    def _would_take(self, inst: Instrument, buy: bool, price: Decimal) -> bool:
        bid, ask = self.router.market.book(inst.symbol).best()
        if buy and ask is not None and price >= ask.price:
            return True
        if not buy and bid is not None and price <= bid.price:
            return True
        engine = self.router.engine
        if engine is None:
            return False
        from internal_book import NewOrder

        probe = NewOrder(
            symbol=inst.symbol,
            account=0,
            tenant=0,
            side=OrderSide.BUY if buy else OrderSide.SELL,
            order_type=OrderType.LIMIT,
            quantity=inst.step_size or Decimal(1),
            price=price,
            time_in_force=TimeInForce.IOC,
            client_order_id="probe",
            ts=0,
        )
        try:
            return engine.preview(probe).filled_qty > 0
        except Exception:  # noqa: BLE001 - a preview the engine cannot make must not block the order
            return False

    # ----- fills and state -----
    async def _book(self, o: OrderRow, report: ExecutionReport, batch: Batch) -> list[TradeRecord]:
        return await self._book_fills(o, report.fills, report.status, batch)

    async def _book_fills(self, o: OrderRow, all_fills: Any, status: OrderStatus, batch: Batch) -> list[TradeRecord]:
        """Settle the router's fills not booked yet, set the order's state, and queue it all in ``batch``."""
        new = all_fills[o.booked :]
        first = o.booked
        o.booked = len(all_fills)
        inst = self.by_symbol[o.symbol]
        out = []
        for i, f in enumerate(new, start=first):
            out.append(await self._settle_one(o, inst, f, i, batch))
        await self._set_state(o, status, batch)
        return out

    async def _settle_one(self, o: OrderRow, inst: Instrument, f: ParentFill, index: int, batch: Batch) -> TradeRecord:
        buy = o.side == "BUY"
        quote_qty = (f.price * f.qty).quantize(models.QUANTUM)  # the ledger keeps 18 places; venue prices can need more
        received = f.qty if buy else quote_qty
        commission = (received * self.commission_rate).quantize(Q8, ROUND_DOWN)
        t = self.clock_ms()
        trade_id = self.wallets.store.next_id("trade")
        s = await self.wallets.ledger.settle_fill(
            o.account_id,
            base=inst.base,
            quote=inst.quote,
            side=o.side,
            qty=f.qty,
            price=f.price,
            ref=f"trade:{trade_id}",
            quote_qty=quote_qty,
            commission=commission,
            counterparty=INTERNAL if f.source == INTERNAL else venue_account(f.source),
            batch=batch,
        )
        trade = TradeRecord(
            trade_id,
            o.order_id,
            o.account_id,
            o.symbol,
            f.price,
            f.qty,
            quote_qty,
            commission,
            s.commission_asset,
            buy,
            f.maker,
            t,
            f.source,
            f"{f.ref}:{o.fill_epoch}{index}"[:64],
            s.markup,
        )
        # the row by hand, as for orders (OrderStore.add_fill's asdict deep-copies every Decimal)
        batch.add(
            Insert(
                models.trades,
                {
                    "trade_id": trade_id,
                    "order_id": o.order_id,
                    "account_id": o.account_id,
                    "symbol": o.symbol,
                    "price": f.price,
                    "qty": f.qty,
                    "quote_qty": quote_qty,
                    "commission": commission,
                    "commission_asset": s.commission_asset,
                    "markup": s.markup,
                    "is_buyer": buy,
                    "is_maker": f.maker,
                    "time": t,
                    "source": f.source,
                    "source_ref": trade.source_ref,
                },
            )
        )
        o.reserved_left -= s.paid
        o.executed_qty += f.qty
        o.cum_quote += quote_qty
        o.update_time = t
        if f.source != INTERNAL or not f.maker:  # each public trade once: the taker's side of it
            for cb in self.trade_listeners:
                cb(inst.symbol, trade)
        return trade

    def resting_levels(self, symbol: str) -> tuple[int, dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        """Braid's own resting orders of a symbol aggregated by price: (version, bids, asks) for the depth."""
        version = self._book_version.get(symbol, 0)
        cached = self._levels.get(symbol)
        if cached is not None and cached[0] == version:
            return cached
        bids: dict[Decimal, Decimal] = {}
        asks: dict[Decimal, Decimal] = {}
        for o in self.live.values():
            if o.symbol == symbol and o.price is not None and o.is_open:
                side = bids if o.side == "BUY" else asks
                side[o.price] = side.get(o.price, ZERO) + (o.orig_qty - o.executed_qty)
        self._levels[symbol] = (version, bids, asks)
        return self._levels[symbol]

    async def _set_state(self, o: OrderRow, router_status: OrderStatus, batch: Batch) -> None:
        self._book_version[o.symbol] = self._book_version.get(o.symbol, 0) + 1
        if router_status in OPEN_STATUSES and o.executed_qty < o.orig_qty:
            o.status = _PARTIALLY_FILLED if o.executed_qty > 0 else _NEW
            if o.side == "BUY" and o.price is not None:  # keep locked only what the rest can still cost
                await self._release(o, o.reserved_left - (o.orig_qty - o.executed_qty) * o.price, batch)
        else:
            if o.executed_qty >= o.orig_qty:
                o.status = _FILLED
            elif router_status == "CANCELED":
                o.status = _CANCELED
            elif router_status == "EXPIRED_IN_MATCH":
                o.status = _EXPIRED_IN_MATCH
            else:
                o.status = _EXPIRED
            await self._release(o, o.reserved_left, batch)
            self._untrack(o)
        # the order's row itself is written by _commit, as it stands when the batch is queued

    async def _release(self, o: OrderRow, amount: Decimal, batch: Batch) -> None:
        if amount > 0:
            await self.wallets.ledger.release(
                o.account_id, o.reserved_asset, amount, f"order:{o.order_id}", batch=batch
            )
            o.reserved_left -= amount

    async def _touched(self, batch: Batch, changed: Changed, exclude: int | None = None) -> None:
        """Book the fills of resting orders the engine traded against."""
        pids = list(self._traded)
        self._traded.clear()
        for pid in pids:
            oid = int(pid)
            o = self.live.get(oid)
            if oid == exclude or o is None:
                continue
            fills_now, status = self.router.fills_of(pid)
            if len(fills_now) > o.booked:
                fills = await self._book_fills(o, fills_now, status, batch)
                changed.append((o, fills, "TRADE"))
            elif status not in OPEN_STATUSES and o.is_open:  # ended without a fill: self-trade prevention
                o.update_time = self.clock_ms()
                await self._set_state(o, status, batch)
                changed.append((o, [], "TRADE_PREVENTION"))

    async def _commit(self, batch: Batch, changed: Changed) -> dict[int, OrderRow]:
        """Make it durable, then tell the listeners (user streams): nobody hears of what is not committed.

        Each changed order's row goes in as it stands right now, with no await between taking the snapshot and
        queueing the batch: batches commit in queue order, so the last row committed for an order is always its
        latest state, whichever concurrent request booked what. Returns the snapshots: what was committed is
        what the caller may tell the client.
        """
        snaps: dict[int, OrderRow] = {}
        for o, _, _ in changed:
            if o.order_id not in snaps:
                snaps[o.order_id] = o.snapshot()
                batch.add(Upsert(models.orders, o.row()))
        await self.wallets.store.write(batch)
        engine = self.router.engine
        if engine is not None:
            # the engine's command journal is for snapshot recovery; Braid recovers from the store (restore()),
            # so it is dropped once the batch is durable instead of growing for ever
            engine.clear_journal()
        for o, fills, kind in changed:
            self._emit(snaps[o.order_id], fills, kind)
        return snaps

    async def sweep(self) -> None:
        """Route out resting remainders the venues' prices moved through (the market watch), and book it."""
        routed = await self.router.sweep_resting()
        batch = Batch()
        changed: Changed = []
        for pid in routed:
            o = self.live.get(int(pid))
            if o is not None:
                fills = await self._book(o, self.router.report(pid), batch)
                changed.append((o, fills, "TRADE"))
        await self._touched(batch, changed)
        if changed:
            await self._commit(batch, changed)

    async def watch(self, interval_s: float = 0.1) -> None:
        """The market watch: the kill switch's anomaly rule, then :meth:`sweep`, forever."""
        import asyncio

        while True:
            try:
                now = self.router.clock()
                for symbol in list(self.router.market):
                    mid = self.router.market.book(symbol).mid(now)
                    if mid is not None:
                        await self.router.killswitch.observe_mid(symbol, mid, now)
                await self.sweep()
            except Exception:  # one bad pass must not end the watch
                log.exception("orders_watch_failed")
            await asyncio.sleep(interval_s)

    # ----- cancel -----
    async def cancel(self, caller: Caller, symbol: str, order_id: int | None, client_order_id: str | None) -> OrderRow:
        self.instrument(symbol)
        o = self._find_live(caller.account_id, symbol, order_id, client_order_id)
        if o is None:
            raise OrderRefused.of(UNKNOWN_ORDER)
        report = await self.router.cancel(str(o.order_id))
        batch = Batch()
        fills = await self._book(o, report, batch) if len(report.fills) > o.booked else []
        if o.is_open:
            o.update_time = self.clock_ms()
            await self._set_state(o, _CANCELED, batch)
        snaps = await self._commit(batch, [(o, fills, "CANCELED")])
        return snaps[o.order_id]

    def _track(self, o: OrderRow) -> None:
        if o.order_id not in self.live:
            self.live[o.order_id] = o
            self._open_cids[(o.account_id, o.client_order_id)] = o.order_id
            self.open_count[o.account_id] = self.open_count.get(o.account_id, 0) + 1

    def _untrack(self, o: OrderRow) -> None:
        if self.live.pop(o.order_id, None) is not None:
            self.open_count[o.account_id] -= 1
            self._open_cids.pop((o.account_id, o.client_order_id), None)
        self.router.forget(str(o.order_id))

    def _find_live(
        self, account_id: int, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> OrderRow | None:
        if order_id is not None:
            o = self.live.get(order_id)
            ok = (
                o is not None
                and o.account_id == account_id
                and o.symbol == symbol
                and (client_order_id is None or o.client_order_id == client_order_id)
            )
            return o if ok else None
        for o in self.live.values():
            if o.account_id == account_id and o.symbol == symbol and o.client_order_id == client_order_id:
                return o
        return None

    async def cancel_all(self, caller: Caller, symbol: str) -> list[OrderRow]:
        self.instrument(symbol)
        mine = [o for o in self.live.values() if o.account_id == caller.account_id and o.symbol == symbol]
        return [await self.cancel(caller, symbol, o.order_id, None) for o in mine]

    # ----- restart -----
    async def restore(self) -> int:
        """After a restart: the store's open orders work again. Each remainder goes back through the router as
        a GTC limit (so one the market has moved through fills, as the market watch would have routed it) and
        rests in the internal book; what it fills is booked as for any order. Returns how many were restored."""
        n = 0
        epoch = f"r{time.time_ns()}:"
        for rec in self.wallets.orders.restore_open():
            inst = self.by_symbol.get(rec.symbol)
            if inst is None or rec.orig_qty is None or rec.price is None:
                # no rules to work it by (its symbol is no longer configured): expired, never left open and dead
                log.warning("restore_impossible_expired", order_id=rec.order_id, symbol=rec.symbol)
                await self._expire_unrestorable(rec)
                continue
            left = rec.orig_qty - rec.executed_qty
            buy = rec.side == "BUY"
            o = OrderRow(
                rec.order_id,
                rec.account_id,
                rec.symbol,
                rec.client_order_id,
                rec.side,
                rec.type,
                rec.tif,
                rec.price,
                rec.orig_qty,
                rec.orig_quote_qty or ZERO,
                rec.executed_qty,
                rec.cum_quote,
                rec.status,
                rec.time,
                rec.update_time,
                inst.quote if buy else inst.base,
                left * rec.price if buy else left,
                inst.symbol,
                0,
                True,
                epoch,
            )
            self._track(o)
            # the order's own tenant, as when it was placed: (tenant, account) is its self-trade-prevention group
            tenant = self.wallets.accounts.account(o.account_id).tenant_id or 0
            # what is left of an order accepted when it came in: the book takes it back even under the minimums
            parent = ParentOrder(
                str(o.order_id), inst.symbol, o.side, left, _LIMIT, o.price, _GTC, tenant, o.account_id, remainder=True
            )
            report = await self.router.execute(parent)
            batch = Batch()
            changed: Changed = []
            if report.status == "REJECTED":  # it cannot work again: expired, its lock released, never left dead
                log.warning("restore_refused", order_id=o.order_id, code=report.reject_code, msg=report.reject_msg)
                await self._set_state(o, _EXPIRED, batch)
                changed.append((o, [], "EXPIRED"))
            else:
                fills = await self._book(o, report, batch)
                if fills or o.status == _EXPIRED:
                    changed.append((o, fills, "TRADE"))
            await self._touched(batch, changed, exclude=o.order_id)
            await self._commit(batch, changed)
            n += 1
        log.info("orders_restored", count=n)
        return n

    async def _expire_unrestorable(self, rec: OrderRecord) -> None:
        """An open order that cannot work again: EXPIRED, and whatever it still holds locked released."""
        batch = Batch()
        for asset, amount in self.wallets.orders.still_locked(rec.account_id, rec.order_id).items():
            await self.wallets.ledger.release(rec.account_id, asset, amount, f"order:{rec.order_id}", batch=batch)
        o = OrderRow(
            rec.order_id,
            rec.account_id,
            rec.symbol,
            rec.client_order_id,
            rec.side,
            rec.type,
            rec.tif,
            rec.price,
            rec.orig_qty or ZERO,
            rec.orig_quote_qty or ZERO,
            rec.executed_qty,
            rec.cum_quote,
            _EXPIRED,
            rec.time,
            self.clock_ms(),
        )
        batch.add(Upsert(models.orders, o.row()))
        await self.wallets.store.write(batch)
        self._emit(o, [], "EXPIRED")

    # ----- user data events -----
    def _emit(self, o: OrderRow, fills: list[TradeRecord], exec_type: str) -> None:
        # the balances are read by a listener that has someone to tell (wallets.ledger.balances)
        for cb in self.listeners:
            cb("order", o.account_id, {"order": o, "fills": fills, "exec_type": exec_type})
            cb("balance", o.account_id, {})
