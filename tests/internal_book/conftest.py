"""Fixtures for the internal book suites (helpers live in ib_fixtures.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # ib_fixtures, whatever the import mode

from ib_fixtures import ENGINES, INSTRUMENTS, Engine


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each scenario runs on the compiled engine and on the reference model."""
    return ENGINES[request.param](INSTRUMENTS)
