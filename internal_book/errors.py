"""Rejection reasons: one enum with the ``MATCHING_`` stage prefix, each with Binance's code and text.

The gateway maps these straight to Binance-compatible error payloads. ``%s`` in a message is the
offending parameter name, carried in the rejection event's ``msg`` already filled in.
"""

from __future__ import annotations

from enum import IntEnum


class RejectReason(IntEnum):
    MATCHING_UNKNOWN_SYMBOL = 1
    MATCHING_MARKET_CLOSED = 2
    MATCHING_MANDATORY_PARAM = 3
    MATCHING_PARAM_NOT_REQUIRED = 4
    MATCHING_QTY_OR_QUOTE_REQUIRED = 5
    MATCHING_STOP_OR_TRAILING_REQUIRED = 6
    MATCHING_UNSUPPORTED_COMBINATION = 7
    MATCHING_PRICE_FILTER = 8
    MATCHING_LOT_SIZE = 9
    MATCHING_MARKET_LOT_SIZE = 10
    MATCHING_TRAILING_DELTA = 11
    MATCHING_NOTIONAL = 12
    MATCHING_BAD_PRECISION = 13
    MATCHING_DUPLICATE_ORDER = 14
    MATCHING_WOULD_TRIGGER_IMMEDIATELY = 15
    MATCHING_WOULD_TAKE = 16
    MATCHING_UNKNOWN_ORDER = 17
    MATCHING_CANCEL_INVALID = 18
    MATCHING_AMEND_NOT_ALLOWED = 19
    MATCHING_AMEND_BELOW_EXECUTED = 20


# (Binance code, message). Texts follow Binance spot errors.md; the last two are Braid's own.
BINANCE_ERRORS: dict[RejectReason, tuple[int, str]] = {
    RejectReason.MATCHING_UNKNOWN_SYMBOL: (-1121, "Invalid symbol."),
    RejectReason.MATCHING_MARKET_CLOSED: (-2010, "Market is closed."),
    RejectReason.MATCHING_MANDATORY_PARAM: (
        -1102,
        "Mandatory parameter '%s' was not sent, was empty/null, or malformed.",
    ),
    RejectReason.MATCHING_PARAM_NOT_REQUIRED: (-1106, "Parameter '%s' sent when not required."),
    RejectReason.MATCHING_QTY_OR_QUOTE_REQUIRED: (
        -1102,
        "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
    ),
    RejectReason.MATCHING_STOP_OR_TRAILING_REQUIRED: (
        -1102,
        "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!",
    ),
    RejectReason.MATCHING_UNSUPPORTED_COMBINATION: (-1014, "Unsupported order combination."),
    RejectReason.MATCHING_PRICE_FILTER: (-1013, "Filter failure: PRICE_FILTER"),
    RejectReason.MATCHING_LOT_SIZE: (-1013, "Filter failure: LOT_SIZE"),
    RejectReason.MATCHING_MARKET_LOT_SIZE: (-1013, "Filter failure: MARKET_LOT_SIZE"),
    RejectReason.MATCHING_TRAILING_DELTA: (-1013, "Filter failure: TRAILING_DELTA"),
    RejectReason.MATCHING_NOTIONAL: (-1013, "Filter failure: NOTIONAL"),
    RejectReason.MATCHING_BAD_PRECISION: (-1111, "Parameter '%s' has too much precision."),
    RejectReason.MATCHING_DUPLICATE_ORDER: (-2010, "Duplicate order sent."),
    RejectReason.MATCHING_WOULD_TRIGGER_IMMEDIATELY: (-2010, "Order would trigger immediately."),
    RejectReason.MATCHING_WOULD_TAKE: (-2010, "Order would immediately match and take."),
    RejectReason.MATCHING_UNKNOWN_ORDER: (-2011, "Unknown order sent."),
    RejectReason.MATCHING_CANCEL_INVALID: (-2011, "Cancel order is invalid. Check origClOrdId and orderId."),
    RejectReason.MATCHING_AMEND_NOT_ALLOWED: (-2010, "Order amend is only possible for resting orders."),
    RejectReason.MATCHING_AMEND_BELOW_EXECUTED: (-2010, "New quantity must exceed the executed quantity."),
}

# Parameter names used in messages, indexed by the core's field code.
PARAM_NAMES: tuple[str, ...] = (
    "",
    "timeInForce",
    "quantity",
    "price",
    "quoteOrderQty",
    "stopPrice",
    "trailingDelta",
    "protectPrice",
    "newQty",
)


def error_of(reason: RejectReason, field: int = 0) -> tuple[int, str]:
    """Binance code and filled-in message for ``reason`` (``field`` names the parameter for ``%s``)."""
    code, msg = BINANCE_ERRORS[reason]
    if "%s" in msg:
        msg = msg % PARAM_NAMES[field]
    return code, msg
