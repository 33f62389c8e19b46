from connectors.base import BookDelta, Verdict
from connectors.htx.sequencer import HtxMbpSequencer, bridge_verdict, follow_verdict


def test_bridge_applies_the_increment_linked_to_the_snapshot() -> None:
    assert bridge_verdict(100, 100, 103) is Verdict.APPLY


def test_bridge_skips_increments_already_in_the_snapshot() -> None:
    assert bridge_verdict(100, 97, 100) is Verdict.SKIP
    assert bridge_verdict(100, 95, 97) is Verdict.SKIP


def test_bridge_resyncs_on_an_increment_after_the_snapshot_that_does_not_link() -> None:
    assert bridge_verdict(100, 101, 102) is Verdict.RESYNC
    assert bridge_verdict(100, 99, 101) is Verdict.RESYNC  # straddles the snapshot: not one of its seqNums


def test_follow_applies_the_chain_skips_duplicates_resyncs_on_a_gap() -> None:
    assert follow_verdict(103, 103, 105) is Verdict.APPLY
    assert follow_verdict(105, 103, 105) is Verdict.SKIP  # duplicate of the last one
    assert follow_verdict(105, 100, 103) is Verdict.SKIP  # older
    assert follow_verdict(105, 106, 108) is Verdict.RESYNC  # 105 -> 106 missing


def test_missing_ids_resync() -> None:
    assert bridge_verdict(None, 1, 2) is Verdict.RESYNC
    assert follow_verdict(5, None, 7) is Verdict.RESYNC


def test_sequencer_reads_prev_and_last_ids_from_the_delta() -> None:
    seq = HtxMbpSequencer()
    delta = BookDelta("BTC/USDT", None, 12, 10, [], [])
    assert seq.bridge(10, delta) is Verdict.APPLY
    assert seq.follow(10, delta) is Verdict.APPLY
    assert seq.follow(11, delta) is Verdict.RESYNC
