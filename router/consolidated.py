"""The consolidated book: every live venue's book for one symbol, merged, raw or fee-adjusted.

Arithmetic is exact: each venue's integer units are brought to one common scale, and a taker fee f is
folded in as price * (1 + f) for asks (what a buyer pays) and price * (1 - f) for bids (what a seller
receives), still in integers. A venue counts only while its book is synced and its feed is not stale, so
venues drop out and come back without anyone telling the book.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Literal, Protocol

from connectors.base import VenueHealth
from connectors.book import L2Book
from connectors.numbers import ceil_units, to_units, units_to_decimal
from domain import BookSide

_CTX = Context(prec=50)
_CHUNK = 64


class BookView(Protocol):
    venue: str
    synced: bool
    levels: L2Book
    last_update_ns: int


class ConsolidatedLevel:
    """One merged price level. Held as exact integer units; the Decimal views are made on access."""

    __slots__ = ("price_units", "qty_units", "price_scale", "qty_scale", "parts")

    def __init__(
        self, price_units: int, qty_units: int, price_scale: int, qty_scale: int, parts: tuple[tuple[str, int], ...]
    ) -> None:
        self.price_units = price_units
        self.qty_units = qty_units
        self.price_scale = price_scale
        self.qty_scale = qty_scale
        self.parts = parts  # (venue, qty units), in venue priority order

    @property
    def price(self) -> Decimal:
        """Raw price, or the effective (fee-adjusted) one in the fee-adjusted view; no padding zeros."""
        return _plain(self.price_units, self.price_scale)

    @property
    def qty(self) -> Decimal:
        return units_to_decimal(self.qty_units, self.qty_scale)

    @property
    def venues(self) -> tuple[tuple[str, Decimal], ...]:
        return tuple((v, units_to_decimal(q, self.qty_scale)) for v, q in self.parts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConsolidatedLevel):
            return NotImplemented
        return (self.price, self.qty, self.venues) == (other.price, other.qty, other.venues)

    def __repr__(self) -> str:
        return f"ConsolidatedLevel(price={self.price}, qty={self.qty}, venues={self.venues})"


def _plain(units: int, scale: int) -> Decimal:
    """units / 10^scale without padding zeros."""
    while scale > 0 and units % 10 == 0:
        units //= 10
        scale -= 1
    return units_to_decimal(units, scale)


@dataclass(frozen=True, slots=True)
class Fill:
    """The result of walking the book for a size."""

    qty: Decimal  # what the displayed liquidity could fill (may be less than asked)
    notional: Decimal  # exact sum of price * qty over the levels taken
    vwap: Decimal | None  # notional / qty to 28 significant digits; None if nothing could fill
    by_venue: tuple[tuple[str, Decimal], ...]


@dataclass(slots=True)
class _Source:
    book: BookView
    health: VenueHealth | None
    fee: Decimal
    priority: int
    fee_dp: int = 0  # decimals of the fee, so that it folds into integer prices exactly

    def __post_init__(self) -> None:
        self.fee_dp = _decimals(self.fee)


class ConsolidatedBook:
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._sources: dict[str, _Source] = {}
        self._ordered: list[_Source] = []

    # ----- membership -----
    def attach(
        self, book: BookView, health: VenueHealth | None = None, *, fee: Decimal = Decimal(0), priority: int = 0
    ) -> None:
        self._sources[book.venue] = _Source(book, health, Decimal(fee), priority)
        self._order()

    def detach(self, venue: str) -> None:
        self._sources.pop(venue, None)
        self._order()

    def _order(self) -> None:
        # Venue priority breaks ties at equal price; kept sorted so queries need not sort.
        self._ordered = sorted(self._sources.values(), key=lambda s: (s.priority, s.book.venue))

    def set_fee(self, venue: str, fee: Decimal) -> None:
        src = self._sources[venue]
        src.fee, src.fee_dp = Decimal(fee), _decimals(Decimal(fee))

    def live_venues(self, now_ns: int | None = None) -> list[str]:
        now = now_ns or time.time_ns()
        return [s.book.venue for s in self._live(now)]

    def live_books(self, now_ns: int | None = None) -> dict[str, L2Book]:
        """The price books of the venues that count right now, by venue (in priority order)."""
        return {s.book.venue: s.book.levels for s in self._live(now_ns or time.time_ns())}

    def live_venue_books(self, now_ns: int | None = None) -> dict[str, BookView]:
        """Like :meth:`live_books`, with each venue's whole mirrored book (sync state, last update time)."""
        return {s.book.venue: s.book for s in self._live(now_ns or time.time_ns())}

    def _live(self, now_ns: int) -> list[_Source]:
        return [s for s in self._ordered if s.book.synced and (s.health is None or not s.health.is_stale(now_ns))]

    # ----- the merge, in integers -----
    def _scales(
        self, sources: list[_Source], side: BookSide, fee_adjusted: bool
    ) -> tuple[int, int, list[tuple[int, int]]]:
        """Common price and qty scales, and per source the integer multipliers that bring its units there."""
        fee_dp = max(s.fee_dp for s in sources) if fee_adjusted else 0
        pscale = max(s.book.levels.price_scale for s in sources) + fee_dp
        qscale = max(s.book.levels.qty_scale for s in sources)
        one = 10**fee_dp
        factors = []
        for s in sources:
            fee_units = to_units(s.fee, fee_dp) if fee_adjusted else 0
            factor = one - fee_units if side == "bids" else one + fee_units
            factors.append(
                (factor * 10 ** (pscale - fee_dp - s.book.levels.price_scale), 10 ** (qscale - s.book.levels.qty_scale))
            )
        return pscale, qscale, factors

    def _streams(
        self, side: BookSide, fee_adjusted: bool, now_ns: int
    ) -> tuple[list[Iterator[tuple[int, int, int, int]]], int, int, list[str]]:
        """Per live venue, an iterator of (sort_key, venue_rank, price_units, qty_units) at common scales."""
        sources = self._live(now_ns)
        if not sources:
            return [], 0, 0, []
        pscale, qscale, factors = self._scales(sources, side, fee_adjusted)
        streams = [
            _walk(s.book.levels, side, rank, pm, qm)
            for rank, (s, (pm, qm)) in enumerate(zip(sources, factors, strict=True))
        ]
        return streams, pscale, qscale, [s.book.venue for s in sources]

    def _merged(
        self, side: BookSide, fee_adjusted: bool, now_ns: int | None
    ) -> tuple[Iterator[tuple[int, int, int, int]], int, int, list[str]]:
        streams, pscale, qscale, venues = self._streams(side, fee_adjusted, now_ns or time.time_ns())
        return heapq.merge(*streams), pscale, qscale, venues

    # ----- queries -----
    def top(
        self, n: int = 10, side: BookSide = "bids", *, fee_adjusted: bool = False, now_ns: int | None = None
    ) -> list[ConsolidatedLevel]:
        """The best ``n`` price levels of one side, each with its venues' quantities."""
        sources = self._live(now_ns or time.time_ns())
        if not sources or n <= 0:
            return []
        pscale, qscale, factors = self._scales(sources, side, fee_adjusted)
        rows: list[tuple[int, int, int, int]] = []
        bids = side == "bids"
        # The best n merged levels need at most n levels from each venue.
        for rank, (src, (pmul, qmul)) in enumerate(zip(sources, factors, strict=True)):
            levels = src.book.levels.bids(n) if bids else src.book.levels.asks(n)
            if bids:
                rows += [(-p * pmul, rank, p * pmul, q * qmul) for p, q in levels]
            else:
                rows += [(p * pmul, rank, p * pmul, q * qmul) for p, q in levels]
        rows.sort()
        venues = [src.book.venue for src in sources]
        out: list[ConsolidatedLevel] = []
        i, total = 0, len(rows)
        while i < total and len(out) < n:
            key = rows[i][0]
            j = i
            while j < total and rows[j][0] == key:
                j += 1
            out.append(_level(rows[i][2], [(r[1], r[3]) for r in rows[i:j]], pscale, qscale, venues))
            i = j
        return out

    def bids(self, n: int = 10, *, fee_adjusted: bool = False, now_ns: int | None = None) -> list[ConsolidatedLevel]:
        return self.top(n, "bids", fee_adjusted=fee_adjusted, now_ns=now_ns)

    def asks(self, n: int = 10, *, fee_adjusted: bool = False, now_ns: int | None = None) -> list[ConsolidatedLevel]:
        return self.top(n, "asks", fee_adjusted=fee_adjusted, now_ns=now_ns)

    def best(
        self, *, fee_adjusted: bool = False, now_ns: int | None = None
    ) -> tuple[ConsolidatedLevel | None, ConsolidatedLevel | None]:
        bids = self.top(1, "bids", fee_adjusted=fee_adjusted, now_ns=now_ns)
        asks = self.top(1, "asks", fee_adjusted=fee_adjusted, now_ns=now_ns)
        return (bids[0] if bids else None), (asks[0] if asks else None)

    def best_prices(self, now_ns: int | None = None) -> tuple[Decimal | None, Decimal | None]:
        """The best raw bid and ask prices over the live venues (what ``best()`` prices, without the levels)."""
        bid_px = ask_px = None
        bid_scale = ask_scale = 0
        for s in self._live(now_ns or time.time_ns()):
            top = s.book.levels.top()
            if top is None:
                continue
            scale = s.book.levels.price_scale
            bp, _, ap, _ = top
            # compare a/10^sa with b/10^sb in integers
            if bp is not None and (bid_px is None or bp * 10**bid_scale > bid_px * 10**scale):
                bid_px, bid_scale = bp, scale
            if ap is not None and (ask_px is None or ap * 10**ask_scale < ask_px * 10**scale):
                ask_px, ask_scale = ap, scale
        return (None if bid_px is None else _plain(bid_px, bid_scale)), (
            None if ask_px is None else _plain(ask_px, ask_scale)
        )

    def mid(self, now_ns: int | None = None) -> Decimal | None:
        bid, ask = self.best_prices(now_ns)
        if bid is None or ask is None:
            return None
        return _CTX.divide(bid + ask, 2)

    def fill(
        self, side: Literal["buy", "sell"], qty: Decimal, *, fee_adjusted: bool = True, now_ns: int | None = None
    ) -> Fill:
        """Walk the book to fill ``qty`` (a buy takes asks, a sell takes bids)."""
        merged, pscale, qscale, venues = self._merged("asks" if side == "buy" else "bids", fee_adjusted, now_ns)
        want = ceil_units(Decimal(qty), qscale)
        got = notional = 0
        taken: dict[int, int] = {}
        for _, rank, p, q in merged:
            take = min(q, want - got)
            got += take
            notional += take * p
            taken[rank] = taken.get(rank, 0) + take
            if got >= want:
                break
        filled = units_to_decimal(got, qscale)
        total = units_to_decimal(notional, pscale + qscale)
        vwap = total / filled if got else None
        by_venue = tuple((venues[r], units_to_decimal(u, qscale)) for r, u in sorted(taken.items()))
        return Fill(filled, total, vwap, by_venue)

    def vwap(
        self, side: Literal["buy", "sell"], qty: Decimal, *, fee_adjusted: bool = True, now_ns: int | None = None
    ) -> Decimal | None:
        """Volume-weighted price to fill ``qty`` in full, or None if the displayed books cannot."""
        f = self.fill(side, qty, fee_adjusted=fee_adjusted, now_ns=now_ns)
        return f.vwap if f.qty >= qty else None

    def depth_within_bps(self, bps: Decimal | int, *, now_ns: int | None = None) -> tuple[Decimal, Decimal]:
        """Total bid and ask quantity priced within ``bps`` basis points of the consolidated mid."""
        mid = self.mid(now_ns)
        if mid is None:
            return Decimal(0), Decimal(0)
        band = _CTX.multiply(mid, _CTX.divide(Decimal(bps), 10_000))
        out = []
        for side, limit in (("bids", mid - band), ("asks", mid + band)):
            merged, pscale, qscale, _ = self._merged(side, False, now_ns)  # type: ignore[arg-type]
            total = 0
            for _, _, p, q in merged:
                price = units_to_decimal(p, pscale)
                if (side == "bids" and price < limit) or (side == "asks" and price > limit):
                    break
                total += q
            out.append(units_to_decimal(total, qscale))
        return out[0], out[1]

    def snapshot(self, depth: int = 10, *, fee_adjusted: bool = False, now_ns: int | None = None) -> dict[str, object]:
        """A JSON-ready view: prices and quantities as exact decimal strings."""
        now = now_ns or time.time_ns()

        def rows(levels: list[ConsolidatedLevel]) -> list[dict[str, object]]:
            return [
                {"price": str(lv.price), "qty": str(lv.qty), "venues": {v: str(q) for v, q in lv.venues}}
                for lv in levels
            ]

        return {
            "symbol": self.symbol,
            "venues": self.live_venues(now),
            "bids": rows(self.top(depth, "bids", fee_adjusted=fee_adjusted, now_ns=now)),
            "asks": rows(self.top(depth, "asks", fee_adjusted=fee_adjusted, now_ns=now)),
        }


