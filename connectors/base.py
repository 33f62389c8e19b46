"""Shared market-data types: book messages, public trades, feed actions, counters, protocols."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from connectors.book import VenueBook


class BookSnapshot(NamedTuple):
    """A whole book. Levels are raw ``[price, qty, ...]`` items, parsed exactly by the book itself."""

    symbol: str  # canonical
    update_id: int | None
    bids: Sequence[Any]
    asks: Sequence[Any]
    checksum: int | None = None


class BookDelta(NamedTuple):
    """Changed levels (absolute quantities; zero removes) with the venue's continuity fields."""

    symbol: str  # canonical
    first_id: int | None  # Binance U
    last_id: int | None  # Binance u, HTX seqNum
    prev_id: int | None  # HTX prevSeqNum
    bids: Sequence[Any]
    asks: Sequence[Any]
    checksum: int | None = None  # Kraken CRC32


class VenueTrade(NamedTuple):
    """One public trade on a venue, exact: the venue's own id and time, the taker's side as ``buyer_maker``."""

    venue: str
    symbol: str  # canonical
    trade_id: str  # the venue's id, as text (Kraken and HTX ids are not Binance-shaped)
    price: Decimal
    qty: Decimal
    time_ms: int  # the venue's trade time (a replay re-bases it with the rest of the recording)
    buyer_maker: bool  # True when the seller took liquidity (Binance ``m``)


TradeSink = Callable[[VenueTrade], None]


def connect_trades(feed: object, sink: TradeSink | None) -> None:
    """Hand a feed's public trades to ``sink`` (feeds without a trade stream ignore it)."""
    if hasattr(feed, "trade_sink"):
        feed.trade_sink = sink


class Verdict(enum.Enum):
    APPLY = "apply"
    SKIP = "skip"  # already covered by the book (stale or duplicate)
    RESYNC = "resync"  # continuity broken: rebuild from a new snapshot


class Sequencer(Protocol):
    """A venue's book-continuity rule: pure, one predicate for the first delta after a snapshot, one after."""

    def bridge(self, snapshot_id: int | None, delta: BookDelta) -> Verdict: ...

    def follow(self, last_id: int | None, delta: BookDelta) -> Verdict: ...


# What a feed handler asks its transport to do; the live session and the replayer both honour these.
@dataclass(frozen=True, slots=True)
class Send:
    text: str  # a frame for the venue (subscribe, pong, snapshot request)


@dataclass(frozen=True, slots=True)
class FetchSnapshot:
    venue_symbol: str  # the REST depth snapshot is needed for this symbol


@dataclass(frozen=True, slots=True)
class Reconnect:
    reason: str


Action = Send | FetchSnapshot | Reconnect


@dataclass(slots=True)
class FeedStats:
    """Counters a venue feed keeps; exported on the status page."""

    messages: int = 0
    bad_frames: int = 0
    resyncs: int = 0
    checksum_failures: int = 0
    reconnects: int = 0
    snapshots: int = 0
    last_frame_ns: int = 0
    connected: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class VenueHealth:
    venue: str
    stale_after_ns: int
    stats: FeedStats = field(default_factory=FeedStats)

    def age_s(self, now_ns: int | None = None) -> float | None:
        if not self.stats.last_frame_ns:
            return None
        return ((now_ns or time.time_ns()) - self.stats.last_frame_ns) / 1e9

    def is_stale(self, now_ns: int | None = None) -> bool:
        if not self.stats.last_frame_ns:
            return True
        return (now_ns or time.time_ns()) - self.stats.last_frame_ns > self.stale_after_ns


class FeedHandler(Protocol):
    """A venue's market-data protocol, free of I/O: frames in, book changes and actions out."""

    venue: str
    books: dict[str, VenueBook]  # by canonical symbol
    health: VenueHealth

    def on_open(self, now_ns: int) -> list[Action]: ...

    def on_frame(self, frame: str | bytes, now_ns: int) -> list[Action]: ...

    def on_close(self) -> None: ...


class SnapshotFeedHandler(FeedHandler, Protocol):
    """A feed whose books start from a REST snapshot (Binance): the session fetches it and hands it over."""

    def on_rest_snapshot(self, venue_symbol: str, body: str | bytes, now_ns: int | None = None) -> list[Action]: ...
