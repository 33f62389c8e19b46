"""A fixed market for router scenarios: three mirrored venue books, paper venues, the internal engine."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from config.instruments import Instrument
from config.settings import Settings
from connectors.book import VenueBook
from internal_book import MatchingEngine
from router.consolidated import ConsolidatedMarket
from router.paper import PaperVenue
from router.sor import SmartOrderRouter

SYMBOL = "BTC/USDT"
FEES = {"binance": D("0.001"), "kraken": D("0.0026"), "htx": D("0.002")}


def instrument(venue: str, tick: str = "0.01", step: str = "0.001", min_notional: str = "0") -> Instrument:
    return Instrument(SYMBOL, "BTC", "USDT", venue, "X", D(tick), D(step), min_notional=D(min_notional))


class Market:
    """Books, venues and router wired together; tests set the books and call ``router.execute``."""

    def __init__(
        self,
        books: dict[str, tuple[list, list]],
        *,
        instruments: dict[str, Instrument] | None = None,
        latency_s: float = 0.0,
        **router_kwargs,
    ) -> None:
        self.settings = Settings()
        self.market = ConsolidatedMarket()
        self.books: dict[str, VenueBook] = {}
        self.venues: dict[str, PaperVenue] = {}
        insts = {v: instrument(v) for v in FEES} | (instruments or {})
        self.clock_ns = 1_000_000_000
        for i, (venue, (bids, asks)) in enumerate(books.items()):
            book = VenueBook(venue, SYMBOL, "X")
            book.levels.load(bids, asks)
            book.synced = True
            book.last_update_ns = 1
            self.books[venue] = book
            self.market.book(SYMBOL).attach(book, fee=FEES[venue], priority=i)
            self.venues[venue] = PaperVenue(venue, lambda s, b=book: b, taker_fee=FEES[venue], latency_s=latency_s)
        internal = Instrument(SYMBOL, "BTC", "USDT", "internal", SYMBOL, D("0.01"), D("0.001"))
        self.engine = MatchingEngine([internal])
        instruments_map = {(v, SYMBOL): insts[v] for v in books} | {("internal", SYMBOL): internal}
        self.router = SmartOrderRouter(
            self.market,
            self.venues,
            instruments_map,
            engine=self.engine,
            settings=self.settings,
            clock=lambda: self.clock_ns,
            **router_kwargs,
        )

    def update(self, venue: str, bids: list | None = None, asks: list | None = None) -> None:
        """The venue's next book update (what the paper venue treats as the new truth)."""
        book = self.books[venue]
        book.levels.apply(bids or [], asks or [])
        book.last_update_ns += 1


@pytest.fixture
def three_venues() -> Market:
    return Market(
        {
            "binance": ([["99.00", "1"]], [["100.00", "1"], ["101.00", "2"]]),
            "kraken": ([["99.50", "1"]], [["100.20", "0.5"], ["100.50", "3"]]),
            "htx": ([["99.20", "1"]], [["100.10", "1"]]),
        }
    )
