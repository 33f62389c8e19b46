"""Internal matching engine: client orders matched against each other before anything goes to a venue.

Public face: ``MatchingEngine`` (compiled core, the one Braid uses), ``ReferenceEngine`` (slow
executable specification), the command and event types, and the rejection reasons. The order vocabulary
(sides, types, statuses, time in force, STP modes) is ``domain``'s.
"""

from internal_book.commands import (
    AmendOrder,
    CancelOrder,
    CancelReplace,
    Command,
    NewOrder,
    SetReferencePrice,
)
from internal_book.engine import MatchingEngine
from internal_book.errors import BINANCE_ERRORS, RejectReason, error_of
from internal_book.events import (
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderReleased,
    Preview,
    StopTriggered,
    Trade,
    events_to_json,
)
from internal_book.reference import ReferenceEngine

__all__ = [
    "AmendOrder",
    "BINANCE_ERRORS",
    "CancelOrder",
    "CancelReplace",
    "Command",
    "Event",
    "MatchingEngine",
    "NewOrder",
    "OrderAccepted",
    "OrderAmended",
    "OrderCancelled",
    "OrderExpired",
    "OrderRejected",
    "OrderReleased",
    "Preview",
    "ReferenceEngine",
    "RejectReason",
    "SetReferencePrice",
    "StopTriggered",
    "Trade",
    "error_of",
    "events_to_json",
]
