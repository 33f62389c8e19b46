"""Order vocabulary with Binance's spellings (the values the API sends and receives).

``OrderSide`` is the side of an order (BUY/SELL); ``BookSide`` is a side of an order book (bids/asks):
two different things, two names.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

BookSide = Literal["bids", "asks"]


class _Text(StrEnum):
    """A StrEnum hashed as its text in C (Enum's own ``__hash__`` is Python code, slow on the hot paths that
    key dicts by these); each member's name is its value, so equal members and strings hash alike."""

    __hash__ = str.__hash__


class OrderSide(_Text):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(_Text):
    LIMIT = "LIMIT"
    LIMIT_MAKER = "LIMIT_MAKER"
    MARKET = "MARKET"
    STOP_LOSS = "STOP_LOSS"
    STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"


class TimeInForce(_Text):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class StpMode(_Text):
    """Self-trade prevention (Binance ``selfTradePreventionMode``); the taker's mode decides."""

    NONE = "NONE"
    EXPIRE_TAKER = "EXPIRE_TAKER"
    EXPIRE_MAKER = "EXPIRE_MAKER"
    EXPIRE_BOTH = "EXPIRE_BOTH"


class OrderStatus(_Text):
    """Binance's order statuses, plus ``UNKNOWN``: a venue accepted an order but its state could not be read
    (Braid's own; never sent to a client: such an order is queried until its state is known)."""

    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"  # expired by self-trade prevention
    UNKNOWN = "UNKNOWN"

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


# An order in one of these can still trade (or be cancelled); one in FINAL_STATUSES never changes again.
OPEN_STATUSES = frozenset(
    {OrderStatus.PENDING_NEW, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL}
)
FINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED, OrderStatus.EXPIRED_IN_MATCH}
)
