"""Fixtures for the internal book suites (helpers live in ib_fixtures.py)."""
from __future__ import annotations

import pytest
from ib_fixtures import ENGINES, INSTRUMENTS, Engine


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each scenario runs on the compiled engine and on the reference model."""
    return ENGINES[request.param](INSTRUMENTS)
