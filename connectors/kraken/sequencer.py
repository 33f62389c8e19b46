"""Kraken's book-continuity rule: there are no update ids, so every update applies; the CRC32 is the check."""

from __future__ import annotations

from connectors.base import BookDelta, Verdict


class KrakenSequencer:
    """Always APPLY; ``BookSync`` then verifies the checksum and asks for a resync on a mismatch."""

    __slots__ = ()

    def bridge(self, snapshot_id: int | None, delta: BookDelta) -> Verdict:
        return Verdict.APPLY

    def follow(self, last_id: int | None, delta: BookDelta) -> Verdict:
        return Verdict.APPLY
