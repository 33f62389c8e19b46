"""Each branch of Binance's diff-depth continuity rule (docs/venue-protocols.md §1.4)."""

from connectors.base import BookDelta, Verdict
from connectors.binance import BinanceSequencer

SEQ = BinanceSequencer()


def delta(first: int, last: int) -> BookDelta:
    return BookDelta("X/Y", first, last, None, [], [])


def test_first_event_fully_covered_by_the_snapshot_is_dropped():
    assert SEQ.bridge(499869752, delta(499869750, 499869752)) is Verdict.SKIP


def test_first_event_straddling_the_snapshot_is_applied():
    assert SEQ.bridge(100, delta(95, 105)) is Verdict.APPLY
    assert SEQ.bridge(100, delta(101, 101)) is Verdict.APPLY  # U == lastUpdateId + 1, the usual case


def test_first_event_after_a_hole_means_the_snapshot_is_too_old():
    assert SEQ.bridge(100, delta(102, 110)) is Verdict.RESYNC


def test_contiguous_event_applies_and_old_or_duplicate_is_ignored():
    assert SEQ.follow(160, delta(161, 170)) is Verdict.APPLY
    assert SEQ.follow(160, delta(150, 160)) is Verdict.SKIP
    assert SEQ.follow(160, delta(155, 158)) is Verdict.SKIP


def test_gap_means_resync():
    assert SEQ.follow(160, delta(162, 170)) is Verdict.RESYNC
