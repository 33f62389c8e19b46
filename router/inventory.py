"""The broker's own balances on each venue: what a buy can spend there and a sell can deliver there."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import structlog

from connectors.trading import TradingVenue
from domain import OrderSide

log = structlog.get_logger(__name__)
ZERO = Decimal(0)


class Inventory:
    """Free balances per venue and asset. ``None`` for a venue means "not tracked" (no cap)."""

    def __init__(self, balances: Mapping[str, Mapping[str, Decimal]] | None = None) -> None:
        self._free: dict[str, dict[str, Decimal]] = {v: dict(b) for v, b in (balances or {}).items()}

    def tracked(self, venue: str) -> bool:
        return venue in self._free

    def free(self, venue: str, asset: str) -> Decimal | None:
        if venue not in self._free:
            return None
        return self._free[venue].get(asset, ZERO)

    def set(self, venue: str, asset: str, amount: Decimal) -> None:
        self._free.setdefault(venue, {})[asset] = amount

    def available_for(self, venue: str, symbol: str, side: OrderSide) -> Decimal | None:
        """Quote balance for a buy, base balance for a sell."""
        base, _, quote = symbol.partition("/")
        return self.free(venue, quote if side == "BUY" else base)

    def apply_fill(
        self, venue: str, symbol: str, side: OrderSide, qty: Decimal, notional: Decimal, fee: Decimal, fee_asset: str
    ) -> None:
        if venue not in self._free:
            return
        base, _, quote = symbol.partition("/")
        bal = self._free[venue]
        if side == "BUY":
            bal[quote] = bal.get(quote, ZERO) - notional
            bal[base] = bal.get(base, ZERO) + qty
        else:
            bal[base] = bal.get(base, ZERO) - qty
            bal[quote] = bal.get(quote, ZERO) + notional
        bal[fee_asset] = bal.get(fee_asset, ZERO) - fee

    async def refresh(self, venues: Iterable[TradingVenue]) -> None:
        """Replace the tracked balances with what the venues report."""
        for venue in venues:
            try:
                balances = await venue.balances()
            except Exception as exc:  # noqa: BLE001 - keep the last known balances of a venue that does not answer
                log.warning("inventory_refresh_failed", venue=venue.venue, error=str(exc))
                continue
            self._free[venue.venue] = {asset: free for asset, (free, _locked) in balances.items()}

    def snapshot(self) -> dict[str, dict[str, Decimal]]:
        return {v: dict(b) for v, b in self._free.items()}
