"""One venue's mirrored L2 book for one symbol: the compiled price book plus its sync state."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors._l2book import L2Book
from connectors.numbers import format_units, units_to_decimal

__all__ = ["L2Book", "VenueBook"]


class VenueBook:
    """Levels are exact (scaled integers inside); ``update_id`` is the venue's sequence for this book."""

    __slots__ = ("venue", "symbol", "venue_symbol", "levels", "update_id", "synced", "last_update_ns")

    def __init__(self, venue: str, symbol: str, venue_symbol: str, price_scale: int = 0, qty_scale: int = 0) -> None:
        self.venue = venue
        self.symbol = symbol
        self.venue_symbol = venue_symbol
        self.levels = L2Book(price_scale, qty_scale)
        self.update_id: int | None = None
        self.synced = False
        self.last_update_ns = 0

    @property
    def price_scale(self) -> int:
        return self.levels.price_scale

    @property
    def qty_scale(self) -> int:
        return self.levels.qty_scale

    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        lvl = self.levels.best_bid()
        return None if lvl is None else self._dec(lvl)

    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        lvl = self.levels.best_ask()
        return None if lvl is None else self._dec(lvl)

    def bids(self, n: int = -1) -> list[tuple[Decimal, Decimal]]:
        return [self._dec(lvl) for lvl in self.levels.bids(n)]

    def asks(self, n: int = -1) -> list[tuple[Decimal, Decimal]]:
        return [self._dec(lvl) for lvl in self.levels.asks(n)]

    def to_json(self, depth: int = 10) -> dict[str, Any]:
        """The `braid book replay` line: prices and quantities as exact decimal strings."""
        ps, qs = self.price_scale, self.qty_scale
        return {
            "venue": self.venue,
            "symbol": self.symbol,
            "update_id": self.update_id,
            "bids": [[format_units(p, ps), format_units(q, qs)] for p, q in self.levels.bids(depth)],
            "asks": [[format_units(p, ps), format_units(q, qs)] for p, q in self.levels.asks(depth)],
        }

    def _dec(self, lvl: tuple[int, int]) -> tuple[Decimal, Decimal]:
        return units_to_decimal(lvl[0], self.levels.price_scale), units_to_decimal(lvl[1], self.levels.qty_scale)

    def __repr__(self) -> str:
        return (
            f"VenueBook({self.venue} {self.symbol} id={self.update_id} synced={self.synced} "
            f"bids={self.levels.bid_count} asks={self.levels.ask_count})"
        )
