"""Faults a simulator injects on demand into its outgoing market-data frames."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass(slots=True)
class Faults:
    """Pending faults; each is consumed by the next frame(s) it applies to.

    drop: swallow the next N book frames.  reorder: swap the next two book frames.
    corrupt_checksum: spoil the checksum of the next N book frames (venues with checksums).
    disconnect: close every client connection now.  stall: send nothing (not even pings) until released.
    """

    drop: int = 0
    reorder: int = 0
    corrupt_checksum: int = 0
    disconnects: int = 0
    stalled: asyncio.Event = field(default_factory=asyncio.Event)  # set = sending normally
    held: dict[str, str | bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stalled.set()

    def stall(self) -> None:
        self.stalled.clear()

    def resume(self) -> None:
        self.stalled.set()

    @property
    def is_stalled(self) -> bool:
        return not self.stalled.is_set()

    def take_drop(self) -> bool:
        if self.drop > 0:
            self.drop -= 1
            return True
        return False

    def take_corrupt(self) -> bool:
        if self.corrupt_checksum > 0:
            self.corrupt_checksum -= 1
            return True
        return False

    def pass_through(self, frame: str | bytes, key: str = "") -> list[str | bytes]:
        """Frames to actually send for one book frame, after drop and reorder.

        A reorder swaps two consecutive frames of the same ``key`` (symbol), so the book really sees them
        out of order.
        """
        if self.take_drop():
            return []
        if self.reorder > 0:
            if key in self.held:
                self.reorder -= 1
                return [frame, self.held.pop(key)]
            if not self.held:
                self.held[key] = frame
                return []
        return [frame]
