"""Reader for recorded venue traffic (the line format in replay_data/README.md).

Lines:
  ``<url> <-> <epoch>``               a WebSocket connection was opened
  ``<url> <- <epoch>: <text>``        a frame the recorder sent
  ``<url> -> <epoch>: <body>``        a REST response
  ``<epoch>: <payload>``              a frame received (Huobi: a Python bytes literal of the gzip frame)
  ``configuration: {...}``            the recorder's configuration
Times are kept as integer nanoseconds so that merging files by time is exact.
"""
from __future__ import annotations

import ast
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class LineKind(enum.Enum):
    OPEN = "open"
    SENT = "sent"
    RECEIVED = "received"
    HTTP = "http"
    CONFIG = "config"


@dataclass(frozen=True, slots=True)
class CaptureLine:
    kind: LineKind
    ts_ns: int
    url: str | None
    payload: str | bytes
    file: str
    line_no: int


class CaptureError(ValueError):
    """A line that cannot be read; carries its file and line number."""

    def __init__(self, file: str, line_no: int, reason: str) -> None:
        super().__init__(f"{file}:{line_no}: {reason}")
        self.file = file
        self.line_no = line_no
        self.reason = reason


def epoch_to_ns(text: str) -> int:
    """'1633998512.0633569' -> 1633998512063356900, exactly."""
    whole, _, frac = text.strip().partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 9:
        raise ValueError(f"bad timestamp {text!r}")
    return int(whole) * 1_000_000_000 + int(frac.ljust(9, "0") or "0")


def _payload(text: str) -> str | bytes:
    if text.startswith(("b'", 'b"')):
        value = ast.literal_eval(text)  # a bytes literal only: literal_eval evaluates no code
        if not isinstance(value, bytes):
            raise ValueError("not a bytes literal")
        return value
    return text


def parse_line(line: str, file: str = "<capture>", line_no: int = 0) -> CaptureLine:
    line = line.rstrip("\r\n")
    try:
        if line.startswith("configuration: "):
            return CaptureLine(LineKind.CONFIG, 0, None, line[len("configuration: ") :], file, line_no)
        if line[:1].isdigit():
            ts, sep, rest = line.partition(": ")
            if not sep:
                raise ValueError("missing ': ' after the timestamp")
            return CaptureLine(LineKind.RECEIVED, epoch_to_ns(ts), None, _payload(rest), file, line_no)
        url, _, rest = line.partition(" ")
        arrow, _, rest = rest.partition(" ")
        if arrow == "<->":
            return CaptureLine(LineKind.OPEN, epoch_to_ns(rest), url, "", file, line_no)
        ts, sep, body = rest.partition(": ")
        if not sep:
            raise ValueError("missing ': ' after the timestamp")
        if arrow == "<-":
            return CaptureLine(LineKind.SENT, epoch_to_ns(ts), url, body, file, line_no)
        if arrow == "->":
            return CaptureLine(LineKind.HTTP, epoch_to_ns(ts), url, body, file, line_no)
        raise ValueError(f"unknown direction {arrow!r}")
    except (ValueError, SyntaxError) as exc:
        raise CaptureError(file, line_no, str(exc) or type(exc).__name__) from None


def read_capture(path: str | Path, *, skip_bad: bool = False, errors: list[CaptureError] | None = None) -> Iterator[CaptureLine]:
    """Yield the lines of one capture file. Bad lines raise, or with ``skip_bad`` are collected in ``errors``."""
    name = str(path)
    with open(path, encoding="utf-8", errors="strict") as fh:
        for no, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                yield parse_line(raw, name, no)
            except CaptureError as exc:
                if not skip_bad:
                    raise
                if errors is not None:
                    errors.append(exc)
