"""Kraken has no update ids: every delta applies, the checksum is the check."""

from __future__ import annotations

from connectors.base import BookDelta, Verdict
from connectors.kraken.sequencer import KrakenSequencer


def test_every_delta_applies() -> None:
    seq = KrakenSequencer()
    delta = BookDelta("BTC/USD", None, None, None, [], [], 1)
    assert seq.bridge(None, delta) is Verdict.APPLY
    assert seq.follow(None, delta) is Verdict.APPLY
