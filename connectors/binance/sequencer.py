"""Binance's diff-depth continuity rule (docs/venue-protocols.md §1.4), as a pure predicate."""

from __future__ import annotations

from connectors.base import BookDelta, Verdict


class BinanceSequencer:
    """U/u are the first and last update ids of an event; the book id is the last applied u."""

    __slots__ = ()

    def bridge(self, snapshot_id: int | None, delta: BookDelta) -> Verdict:
        # First event after the snapshot: drop u <= lastUpdateId, then require U <= lastUpdateId+1 <= u.
        sid = snapshot_id or 0
        if delta.last_id <= sid:  # type: ignore[operator]
            return Verdict.SKIP
        if delta.first_id <= sid + 1:  # type: ignore[operator]
            return Verdict.APPLY
        return Verdict.RESYNC  # the snapshot is older than the stream we hold

    def follow(self, last_id: int | None, delta: BookDelta) -> Verdict:
        book_id = last_id or 0
        if delta.last_id <= book_id:  # type: ignore[operator]
            return Verdict.SKIP
        if delta.first_id > book_id + 1:  # type: ignore[operator]
            return Verdict.RESYNC  # events were missed
        return Verdict.APPLY
