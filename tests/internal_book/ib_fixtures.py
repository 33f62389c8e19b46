"""Shared helpers: instruments with Binance-style filters, both engines, order shorthands."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from decimal import Decimal as D

from config import Instrument
from domain import OrderSide, OrderType, StpMode, TimeInForce
from internal_book import (
    AmendOrder,
    CancelOrder,
    CancelReplace,
    Command,
    MatchingEngine,
    NewOrder,
    ReferenceEngine,
    SetReferencePrice,
)

BTC = Instrument(
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    venue="internal",
    venue_symbol="BTCUSDT",
    tick_size=D("0.01"),
    step_size=D("0.001"),
    min_qty=D("0.001"),
    max_qty=D("100"),
    min_price=D("0.01"),
    max_price=D("1000000"),
    min_notional=D("5"),
    max_notional=D("1000000"),
    market_step_size=D("0.001"),
    market_max_qty=D("50"),
)
ETH = Instrument(
    symbol="ETH/USDT",
    base="ETH",
    quote="USDT",
    venue="internal",
    venue_symbol="ETHUSDT",
    tick_size=D("0.5"),
    step_size=D("0.1"),
    min_qty=D("0.1"),
    min_notional=D("2"),
)
CLOSED = Instrument(
    symbol="OLD/USDT",
    base="OLD",
    quote="USDT",
    venue="internal",
    venue_symbol="OLDUSDT",
    tick_size=D("0.01"),
    step_size=D("1"),
    trading=False,
)
INSTRUMENTS = (BTC, ETH, CLOSED)

# Both engines share one face (apply, state, state_hash, preview, validate_internal_state).
Engine = MatchingEngine | ReferenceEngine
ENGINES: dict[str, Callable[..., Engine]] = {"compiled": MatchingEngine, "reference": ReferenceEngine}


def limit(
    side: OrderSide,
    qty: str,
    price: str,
    account: str = "a",
    tif: TimeInForce = TimeInForce.GTC,
    symbol: str = "BTC/USDT",
    **kw: object,
) -> NewOrder:
    return NewOrder(symbol, account, side, OrderType.LIMIT, D(qty), D(price), tif, **kw)  # type: ignore[arg-type]


def market(
    side: OrderSide, qty: str | None = None, account: str = "a", symbol: str = "BTC/USDT", **kw: object
) -> NewOrder:
    return NewOrder(symbol, account, side, OrderType.MARKET, None if qty is None else D(qty), **kw)  # type: ignore[arg-type]


def kinds(events: list) -> list[str]:
    return [e.kind for e in events]


def of(events: list, cls: type) -> list:
    return [e for e in events if isinstance(e, cls)]


SYM = "ETH/USDT"


def _open_orders(eng: MatchingEngine) -> list[tuple[int, str, str]]:
    sy = eng.state()["symbols"][SYM]
    return [(r[0], r[1], r[2]) for r in sy["bids"] + sy["asks"] + sy["stops"]]


def random_flow(seed: int, n: int, eng: MatchingEngine) -> Iterator[Command]:
    """Long seeded flow with a live book: cancels/amends mostly target open orders of their owner."""
    rng = random.Random(seed)

    cmds: list[Command] = []  # one command at a time, yielded, so targets come from the live book
    mid = 200
    groups = [("t1", "a"), ("t1", "b"), ("t2", "a"), ("t2", "c")]
    for i in range(1, n + 1):
        mid = min(230, max(170, mid + rng.choice((-1, 0, 0, 1))))
        tenant, account = rng.choice(groups)
        r = rng.random()
        side = rng.choice(list(OrderSide))
        px = D(mid + rng.randint(-6, 6)) / 2
        qty = D(rng.randint(1, 40)) / 10
        stp = rng.choice(list(StpMode))
        clid = rng.choice([None, None, f"k{rng.randint(0, 9)}"])
        if r < 0.45:
            tif = rng.choice([TimeInForce.GTC] * 4 + [TimeInForce.IOC, TimeInForce.FOK])
            cmds.append(
                NewOrder(
                    SYM,
                    account,
                    side,
                    OrderType.LIMIT,
                    qty,
                    px,
                    tif,
                    client_order_id=clid,
                    stp_mode=stp,
                    tenant=tenant,
                    ts=i,
                    protect_price=px if rng.random() < 0.05 else None,
                )
            )
        elif r < 0.5:
            cmds.append(
                NewOrder(
                    SYM,
                    account,
                    side,
                    OrderType.LIMIT_MAKER,
                    qty,
                    px,
                    client_order_id=clid,
                    stp_mode=stp,
                    tenant=tenant,
                    ts=i,
                )
            )
        elif r < 0.58:
            if rng.random() < 0.5:
                cmds.append(NewOrder(SYM, account, side, OrderType.MARKET, qty, stp_mode=stp, tenant=tenant, ts=i))
            else:
                cmds.append(
                    NewOrder(
                        SYM,
                        account,
                        side,
                        OrderType.MARKET,
                        quote_order_qty=D(rng.randint(1, 900)) / 2,
                        stp_mode=stp,
                        tenant=tenant,
                        ts=i,
                    )
                )
        elif r < 0.64:
            t = rng.choice(
                [OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT]
            )
            lim = t in (OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT)
            mode = rng.choice(["stop", "trail", "both"])
            cmds.append(
                NewOrder(
                    SYM,
                    account,
                    side,
                    t,
                    qty,
                    px if lim else None,
                    TimeInForce.GTC if lim else None,
                    stop_price=D(mid + rng.randint(-8, 8)) / 2 if mode != "trail" else None,
                    trailing_delta=rng.choice([20, 50, 100]) if mode != "stop" else None,
                    client_order_id=clid,
                    stp_mode=stp,
                    tenant=tenant,
                    ts=i,
                )
            )
        else:
            live = _open_orders(eng)
            if live and rng.random() < 0.85:
                oid, tenant, account = rng.choice(live)
            else:
                oid = rng.randint(1, i)
        if r < 0.64:
            pass  # already appended above
        elif r < 0.86:
            cmds.append(
                CancelOrder(SYM, account, order_id=oid, tenant=tenant, ts=i)
                if rng.random() < 0.8
                else CancelOrder(SYM, account, client_order_id=f"k{rng.randint(0, 9)}", tenant=tenant, ts=i)
            )
        elif r < 0.94:
            cmds.append(
                AmendOrder(
                    SYM,
                    account,
                    order_id=oid,
                    tenant=tenant,
                    ts=i,
                    new_quantity=qty if rng.random() < 0.7 else None,
                    new_price=px if rng.random() < 0.3 else None,
                )
            )
        elif r < 0.96:
            cmds.append(
                CancelReplace(
                    CancelOrder(SYM, account, order_id=oid, tenant=tenant, ts=i),
                    NewOrder(
                        SYM, account, side, OrderType.LIMIT, qty, px, TimeInForce.GTC, stp_mode=stp, tenant=tenant, ts=i
                    ),
                )
            )
        else:
            cmds.append(SetReferencePrice(SYM, D(mid + rng.randint(-10, 10)) / 2, ts=i))
        yield cmds.pop()
