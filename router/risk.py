"""Pre-trade risk: maximum order notional, a price collar around the reference price, open-order count.

Pure and exact: the caller passes the reference price (the consolidated mid, say) and the account's
open-order count; nothing here reads a clock, a book or a database. Checks run in a fixed order —
open orders, reference price, notional, collar — and the first failure is the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Protocol

import structlog

from domain import AccountId, OrderSide
from router.reasons import Rejection, RejectReason

if TYPE_CHECKING:
    from config.settings import Settings

log = structlog.get_logger(__name__)

_BPS = Decimal(10_000)
_PREC = 400


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Per-order limits; ``None`` turns a rule off.

    Attributes:
        max_order_notional: largest ``qty * price`` (quote currency) one order may have.
        collar_bps: a BUY limit above ``ref * (1 + collar)`` or a SELL limit below ``ref * (1 - collar)``
            is refused (basis points of the reference price).
        max_open_orders: the account may have at most this many open orders, the new one included.
    """

    max_order_notional: Decimal | None = None
    collar_bps: Decimal | None = None
    max_open_orders: int | None = None

    def __post_init__(self) -> None:
        if self.max_order_notional is not None and self.max_order_notional <= 0:
            raise ValueError(f"max_order_notional must be > 0, received {self.max_order_notional}")
        if self.collar_bps is not None and self.collar_bps < 0:
            raise ValueError(f"collar_bps must be >= 0, received {self.collar_bps}")
        if self.max_open_orders is not None and self.max_open_orders < 1:
            raise ValueError(f"max_open_orders must be >= 1, received {self.max_open_orders}")
        for name in ("max_order_notional", "collar_bps"):
            value = getattr(self, name)
            if isinstance(value, float):
                raise TypeError(f"{name} must be a Decimal, received float {value!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> RiskLimits:
        return cls(
            max_order_notional=settings.risk_max_order_notional,
            collar_bps=settings.risk_collar_bps,
            max_open_orders=settings.risk_max_open_orders,
        )


class AccountLimits(Protocol):
    """What the account's verification tier allows (``compliance``'s tier limits have these attributes)."""

    @property
    def may_trade(self) -> bool: ...

    @property
    def max_order_notional(self) -> Decimal | None: ...


# account id -> its tier's limits; given by whoever wires the service (the router does not import compliance)
AccountLimitsOf = Callable[[AccountId], AccountLimits]


class PreTradeRisk:
    """Check one new order against the limits (per-symbol limits replace the defaults whole) and, when
    ``account_limits`` is given, against the account's KYC tier (may it trade; its largest order notional)."""

    def __init__(
        self,
        limits: RiskLimits,
        per_symbol: Mapping[str, RiskLimits] | None = None,
        account_limits: AccountLimitsOf | None = None,
    ) -> None:
        self.limits = limits
        self.per_symbol: dict[str, RiskLimits] = dict(per_symbol or {})
        self.account_limits = account_limits

    def limits_for(self, symbol: str) -> RiskLimits:
        return self.per_symbol.get(symbol, self.limits)

    def check(
        self,
        symbol: str,
        side: OrderSide,
        qty: Decimal,
        price: Decimal | None,
        reference_price: Decimal | None,
        open_orders: int,
        account: AccountId | None = None,
    ) -> RejectReason | None:
        """The first rule the order breaks, or ``None`` if it passes.

        Args:
            symbol: canonical symbol, e.g. ``"BTC/USDT"``.
            side: ``"BUY"``/``"SELL"`` (either case).
            qty: base quantity.
            price: the limit price, or ``None`` for a market order (its notional uses the reference).
            reference_price: the consolidated mid or last trade; ``None`` when no venue is live.
            open_orders: the account's open orders before this one.
            account: the ordering account, for the KYC tier check (skipped when ``None``).
        """
        found = self.evaluate(symbol, side, qty, price, reference_price, open_orders, account)
        return None if found is None else found.reason  # type: ignore[return-value]

    def evaluate(
        self,
        symbol: str,
        side: OrderSide,
        qty: Decimal,
        price: Decimal | None,
        reference_price: Decimal | None,
        open_orders: int,
        account: AccountId | None = None,
    ) -> Rejection | None:
        """Like :meth:`check`, with a detail naming the limit and the value that broke it."""
        with localcontext(prec=_PREC):  # products of exact inputs stay exact
            found = self._evaluate(symbol, _side(side), qty, price, reference_price, open_orders, account)
        if found is not None:
            log.info(
                "risk_reject",
                symbol=symbol,
                side=side,
                qty=str(qty),
                price=str(price),
                reference=str(reference_price),
                reason=found.reason.name,
                detail=found.detail,
            )
        return found

    def _evaluate(
        self,
        symbol: str,
        side: OrderSide,
        qty: Decimal,
        price: Decimal | None,
        ref: Decimal | None,
        open_orders: int,
        account: AccountId | None,
    ) -> Rejection | None:
        tier = None if account is None or self.account_limits is None else self.account_limits(account)
        if tier is not None and not tier.may_trade:
            return Rejection(RejectReason.RISK_KYC_TRADING, f"account {account} is not verified for trading")
        limits = self.limits_for(symbol)
        if limits.max_open_orders is not None and open_orders >= limits.max_open_orders:
            return Rejection(
                RejectReason.RISK_OPEN_ORDERS,
                f"{open_orders} open orders, the limit is {limits.max_open_orders}",
            )
        # A market order needs the reference for its notional; a limit order needs it for the collar.
        if ref is None and (price is None or limits.collar_bps is not None):
            return Rejection(RejectReason.RISK_NO_REFERENCE_PRICE, f"no reference price for {symbol}")
        if ref is not None and ref <= 0:
            return Rejection(RejectReason.RISK_NO_REFERENCE_PRICE, f"reference price for {symbol} was {ref}")
        if limits.max_order_notional is not None:
            at = price if price is not None else ref
            assert at is not None
            notional = qty * at
            if notional > limits.max_order_notional:
                return Rejection(
                    RejectReason.RISK_MAX_NOTIONAL,
                    f"notional {notional} exceeds the limit {limits.max_order_notional}",
                )
        if tier is not None and tier.max_order_notional is not None:
            at = price if price is not None else ref
            if at is None:
                return Rejection(RejectReason.RISK_NO_REFERENCE_PRICE, f"no reference price for {symbol}")
            if qty * at > tier.max_order_notional:
                return Rejection(
                    RejectReason.RISK_KYC_NOTIONAL,
                    f"notional {qty * at} exceeds the tier's limit {tier.max_order_notional}",
                )
        if price is not None and limits.collar_bps is not None:
            assert ref is not None
            band = ref * limits.collar_bps / _BPS
            if side == "BUY" and price > ref + band:
                return Rejection(
                    RejectReason.RISK_PRICE_COLLAR,
                    f"buy price {price} above {ref + band} ({limits.collar_bps} bps over reference {ref})",
                )
            if side == "SELL" and price < ref - band:
                return Rejection(
                    RejectReason.RISK_PRICE_COLLAR,
                    f"sell price {price} below {ref - band} ({limits.collar_bps} bps under reference {ref})",
                )
        return None


def _side(side: str) -> OrderSide:
    upper = side.upper()
    if upper not in ("BUY", "SELL"):
        raise ValueError(f"side must be BUY or SELL, received {side!r}")
    return OrderSide(upper)
