"""Shared fixtures for the Kraken connector tests."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from config.instruments import Instrument
from connectors.capture import CaptureLine, LineKind, read_capture
from connectors.kraken.instruments import load_asset_pairs_file
from connectors.kraken.market_data import capture_symbols
from tests.conftest import SAMPLES as ALL_SAMPLES

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = ALL_SAMPLES / "kraken" / "cryptofeed_2021-04-17"
CAPTURE = SAMPLES / "KRAKEN.ws.50.0"
ASSET_PAIRS = SAMPLES / "KRAKEN.0"


def kraken_instrument(symbol: str, wsname: str, tick: str, step: str) -> Instrument:
    base, quote = symbol.split("/")
    return Instrument(symbol, base, quote, "kraken", wsname, Decimal(tick), Decimal(step))


@pytest.fixture(scope="session")
def capture_lines() -> list[CaptureLine]:
    assert CAPTURE.is_file(), f"Kraken capture missing: {CAPTURE}"
    return list(read_capture(CAPTURE))


@pytest.fixture(scope="session")
def capture_instruments(capture_lines: list[CaptureLine]) -> list[Instrument]:
    sent = [str(line.payload) for line in capture_lines if line.kind is LineKind.SENT]
    pairs = capture_symbols("wss://ws.kraken.com", sent)
    return [inst for inst in load_asset_pairs_file(ASSET_PAIRS) if inst.venue_symbol in pairs]
