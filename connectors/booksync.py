"""Shared snapshot + diff reconciliation for one book; the venue supplies its continuity rule and checksum.

States: WAITING (no book; diffs are buffered until a snapshot arrives), BRIDGING (snapshot loaded; the next
diff must connect to it), LIVE. Any break sends only this book back to WAITING and marks it unsynced, so the
consolidated book stops using it until it is rebuilt.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable

import structlog

from connectors.base import BookDelta, BookSnapshot, FeedStats, Sequencer, Verdict
from connectors.book import VenueBook

log = structlog.get_logger(__name__)

Checksum = Callable[[VenueBook, int], bool]


class SyncState(enum.Enum):
    WAITING = "waiting"
    BRIDGING = "bridging"
    LIVE = "live"


class Outcome(enum.Enum):
    APPLIED = "applied"
    SKIPPED = "skipped"
    BUFFERED = "buffered"
    SYNCED = "synced"  # a snapshot was loaded (and any buffered diffs replayed)
    RESYNC = "resync"  # the caller must obtain a new snapshot for this book


class BookSync:
    __slots__ = ("book", "sequencer", "stats", "depth", "checksum", "max_buffer", "state", "buffer", "keep_buffer")

    def __init__(
        self,
        book: VenueBook,
        sequencer: Sequencer,
        stats: FeedStats,
        *,
        depth: int | None = None,
        checksum: Checksum | None = None,
        max_buffer: int = 10_000,
        keep_buffer: bool = True,
    ) -> None:
        self.book = book
        self.sequencer = sequencer
        self.stats = stats
        self.depth = depth  # truncate to this many levels a side after each change (Kraken)
        self.checksum = checksum
        self.max_buffer = max_buffer
        # Buffer diffs while waiting: needed where the snapshot comes from elsewhere (Binance REST, HTX REQ);
        # useless where the venue sends the snapshot in-stream first (Kraken).
        self.keep_buffer = keep_buffer
        self.state = SyncState.WAITING
        self.buffer: deque[BookDelta] = deque()

    def reset(self) -> None:
        """Forget the book (e.g. on disconnect); diffs are buffered again until the next snapshot."""
        self.state = SyncState.WAITING
        self.buffer.clear()
        self.book.synced = False
        self.book.levels.clear()
        self.book.update_id = None

    def on_delta(self, delta: BookDelta, now_ns: int) -> Outcome:
        state = self.state
        if state is SyncState.LIVE:
            verdict = self.sequencer.follow(self.book.update_id, delta)
        elif state is SyncState.BRIDGING:
            verdict = self.sequencer.bridge(self.book.update_id, delta)
        else:
            if self.keep_buffer:
                if len(self.buffer) >= self.max_buffer:
                    self.buffer.popleft()  # the oldest can no longer bridge a fresh snapshot anyway
                self.buffer.append(delta)
                return Outcome.BUFFERED
            return Outcome.SKIPPED
        if verdict is Verdict.APPLY:
            return self._apply(delta, now_ns)
        if verdict is Verdict.SKIP:
            return Outcome.SKIPPED
        return self._break("gap", delta)

    def on_snapshot(self, snap: BookSnapshot, now_ns: int) -> Outcome:
        book = self.book
        book.levels.load(snap.bids, snap.asks)  # raises on a malformed level, leaving the book as it was
        self.stats.snapshots += 1
        book.update_id = snap.update_id
        if self.depth is not None:
            book.levels.truncate(self.depth)
        if snap.checksum is not None and self.checksum is not None and not self.checksum(book, snap.checksum):
            self.stats.checksum_failures += 1
            return self._break("snapshot checksum mismatch", None)
        self.state = SyncState.BRIDGING
        pending, self.buffer = self.buffer, deque()
        bridged = False
        for delta in pending:
            if not bridged:
                verdict = self.sequencer.bridge(book.update_id, delta)
                if verdict is Verdict.SKIP:
                    continue
                if verdict is Verdict.RESYNC:
                    # The snapshot is older than the buffered stream: keep the buffer and fetch again.
                    self.state = SyncState.WAITING
                    self.buffer = pending
                    book.synced = False
                    self.stats.resyncs += 1
                    log.info("snapshot_too_old", venue=book.venue, symbol=book.symbol, snapshot_id=snap.update_id)
                    return Outcome.RESYNC
                bridged = True
                if self._apply(delta, now_ns) is Outcome.RESYNC:
                    return Outcome.RESYNC
                continue
            if self.on_delta(delta, now_ns) is Outcome.RESYNC:
                return Outcome.RESYNC
        book.synced = True
        book.last_update_ns = now_ns
        return Outcome.SYNCED

    def _apply(self, delta: BookDelta, now_ns: int) -> Outcome:
        book = self.book
        try:
            book.levels.apply(delta.bids, delta.asks)
        except (ValueError, TypeError, OverflowError) as exc:
            # A malformed level: the book is untouched (apply is all-or-nothing); the ids that follow will
            # show the hole and trigger a resync.
            self.stats.bad_frames += 1
            log.warning("bad_levels", venue=book.venue, symbol=book.symbol, error=str(exc))
            return Outcome.SKIPPED
        if self.depth is not None:
            book.levels.truncate(self.depth)
        if delta.last_id is not None:
            book.update_id = delta.last_id
        if self.checksum is not None and delta.checksum is not None and not self.checksum(book, delta.checksum):
            self.stats.checksum_failures += 1
            return self._break("checksum mismatch", delta)
        self.state = SyncState.LIVE
        book.synced = True
        book.last_update_ns = now_ns
        return Outcome.APPLIED

    def _break(self, reason: str, delta: BookDelta | None) -> Outcome:
        book = self.book
        log.warning(
            "book_resync",
            venue=book.venue,
            symbol=book.symbol,
            reason=reason,
            book_id=book.update_id,
            first_id=None if delta is None else delta.first_id,
            last_id=None if delta is None else delta.last_id,
            prev_id=None if delta is None else delta.prev_id,
        )
        self.stats.resyncs += 1
        self.reset()
        return Outcome.RESYNC
