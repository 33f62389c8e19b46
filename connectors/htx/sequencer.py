"""The HTX mbp book-continuity rule: every increment's ``prevSeqNum`` must be the previous ``seqNum``.

seqNums are not +1 contiguous (the doc's own mbp.150 sample goes 100772868476 -> 100772868478); only the
chain counts. Pure: no state beyond the ids BookSync hands in.
"""

from __future__ import annotations

from connectors.base import BookDelta, Verdict


def bridge_verdict(snapshot_seq: int | None, prev_seq: int | None, seq: int | None) -> Verdict:
    """First increment after a REQ snapshot: it must link to the snapshot's seqNum; older ones are dropped."""
    if snapshot_seq is None or prev_seq is None or seq is None:
        return Verdict.RESYNC
    if prev_seq == snapshot_seq:
        return Verdict.APPLY
    if seq <= snapshot_seq:
        return Verdict.SKIP  # already inside the snapshot
    return Verdict.RESYNC  # starts after the snapshot without linking to it: something is missing


def follow_verdict(last_seq: int | None, prev_seq: int | None, seq: int | None) -> Verdict:
    """Every later increment: links to the last one, is a duplicate/old one, or shows a gap."""
    if last_seq is None or prev_seq is None or seq is None:
        return Verdict.RESYNC
    if prev_seq == last_seq:
        return Verdict.APPLY
    if seq <= last_seq:
        return Verdict.SKIP
    return Verdict.RESYNC


class HtxMbpSequencer:
    """The ``Sequencer`` BookSync uses for HTX mbp books."""

    __slots__ = ()

    def bridge(self, snapshot_id: int | None, delta: BookDelta) -> Verdict:
        return bridge_verdict(snapshot_id, delta.prev_id, delta.last_id)

    def follow(self, last_id: int | None, delta: BookDelta) -> Verdict:
        return follow_verdict(last_id, delta.prev_id, delta.last_id)
