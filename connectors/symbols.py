"""Canonical symbols (``BTC/USDT``) and each venue's spelling of them, filled by the venues' instrument loaders."""

from __future__ import annotations

from collections.abc import Iterable

from config.instruments import Instrument


class UnknownSymbol(KeyError):
    def __init__(self, venue: str, symbol: str) -> None:
        super().__init__(f"{venue}: unknown symbol {symbol!r}")
        self.venue = venue
        self.symbol = symbol

    def __str__(self) -> str:
        return str(self.args[0])


class SymbolRegistry:
    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self._by_canonical: dict[tuple[str, str], Instrument] = {}
        self._by_venue_symbol: dict[tuple[str, str], Instrument] = {}
        for inst in instruments:
            self.add(inst)

    def add(self, inst: Instrument) -> None:
        self._by_canonical[(inst.venue, inst.symbol)] = inst
        self._by_venue_symbol[(inst.venue, inst.venue_symbol)] = inst

    def instrument(self, venue: str, symbol: str) -> Instrument:
        try:
            return self._by_canonical[(venue, symbol)]
        except KeyError:
            raise UnknownSymbol(venue, symbol) from None

    def by_venue_symbol(self, venue: str, venue_symbol: str) -> Instrument:
        try:
            return self._by_venue_symbol[(venue, venue_symbol)]
        except KeyError:
            raise UnknownSymbol(venue, venue_symbol) from None

    def to_venue(self, venue: str, symbol: str) -> str:
        return self.instrument(venue, symbol).venue_symbol

    def to_canonical(self, venue: str, venue_symbol: str) -> str:
        return self.by_venue_symbol(venue, venue_symbol).symbol

    def symbols(self, venue: str) -> list[str]:
        return sorted(sym for v, sym in self._by_canonical if v == venue)

    def venues(self, symbol: str) -> list[str]:
        return sorted(v for v, sym in self._by_canonical if sym == symbol)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._by_canonical

    def __len__(self) -> int:
        return len(self._by_canonical)
