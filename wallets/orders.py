"""Client orders and their trades, durable through the group-commit writer.

Every read takes the calling account: ``get(account_id, order_id=...)`` of another account's order is
``UnknownOrder``, exactly as for an order that does not exist. Reads go to the database on a reader
connection, so they show only committed state (what a client may have been told about).

The open orders of every account are also kept in memory (restored on open) for the duplicate
client-order-id check and for rebuilding the matching engine after a restart (``restore_open()``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, select

from domain import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    AccountId,
    Millis,
    OrderId,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    now_ms,
)
from wallets import models
from wallets.db import Batch, Conflict, Insert, Store, Update
from wallets.errors import DuplicateOrder, UnknownOrder, WalletError

ZERO = Decimal(0)
# text -> member: rows read back from the database carry the enums (a dict lookup, not an Enum call)
_SIDES, _TYPES, _STATUSES = dict(OrderSide.__members__), dict(OrderType.__members__), dict(OrderStatus.__members__)
_TIFS = dict(TimeInForce.__members__)


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """A client order as stored (Binance's field meanings; quantities and prices exact)."""

    order_id: OrderId
    account_id: AccountId
    symbol: str
    client_order_id: str
    side: OrderSide
    type: OrderType
    status: OrderStatus = OrderStatus.NEW
    tif: TimeInForce | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    orig_qty: Decimal | None = None
    orig_quote_qty: Decimal | None = None
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    time: Millis = 0
    update_time: Millis = 0
    route: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One fill of a client order."""

    trade_id: int
    order_id: int
    account_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    is_buyer: bool
    is_maker: bool
    time: int
    source: str  # venue name or "internal"
    source_ref: str
    markup: Decimal = ZERO


def _row(record: OrderRecord | TradeRecord) -> dict[str, Any]:
    return {f: getattr(record, f) for f in record.__slots__}


def _order(r: Row[Any]) -> OrderRecord:
    m = r._mapping
    fields = {f: m[f] for f in OrderRecord.__slots__}
    tif = fields["tif"]
    fields.update(
        side=_SIDES[fields["side"]],
        type=_TYPES[fields["type"]],
        status=_STATUSES[fields["status"]],
        tif=None if tif is None else _TIFS[tif],
    )
    return OrderRecord(**fields)


def _trade(r: Row[Any]) -> TradeRecord:
    m = r._mapping
    return TradeRecord(**{f: m[f] for f in TradeRecord.__slots__})


class OrderStore:
    """Orders and trades of client accounts, as committed.

    It keeps no state of its own: the database is the one record of which orders are open, so a writer that
    books orders itself (the API's order flow upserts its rows in the batch with their postings) never leaves
    a copy here behind. Duplicate client ids among an account's open orders are refused here (a read) and by
    the database's partial unique index (the backstop, for concurrent writers).
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def new_order_id(self) -> int:
        """Allocate an order id (monotonic, never reused for a committed order)."""
        return self.store.next_id("order")

    def restore_open(self) -> list[OrderRecord]:
        """Every open order of every account in order-id order (to rebuild the matching engine)."""
        t = models.orders
        q = select(t).where(t.c.status.in_(models.OPEN_STATUSES)).order_by(t.c.order_id)
        return self.store.read_sync(lambda conn: [_order(r) for r in conn.execute(q)])

    def still_locked(self, account_id: int, order_id: int) -> dict[str, Decimal]:
        """What the order still holds locked, by asset, from the ledger's own postings: its reservation and
        releases (ref ``order:<id>``) less what its fills took from the locked balance (refs ``trade:<id>``).
        For an order the service cannot work again (its symbol is no longer configured): the amount to release.
        """
        p, t = models.postings, models.trades

        def read(conn: Connection) -> dict[str, Decimal]:
            trades = conn.execute(select(t.c.trade_id).where(t.c.order_id == order_id))
            refs = [f"order:{order_id}", *(f"trade:{r.trade_id}" for r in trades)]
            q = select(p.c.asset, p.c.amount).where(
                p.c.account_id == account_id, p.c.bucket == "locked", p.c.ref.in_(refs)
            )
            out: dict[str, Decimal] = {}
            for r in conn.execute(q):
                out[r.asset] = out.get(r.asset, ZERO) + Decimal(r.amount)
            return {a: v for a, v in out.items() if v > 0}

        return self.store.read_sync(read)

    def is_open_client_id(self, account_id: int, client_order_id: str) -> bool:
        return self.store.read_sync(lambda conn: _open_with_client_id(conn, account_id, client_order_id)) is not None

    async def save_new(self, order: OrderRecord, *, batch: Batch | None = None) -> OrderRecord:
        """Store a new order; ``order_id`` 0 allocates one, ``time`` 0 stamps now.

        ``DuplicateOrder`` if one of the account's open orders has the same client order id.
        """
        if not order.client_order_id or len(order.client_order_id) > 64:
            raise WalletError(f"client order id must be 1-64 characters, was {order.client_order_id!r}")
        if order.is_open:
            # a short indexed read, without a suspension: the write is queued at this call's first await
            if self.is_open_client_id(order.account_id, order.client_order_id):
                raise DuplicateOrder()
        ts = order.time or now_ms()
        order = replace(
            order,
            order_id=order.order_id or self.new_order_id(),
            time=ts,
            update_time=order.update_time or ts,
        )
        own = batch if batch is not None else Batch()
        own.add(Insert(models.orders, _row(order)))
        if batch is None:
            try:
                await self.store.write(own)
            except Conflict:  # the unique index: another writer opened the same client id meanwhile
                raise DuplicateOrder() from None
        return order

    async def update(
        self,
        account_id: int,
        order_id: int,
        *,
        status: OrderStatus,
        executed_qty: Decimal,
        cum_quote: Decimal,
        update_time: int | None = None,
        batch: Batch | None = None,
    ) -> OrderRecord:
        """Set an order's status and cumulative execution (absolute values); returns its new state
        (``UnknownOrder`` if it is not the account's)."""
        if status not in OPEN_STATUSES and status not in FINAL_STATUSES:
            raise WalletError(f"status was {status!r}")
        status = _STATUSES[status]
        own = batch if batch is not None else Batch()
        prev = _inserted(own, order_id)  # saved in this same batch, not committed yet
        if prev is None or prev.account_id != account_id:
            prev = await self.get(account_id, order_id=order_id)
        ts = update_time or now_ms()
        own.add(
            Update(
                models.orders,
                (order_id,),
                {"status": status, "executed_qty": executed_qty, "cum_quote": cum_quote, "update_time": ts},
            )
        )
        if batch is None:
            await self.store.write(own)
        return replace(prev, status=status, executed_qty=executed_qty, cum_quote=cum_quote, update_time=ts)

    async def add_fill(self, trade: TradeRecord, *, batch: Batch | None = None) -> TradeRecord:
        """Store a trade; ``trade_id`` 0 allocates one, ``time`` 0 stamps now."""
        trade = replace(trade, trade_id=trade.trade_id or self.store.next_id("trade"), time=trade.time or now_ms())
        own = batch if batch is not None else Batch()
        own.add(Insert(models.trades, _row(trade)))
        if batch is None:
            await self.store.write(own)
        return trade

    # -- reads (committed state, always scoped to one account) ----------------------------------------

    async def get(
        self, account_id: int, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> OrderRecord:
        """One of the account's orders by id or client order id (the newest with that client id)."""
        t = models.orders
        if order_id is None and client_order_id is None:
            raise WalletError("either order_id or client_order_id is required")
        q = select(t).where(t.c.account_id == account_id)
        if order_id is not None:
            q = q.where(t.c.order_id == order_id)
        if client_order_id is not None:
            q = q.where(t.c.client_order_id == client_order_id)
        q = q.order_by(t.c.order_id.desc()).limit(1)
        found = await self.store.read(lambda conn: [_order(r) for r in conn.execute(q)])
        if not found:
            raise UnknownOrder()
        return found[0]

    async def open_orders(self, account_id: int, symbol: str | None = None) -> list[OrderRecord]:
        t = models.orders
        # By (account, status) only: with the symbol in the query too, SQLite prefers the (account, symbol,
        # order id) index, which reads the account's whole history, and openOrders slowed as it grew. An
        # account's open orders are few, so the symbol is picked out here.
        q = select(t).where(t.c.account_id == account_id, t.c.status.in_(models.OPEN_STATUSES)).order_by(t.c.order_id)
        rows = await self.store.read(lambda conn: [_order(r) for r in conn.execute(q)])
        return rows if symbol is None else [o for o in rows if o.symbol == symbol]

    async def all_orders(
        self,
        account_id: int,
        symbol: str,
        *,
        from_order_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 500,
    ) -> list[OrderRecord]:
        """Binance ``allOrders``: the account's orders of a symbol, oldest first, at most ``limit`` (≤1000)."""
        t = models.orders
        q = select(t).where(t.c.account_id == account_id, t.c.symbol == symbol)
        if from_order_id is not None:
            q = q.where(t.c.order_id >= from_order_id)
        if start_time is not None:
            q = q.where(t.c.time >= start_time)
        if end_time is not None:
            q = q.where(t.c.time <= end_time)
        q = q.order_by(t.c.order_id).limit(max(1, min(limit, 1000)))
        return await self.store.read(lambda conn: [_order(r) for r in conn.execute(q)])

    async def my_trades(
        self,
        account_id: int,
        symbol: str,
        *,
        order_id: int | None = None,
        from_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 500,
    ) -> list[TradeRecord]:
        """Binance ``myTrades``: the account's trades of a symbol, oldest first."""
        t = models.trades
        q = select(t).where(t.c.account_id == account_id, t.c.symbol == symbol)
        if order_id is not None:
            q = q.where(t.c.order_id == order_id)
        if from_id is not None:
            q = q.where(t.c.trade_id >= from_id)
        if start_time is not None:
            q = q.where(t.c.time >= start_time)
        if end_time is not None:
            q = q.where(t.c.time <= end_time)
        q = q.order_by(t.c.trade_id).limit(max(1, min(limit, 1000)))
        return await self.store.read(lambda conn: [_trade(r) for r in conn.execute(q)])


def _open_with_client_id(conn: Connection, account_id: int, client_order_id: str) -> int | None:
    t = models.orders
    q = select(t.c.order_id).where(
        t.c.account_id == account_id, t.c.client_order_id == client_order_id, t.c.status.in_(models.OPEN_STATUSES)
    )
    return conn.execute(q).scalar()


def _inserted(batch: Batch, order_id: int) -> OrderRecord | None:
    for op in batch.ops:
        if isinstance(op, Insert) and op.table is models.orders and op.row["order_id"] == order_id:
            return OrderRecord(**op.row)
    return None
