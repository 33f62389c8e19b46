"""Exact amounts: decimal text in whole units (BTC, ETH, USDT) to integer base units (satoshi, wei)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from wallets.custody.errors import CustodyError


def to_base_units(amount: str | Decimal, decimals: int, what: str = "amount") -> int:
    """``amount`` * 10**decimals exactly; refuses non-numbers, negatives and more than ``decimals`` decimals."""
    try:
        d = Decimal(str(amount))
    except InvalidOperation:
        raise CustodyError(f"{what} is not a decimal number: {amount!r}") from None
    if not d.is_finite() or d < 0:
        raise CustodyError(f"{what} must be a non-negative number, was {amount!r}")
    scaled = d.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise CustodyError(f"{what} has more than {decimals} decimals: {amount!r}")
    return int(scaled)
