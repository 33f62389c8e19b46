"""The venue table: how to build each venue's feed and read its reference data and captures.

This is the one place that lists venues; shared machinery gets a VenueSpec and never names a venue.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from config.instruments import Instrument
from config.settings import VenueSettings
from connectors.base import FeedHandler


@dataclass(frozen=True, slots=True)
class VenueSpec:
    name: str
    capture_hosts: tuple[str, ...]
    # body of the venue's reference-data REST response -> instruments
    load_instruments: Callable[[str | bytes], list[Instrument]]
    # (instruments, settings, stream url) -> a feed handler for that connection
    make_feed: Callable[[Sequence[Instrument], VenueSettings, str], FeedHandler]
    # (stream url, frames the recorder sent) -> venue symbols whose books the capture carries
    capture_symbols: Callable[[str, Sequence[str]], list[str]]
    # REST paths that carry reference data (as opposed to book snapshots)
    reference_paths: tuple[str, ...]
    # (venue symbol) -> instrument when no reference data is at hand (replay of a bare capture)
    bare_instrument: Callable[[str], Instrument]


def _binance() -> VenueSpec:
    from decimal import Decimal

    from connectors.binance import BinanceFeed, capture_symbols, load_instruments
    from connectors.binance.constants import CAPTURE_HOSTS, EXCHANGE_INFO_PATH, VENUE

    def bare(vs: str) -> Instrument:
        return Instrument(vs, vs, "", VENUE, vs, Decimal(0), Decimal(0))

    return VenueSpec(
        name=VENUE,
        capture_hosts=CAPTURE_HOSTS,
        load_instruments=load_instruments,
        make_feed=lambda insts, settings, url: BinanceFeed(insts, settings),
        capture_symbols=lambda url, sent: capture_symbols(url),
        reference_paths=(EXCHANGE_INFO_PATH,),
        bare_instrument=bare,
    )


_FACTORIES: dict[str, Callable[[], VenueSpec]] = {"binance": _binance}
_CACHE: dict[str, VenueSpec] = {}


def register(name: str, factory: Callable[[], VenueSpec]) -> None:
    _FACTORIES[name] = factory


def venue_spec(name: str) -> VenueSpec:
    if name not in _CACHE:
        try:
            _CACHE[name] = _FACTORIES[name]()
        except KeyError:
            raise KeyError(f"unknown venue {name!r}; known: {sorted(_FACTORIES)}") from None
    return _CACHE[name]


def known_venues() -> list[str]:
    return sorted(_FACTORIES)


def venue_for_url(url: str) -> VenueSpec | None:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    for name in known_venues():
        spec = venue_spec(name)
        if any(host == h or host.endswith("." + h) for h in spec.capture_hosts):
            return spec
    return None


def instruments_by_symbol(instruments: Iterable[Instrument]) -> dict[str, Instrument]:
    return {inst.venue_symbol: inst for inst in instruments}


__all__: list[Any] = ["VenueSpec", "known_venues", "register", "venue_for_url", "venue_spec"]
