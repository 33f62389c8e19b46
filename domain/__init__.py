"""The vocabulary every layer of Braid shares: order sides, types, statuses, time in force, self-trade
prevention modes, ids, money and time. The bottom layer: it imports nothing from Braid.

The enums are ``StrEnum``s whose values are Binance's spellings, so a member is the very string the API emits
and compares equal to it (``OrderSide.BUY == "BUY"``); code on a hot path may keep passing the strings.
"""

from domain.clock import Millis, now_ms
from domain.ids import AccountId, OrderId, TenantId
from domain.money import Amount, Price, Quantity
from domain.orders import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    BookSide,
    OrderSide,
    OrderStatus,
    OrderType,
    StpMode,
    TimeInForce,
)
from domain.signing import hmac_sha256_hex, same_signature

__all__ = [
    "FINAL_STATUSES",
    "OPEN_STATUSES",
    "AccountId",
    "Amount",
    "BookSide",
    "Millis",
    "OrderId",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Price",
    "Quantity",
    "StpMode",
    "TenantId",
    "TimeInForce",
    "hmac_sha256_hex",
    "now_ms",
    "same_signature",
]
