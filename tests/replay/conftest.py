"""Shared fixtures: a short generated market (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.simulators.generated import generate_market

SECONDS = 40.0


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "seed1"
    generate_market(out, seed=1, seconds=SECONDS)
    return out
