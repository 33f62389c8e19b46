"""Order-entry checks shared by both engines' Python edges: parameter presence rules per type.

Field codes (also used by the compiled core and ``errors.PARAM_NAMES``):
1 timeInForce, 2 quantity, 3 price, 4 quoteOrderQty, 5 stopPrice, 6 trailingDelta, 7 protectPrice.
"""

from __future__ import annotations

from domain import OrderType
from internal_book.errors import RejectReason

TIF, QTY, PRICE, QUOTE, STOP, TRAIL, PROTECT = 1, 2, 3, 4, 5, 6, 7
FIELD_ORDER = (TIF, QTY, PRICE, QUOTE, STOP, TRAIL, PROTECT)

# type -> (required fields, forbidden fields)
PARAM_RULES: dict[OrderType, tuple[frozenset[int], frozenset[int]]] = {
    OrderType.LIMIT: (frozenset({TIF, QTY, PRICE}), frozenset({QUOTE, STOP, TRAIL})),
    OrderType.LIMIT_MAKER: (frozenset({QTY, PRICE}), frozenset({TIF, QUOTE, STOP, TRAIL, PROTECT})),
    OrderType.MARKET: (frozenset(), frozenset({TIF, PRICE, STOP, TRAIL})),
    OrderType.STOP_LOSS: (frozenset({QTY}), frozenset({TIF, PRICE, QUOTE, PROTECT})),
    OrderType.TAKE_PROFIT: (frozenset({QTY}), frozenset({TIF, PRICE, QUOTE, PROTECT})),
    OrderType.STOP_LOSS_LIMIT: (frozenset({TIF, QTY, PRICE}), frozenset({QUOTE, PROTECT})),
    OrderType.TAKE_PROFIT_LIMIT: (frozenset({TIF, QTY, PRICE}), frozenset({QUOTE, PROTECT})),
}


def check_params(order_type: OrderType, present: frozenset[int] | set[int]) -> tuple[RejectReason, int] | None:
    """First parameter-presence failure for ``order_type`` given the fields sent, or None.

    Order: missing mandatory fields (in field order), then either/or pairs, then unexpected fields.
    """
    required, forbidden = PARAM_RULES[order_type]
    for f in FIELD_ORDER:
        if f in required and f not in present:
            return RejectReason.MATCHING_MANDATORY_PARAM, f
    if order_type == OrderType.MARKET:
        if QTY not in present and QUOTE not in present:
            return RejectReason.MATCHING_QTY_OR_QUOTE_REQUIRED, 0
        if QTY in present and QUOTE in present:
            return RejectReason.MATCHING_UNSUPPORTED_COMBINATION, 0
    elif order_type not in (OrderType.LIMIT, OrderType.LIMIT_MAKER):
        if STOP not in present and TRAIL not in present:
            return RejectReason.MATCHING_STOP_OR_TRAILING_REQUIRED, 0
    for f in FIELD_ORDER:
        if f in forbidden and f in present:
            return RejectReason.MATCHING_PARAM_NOT_REQUIRED, f
    return None
