"""Shared test fixtures: where the recorded venue samples live, quiet logs, reproducible hypothesis runs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import structlog
from hypothesis import settings

SAMPLES = Path(__file__).resolve().parents[1] / "replay_data" / "captures"


def quiet_logs() -> None:
    structlog.reset_defaults()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


quiet_logs()


@pytest.fixture(autouse=True)
def _restore_logging():
    # a test that runs the `braid` command configures logging for the process: put the test set-up back
    yield
    quiet_logs()


# CI runs the same examples every time, so a red build can be reproduced.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def samples() -> Path:
    assert SAMPLES.is_dir(), f"recorded samples missing: {SAMPLES}"
    return SAMPLES
