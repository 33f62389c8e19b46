"""The engine's integer codes for the shared order vocabulary (``domain``), and order-type groups.

The compiled core (``_engine.c``) speaks small integers; this is the one place they map to and from the
``domain`` enums. The codes are the core's wire codes: do not renumber.
"""

from __future__ import annotations

from domain import OrderSide, OrderStatus, OrderType, StpMode, TimeInForce

# code -> member (index by the core's code) ...
SIDES = (OrderSide.BUY, OrderSide.SELL)
TYPES = (
    OrderType.LIMIT,
    OrderType.LIMIT_MAKER,
    OrderType.MARKET,
    OrderType.STOP_LOSS,
    OrderType.STOP_LOSS_LIMIT,
    OrderType.TAKE_PROFIT,
    OrderType.TAKE_PROFIT_LIMIT,
)
TIFS = (TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK)
STP_MODES = (StpMode.NONE, StpMode.EXPIRE_TAKER, StpMode.EXPIRE_MAKER, StpMode.EXPIRE_BOTH)
STATUSES = (
    OrderStatus.NEW,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.FILLED,
    OrderStatus.CANCELED,
    OrderStatus.REJECTED,
    OrderStatus.EXPIRED,
    OrderStatus.EXPIRED_IN_MATCH,
)
# ... and member -> code (a StrEnum hashes as its string, so the Binance text is a key as well)
SIDE_CODE = {m: n for n, m in enumerate(SIDES)}
TYPE_CODE = {m: n for n, m in enumerate(TYPES)}
TIF_CODE = {m: n for n, m in enumerate(TIFS)}
STP_CODE = {m: n for n, m in enumerate(STP_MODES)}
STATUS_CODE = {m: n for n, m in enumerate(STATUSES)}

STOP_TYPES = frozenset(
    {OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT}
)
# Types that execute at market (MARKET_LOT_SIZE applies; no limit price).
MARKET_LIKE = frozenset({OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT})
# Types whose quantity * price is checked against NOTIONAL at entry.
PRICED = frozenset({OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT})

# Trailing delta bounds (BIPS), Binance's usual TRAILING_DELTA filter values.
MIN_TRAILING_DELTA = 10
MAX_TRAILING_DELTA = 2000


def stop_triggers_upward(order_type: OrderType, side: OrderSide) -> bool:
    """True when the stop condition is ``price >= stopPrice`` (STOP_LOSS BUY, TAKE_PROFIT SELL)."""
    is_stop_loss = order_type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT)
    return is_stop_loss == (side == OrderSide.BUY)
