"""Time as Braid stores and sends it: integer milliseconds since the Unix epoch (Binance's unit)."""

from __future__ import annotations

import time
from typing import TypeAlias

Millis: TypeAlias = int


def now_ms() -> Millis:
    """Wall-clock time in integer milliseconds."""
    return time.time_ns() // 1_000_000
