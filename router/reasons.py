"""Reject reasons of the risk, kill-switch, router and venue stages, and the one Binance error table.

Guideline 13: one reason enum per stage prefix (``RISK_*``, ``HALTED_*``, ``ROUTER_*``, ``VENUE_REJECT_*``);
the matching engine's ``MATCHING_*`` reasons live in :mod:`internal_book.errors` and are not repeated here.
:data:`BINANCE_ERRORS` is the single table the gateway reads: it holds this module's reasons *and* the
matching engine's, so ``error_of(reason)`` answers for any reason from any stage.

Codes and texts are chosen for what Binance clients do with them (ccxt checks the exact message first,
then broad substrings, then the code):

- ``-2010`` (NEW_ORDER_REJECTED) maps to ``InvalidOrder`` in ccxt and is Binance's code for an order the
  engine refused; it carries our own clear text where Binance has none.
- The price collar uses Binance's own band filter text, ``Filter failure: PERCENT_PRICE_BY_SIDE``
  (ccxt: ``InvalidOrder`` by its broad match; the code is Binance's ``-1013``).
- A venue's balance refusal keeps Binance's exact text so ccxt raises ``InsufficientFunds``.

A ``%s`` in a message is filled with the rejection's detail (which scope is halted and why, the venue's
own words); messages without ``%s`` are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from internal_book import BINANCE_ERRORS as MATCHING_ERRORS
from internal_book import RejectReason as MatchingReason


class RejectReason(IntEnum):
    """Why an order was refused before or while routing. Values do not overlap the ``MATCHING_*`` ones."""

    RISK_MAX_NOTIONAL = 101
    RISK_PRICE_COLLAR = 102
    RISK_OPEN_ORDERS = 103
    RISK_NO_REFERENCE_PRICE = 104
    RISK_KYC_TRADING = 105
    RISK_KYC_NOTIONAL = 106

    HALTED_ALL = 201
    HALTED_SYMBOL = 202
    HALTED_VENUE = 203

    ROUTER_NO_LIQUIDITY = 301
    ROUTER_NO_VENUE = 302
    ROUTER_SLIPPAGE = 303
    ROUTER_FOK_UNFILLABLE = 304
    ROUTER_MARKET_PROTECTION = 305
    ROUTER_TIME_BUDGET = 306
    ROUTER_MAX_ROUNDS = 307
    ROUTER_STALE_BOOK = 308

    VENUE_REJECT_INSUFFICIENT_BALANCE = 401
    VENUE_REJECT_RATE_LIMITED = 402
    VENUE_REJECT_UNAVAILABLE = 403
    VENUE_REJECT_OTHER = 404

    @property
    def stage(self) -> str:
        """The stage prefix: ``RISK``, ``HALTED``, ``ROUTER`` or ``VENUE_REJECT``."""
        return "VENUE_REJECT" if self.name.startswith("VENUE_REJECT_") else self.name.split("_", 1)[0]

    @property
    def is_halt(self) -> bool:
        return self.stage == "HALTED"


Reason = RejectReason | MatchingReason

_OWN_ERRORS: dict[RejectReason, tuple[int, str]] = {
    RejectReason.RISK_MAX_NOTIONAL: (-2010, "Order would exceed the maximum notional for this symbol."),
    RejectReason.RISK_PRICE_COLLAR: (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE"),
    RejectReason.RISK_OPEN_ORDERS: (-2010, "Filter failure: MAX_NUM_ORDERS"),
    RejectReason.RISK_NO_REFERENCE_PRICE: (-2010, "No reference price is available for this symbol."),
    # KYC tier (compliance): Binance's own words for an account not verified to trade, and our notional text
    RejectReason.RISK_KYC_TRADING: (-2010, "This action is disabled on this account: identity verification required."),
    RejectReason.RISK_KYC_NOTIONAL: (-2010, "Order would exceed the maximum notional of your verification level."),
    RejectReason.HALTED_ALL: (-2010, "Trading is halted for %s."),
    RejectReason.HALTED_SYMBOL: (-2010, "Trading is halted for %s."),
    RejectReason.HALTED_VENUE: (-2010, "Trading is halted for %s."),
    RejectReason.ROUTER_NO_LIQUIDITY: (-2010, "Order book liquidity is insufficient on every venue."),
    RejectReason.ROUTER_NO_VENUE: (-2010, "No venue is available to route this order."),
    RejectReason.ROUTER_SLIPPAGE: (-2010, "Order would exceed the slippage limit for this symbol."),
    RejectReason.ROUTER_FOK_UNFILLABLE: (-2010, "Fill-or-kill order could not be filled in full."),
    RejectReason.ROUTER_MARKET_PROTECTION: (-2010, "Market order would trade outside the protection band."),
    RejectReason.ROUTER_TIME_BUDGET: (-2010, "Order routing time budget was exhausted."),
    RejectReason.ROUTER_MAX_ROUNDS: (-2010, "Order routing round limit was reached."),
    RejectReason.ROUTER_STALE_BOOK: (-2010, "Market data for this symbol is stale."),
    RejectReason.VENUE_REJECT_INSUFFICIENT_BALANCE: (-2010, "Account has insufficient balance for requested action."),
    RejectReason.VENUE_REJECT_RATE_LIMITED: (-1015, "Too many new orders."),
    RejectReason.VENUE_REJECT_UNAVAILABLE: (-1001, "Internal error; unable to process your request. Please try again."),
    RejectReason.VENUE_REJECT_OTHER: (-2010, "Venue rejected the order: %s."),
}

# The one table: every stage's reason -> (Binance code, message).
BINANCE_ERRORS: dict[Reason, tuple[int, str]] = {
    k: v for table in (MATCHING_ERRORS, _OWN_ERRORS) for k, v in table.items()
}


def error_of(reason: Reason, detail: str = "") -> tuple[int, str]:
    """Binance code and message for ``reason`` from any stage, ``%s`` filled with ``detail``.

    Matching reasons keep :func:`internal_book.errors.error_of` semantics, where ``%s`` is a parameter
    name: pass the name as ``detail``.
    """
    code, msg = BINANCE_ERRORS[reason]
    if "%s" in msg:
        msg = msg % (detail or "no detail given")
    return code, msg


@dataclass(frozen=True, slots=True)
class Rejection:
    """A reason with the detail that names what was exceeded or which scope is halted."""

    reason: Reason
    detail: str = ""

    @property
    def code(self) -> int:
        return BINANCE_ERRORS[self.reason][0]

    @property
    def msg(self) -> str:
        return error_of(self.reason, self.detail)[1]

    def as_binance(self) -> dict[str, object]:
        """The Binance error payload, ``{"code": ..., "msg": ...}``."""
        code, msg = error_of(self.reason, self.detail)
        return {"code": code, "msg": msg}

    def __str__(self) -> str:
        return f"{self.reason.name}: {self.detail}" if self.detail else self.reason.name
