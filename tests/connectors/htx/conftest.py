"""Fixtures for the HTX tests: the recorded captures, instruments, generated frames."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from config.instruments import Instrument
from config.settings import HtxSettings
from connectors.htx import HtxFeed
from connectors.simulators.htx import encode_frame
from tests.conftest import SAMPLES as ALL_SAMPLES

SAMPLES = ALL_SAMPLES / "huobi" / "cryptofeed_2021-04-17"
WS_CAPTURE = SAMPLES / "HUOBI.ws.44.0"
SYMBOLS_CAPTURE = SAMPLES / "HUOBI.0"

BTC = Instrument("BTC/USDT", "BTC", "USDT", "htx", "btcusdt", Decimal("0.01"), Decimal("0.000001"))
TRIO = Instrument("TRIO/ETH", "TRIO", "ETH", "htx", "trioeth", Decimal("1E-10"), Decimal("0.01"))


@pytest.fixture(scope="session")
def samples() -> Path:
    """The HTX capture shipped in replay_data/captures; its absence fails the test (never a skip)."""
    assert WS_CAPTURE.is_file() and SYMBOLS_CAPTURE.is_file(), f"HTX capture missing from {SAMPLES}"
    return SAMPLES


@pytest.fixture
def mbp_feed() -> HtxFeed:
    """A mbp.20 feed for BTC/USDT and TRIO/ETH, opened at t=0 (the BTC REQ already sent)."""
    feed = HtxFeed([BTC, TRIO], HtxSettings(depth=20), mode="mbp")
    feed.on_open(0)
    return feed


def mbp(
    sym: str, seq: int, prev: int, bids: list[Any] | None = None, asks: list[Any] | None = None, levels: int = 20
) -> bytes:
    tick: dict[str, Any] = {"seqNum": seq, "prevSeqNum": prev}
    if bids is not None:
        tick["bids"] = bids
    if asks is not None:
        tick["asks"] = asks
    return encode_frame({"ch": f"market.{sym}.mbp.{levels}", "ts": 1, "tick": tick})


def rep(sym: str, req_id: str, seq: int, bids: list[Any], asks: list[Any], levels: int = 20) -> bytes:
    data = {"seqNum": seq, "bids": bids, "asks": asks}
    return encode_frame({"id": req_id, "rep": f"market.{sym}.mbp.{levels}", "status": "ok", "ts": 1, "data": data})


def D(text: str) -> Decimal:
    return Decimal(text)
