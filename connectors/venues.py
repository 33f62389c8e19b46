"""The venue table: how to build each venue's feed, reach it live, and read its reference data and captures.

This is the one place that lists venues; shared machinery gets a VenueSpec and never names a venue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

import aiohttp

from config.instruments import Instrument
from config.settings import VenueSettings
from connectors.base import FeedHandler
from connectors.ws import SnapshotFetcher


@dataclass(frozen=True, slots=True)
class VenueSpec:
    name: str
    capture_hosts: tuple[str, ...]
    # body of the venue's reference-data REST response -> instruments
    load_instruments: Callable[[str | bytes], list[Instrument]]
    # GET this (on the venue's REST base) for reference data
    reference_path: str
    default_rest_url: str
    # (instruments, settings, stream url or "") -> a feed handler for that connection
    make_feed: Callable[[Sequence[Instrument], VenueSettings, str], FeedHandler]
    # feed -> the URL its live session connects to
    stream_url: Callable[[FeedHandler], str]
    # (feed, http session) -> REST snapshot fetcher, for venues whose snapshots come over REST
    snapshot_fetcher: Callable[[FeedHandler, aiohttp.ClientSession], SnapshotFetcher | None]
    # (stream url, frames the recorder sent) -> venue symbols whose books the capture carries
    capture_symbols: Callable[[str, Sequence[str]], list[str]]
    # canonical "BASE/QUOTE" -> the venue's spelling, when no reference data is at hand
    guess_venue_symbol: Callable[[str], str]
    # venue symbol -> canonical, when no reference data is at hand
    guess_canonical: Callable[[str], str]

    @property
    def reference_paths(self) -> tuple[str, ...]:
        return (self.reference_path,)

    def bare_instrument(self, venue_symbol: str, symbol: str | None = None) -> Instrument:
        """An instrument known only by name (tick and lot unknown: zero means 'no rule')."""
        canonical = symbol or self.guess_canonical(venue_symbol)
        base, _, quote = canonical.partition("/")
        return Instrument(canonical, base, quote, self.name, venue_symbol, Decimal(0), Decimal(0))


def _binance() -> VenueSpec:
    from connectors.binance import BinanceFeed, capture_symbols, load_instruments
    from connectors.binance.constants import CAPTURE_HOSTS, EXCHANGE_INFO_PATH, REST_URL, VENUE
    from connectors.binance.rest import snapshot_fetcher

    return VenueSpec(
        name=VENUE,
        capture_hosts=CAPTURE_HOSTS,
        load_instruments=load_instruments,
        reference_path=EXCHANGE_INFO_PATH,
        default_rest_url=REST_URL["live"],
        make_feed=lambda insts, settings, url: BinanceFeed(insts, settings),
        stream_url=lambda feed: feed.stream_url(),  # type: ignore[attr-defined]
        snapshot_fetcher=lambda feed, http: snapshot_fetcher(feed, http),  # type: ignore[arg-type]
        capture_symbols=lambda url, sent: capture_symbols(url),
        guess_venue_symbol=lambda sym: sym.replace("/", ""),
        guess_canonical=lambda vs: vs,  # "NKNUSDT" cannot be split without exchangeInfo
    )


def _kraken() -> VenueSpec:
    from connectors.kraken import KrakenFeed, capture_symbols, parse_asset_pairs, version_for_url
    from connectors.kraken.constants import ASSET_PAIRS_PATH, REST_URL, VENUE
    from connectors.kraken.instruments import canonical_symbol

    def guess(sym: str) -> str:
        base, _, quote = sym.partition("/")
        return f"{'XBT' if base == 'BTC' else base}/{'XBT' if quote == 'BTC' else quote}"

    return VenueSpec(
        name=VENUE,
        capture_hosts=("kraken.com",),
        load_instruments=parse_asset_pairs,
        reference_path=ASSET_PAIRS_PATH,
        default_rest_url=REST_URL,
        make_feed=lambda insts, settings, url: KrakenFeed(insts, settings, version=version_for_url(url) if url else 2),
        stream_url=lambda feed: feed.url(),  # type: ignore[attr-defined]
        snapshot_fetcher=lambda feed, http: None,  # snapshots come in-stream
        capture_symbols=capture_symbols,
        guess_venue_symbol=guess,
        guess_canonical=canonical_symbol,
    )


def _htx() -> VenueSpec:
    from connectors.htx import feed_url, parse_symbols
    from connectors.htx.constants import CAPTURE_HOSTS, REST_URL, VENUE
    from connectors.htx.market_data import capture_symbols, make_feed

    return VenueSpec(
        name=VENUE,
        capture_hosts=CAPTURE_HOSTS,
        load_instruments=parse_symbols,
        reference_path="/v1/common/symbols",
        default_rest_url=REST_URL,
        make_feed=lambda insts, settings, url: make_feed(insts, settings, url or feed_url(settings, "mbp")),
        stream_url=lambda feed: feed_url(feed.settings, feed.mode),  # type: ignore[attr-defined]
        snapshot_fetcher=lambda feed, http: None,  # snapshots are REQ/REP on the stream
        capture_symbols=capture_symbols,
        guess_venue_symbol=lambda sym: sym.replace("/", "").lower(),
        guess_canonical=lambda vs: vs.upper(),
    )


_FACTORIES: dict[str, Callable[[], VenueSpec]] = {"binance": _binance, "kraken": _kraken, "htx": _htx}
_CACHE: dict[str, VenueSpec] = {}


def venue_spec(name: str) -> VenueSpec:
    if name not in _CACHE:
        try:
            _CACHE[name] = _FACTORIES[name]()
        except KeyError:
            raise KeyError(f"unknown venue {name!r}; known: {known_venues()}") from None
    return _CACHE[name]


def known_venues() -> list[str]:
    return list(_FACTORIES)


def venue_for_url(url: str) -> VenueSpec | None:
    host = (urlsplit(url).hostname or "").lower()
    for name in known_venues():
        spec = venue_spec(name)
        if any(host == h or host.endswith("." + h) for h in spec.capture_hosts):
            return spec
    return None
