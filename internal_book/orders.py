"""Order vocabulary: sides, types, time in force, STP modes and statuses, with Binance spellings.

The integer values are the wire codes shared with the compiled core (``_engine.c``); do not renumber.
"""
from __future__ import annotations

from enum import IntEnum


class Side(IntEnum):
    BUY = 0
    SELL = 1


class OrderType(IntEnum):
    LIMIT = 0
    LIMIT_MAKER = 1
    MARKET = 2
    STOP_LOSS = 3
    STOP_LOSS_LIMIT = 4
    TAKE_PROFIT = 5
    TAKE_PROFIT_LIMIT = 6


class TimeInForce(IntEnum):
    GTC = 0
    IOC = 1
    FOK = 2


class STPMode(IntEnum):
    """Self-trade prevention; the taker's mode decides, as on Binance."""

    NONE = 0
    EXPIRE_TAKER = 1
    EXPIRE_MAKER = 2
    EXPIRE_BOTH = 3


class OrderStatus(IntEnum):
    NEW = 0
    PARTIALLY_FILLED = 1
    FILLED = 2
    CANCELED = 3
    REJECTED = 4
    EXPIRED = 5
    EXPIRED_IN_MATCH = 6


STOP_TYPES = frozenset(
    {OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT}
)
# Types that execute at market (MARKET_LOT_SIZE applies; no limit price).
MARKET_LIKE = frozenset({OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT})
# Types whose quantity * price is checked against NOTIONAL at entry.
PRICED = frozenset(
    {OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT}
)

# Trailing delta bounds (BIPS), Binance's usual TRAILING_DELTA filter values.
MIN_TRAILING_DELTA = 10
MAX_TRAILING_DELTA = 2000


def stop_triggers_upward(order_type: OrderType, side: Side) -> bool:
    """True when the stop condition is ``price >= stopPrice`` (STOP_LOSS BUY, TAKE_PROFIT SELL)."""
    is_stop_loss = order_type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT)
    return is_stop_loss == (side == Side.BUY)