def _walk(levels: L2Book, side: BookSide, rank: int, pmul: int, qmul: int) -> Iterator[tuple[int, int, int, int]]:
    # Fetch levels in chunks from the compiled book; most queries stop within the first chunk.
    fetch = levels.bids if side == "bids" else levels.asks
    offset = 0
    while True:
        chunk = fetch(_CHUNK, offset)
        if side == "bids":
            for p, q in chunk:
                pu = p * pmul
                yield -pu, rank, pu, q * qmul
        else:
            for p, q in chunk:
                pu = p * pmul
                yield pu, rank, pu, q * qmul
        if len(chunk) < _CHUNK:
            return
        offset += _CHUNK


def _level(
    price_units: int, parts: list[tuple[int, int]], pscale: int, qscale: int, venues: list[str]
) -> ConsolidatedLevel:
    return ConsolidatedLevel(
        price_units, sum(q for _, q in parts), pscale, qscale, tuple((venues[r], q) for r, q in parts)
    )


def _decimals(d: Decimal) -> int:
    exp = d.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


class ConsolidatedMarket(Mapping[str, ConsolidatedBook]):
    """All consolidated books, one per canonical symbol."""

    def __init__(self) -> None:
        self._books: dict[str, ConsolidatedBook] = {}

    def book(self, symbol: str) -> ConsolidatedBook:
        if symbol not in self._books:
            self._books[symbol] = ConsolidatedBook(symbol)
        return self._books[symbol]

    def __getitem__(self, symbol: str) -> ConsolidatedBook:
        return self._books[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._books)

    def __len__(self) -> int:
        return len(self._books)
