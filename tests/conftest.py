"""Shared test fixtures: where the recorded venue samples live, and quiet logs."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import structlog

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "replay_samples"

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


@pytest.fixture(scope="session")
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"recorded samples not found at {SAMPLES}")
    return SAMPLES
