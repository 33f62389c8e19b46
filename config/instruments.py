"""Instrument reference data: the trading rules of one symbol on one venue (or the internal book)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

ZERO = Decimal(0)


@lru_cache(maxsize=4096)
def decimals_of(step: Decimal) -> int:
    """Number of decimal places a step such as Decimal('0.0100') really needs (2)."""
    if step == 0:
        return 0
    exp = step.normalize().as_tuple().exponent
    assert isinstance(exp, int)
    return max(0, -exp)


@dataclass(frozen=True, slots=True)
class Instrument:
    """Filters with Binance semantics; a zero bound means the rule is off (as in exchangeInfo)."""

    symbol: str  # canonical, e.g. "BTC/USDT"
    base: str
    quote: str
    venue: str  # "binance", "kraken", "htx" or "internal"
    venue_symbol: str  # the venue's own spelling, e.g. "BTCUSDT", "XBT/USDT", "btcusdt"
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal = ZERO
    max_qty: Decimal = ZERO
    min_price: Decimal = ZERO
    max_price: Decimal = ZERO
    min_notional: Decimal = ZERO
    max_notional: Decimal = ZERO
    apply_min_to_market: bool = True
    market_step_size: Decimal = ZERO  # MARKET_LOT_SIZE; zero means "same as step_size"
    market_max_qty: Decimal = ZERO
    trading: bool = True

    @property
    def price_decimals(self) -> int:
        return decimals_of(self.tick_size)

    @property
    def qty_decimals(self) -> int:
        return decimals_of(self.step_size)

    def round_qty_down(self, qty: Decimal) -> Decimal:
        """Largest multiple of the lot step not above ``qty``."""
        if self.step_size == 0:
            return qty
        return (qty // self.step_size) * self.step_size

    def price_on_tick(self, price: Decimal) -> bool:
        return self.tick_size == 0 or price % self.tick_size == 0

    def qty_on_step(self, qty: Decimal) -> bool:
        return self.step_size == 0 or qty % self.step_size == 0
