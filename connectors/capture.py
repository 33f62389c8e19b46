"""Readers for recorded venue traffic: the legacy line format and Braid's own format (replay_data/README.md).

Braid's format (``*.jsonl.gz``, written by ``connectors/recording.py``) is gzip'd JSON lines: a header object
``{"braid_capture": 1, "recording": ID, "part": N}`` then one object per event, ``{"t": receive time in integer
ns, "v": venue, "c": connection id, "d": "open"|"recv"|"sent"|"rest"|"close", "u": url (open and rest only),
"p": text payload | "b": base64 of a binary payload}``. ``read_capture`` tells the formats apart by their first
bytes, so every reader of captures takes both.

Legacy lines:
  ``<url> <-> <epoch>``               a WebSocket connection was opened
  ``<url> <- <epoch>: <text>``        a frame the recorder sent
  ``<url> -> <epoch>: <body>``        a REST response
  ``<epoch>: <payload>``              a frame received (Huobi: a Python bytes literal of the gzip frame)
  ``configuration: {...}``            the recorder's configuration
Times are kept as integer nanoseconds so that merging files by time is exact.
"""

from __future__ import annotations

import ast
import base64
import enum
import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson


class LineKind(enum.Enum):
    OPEN = "open"
    SENT = "sent"
    RECEIVED = "received"
    HTTP = "http"
    CONFIG = "config"
    CLOSE = "close"  # Braid format only: the connection ended (the feed's on_close)


@dataclass(frozen=True, slots=True)
class CaptureLine:
    kind: LineKind
    ts_ns: int
    url: str | None
    payload: str | bytes
    file: str
    line_no: int
    venue: str | None = None  # Braid format: the venue, named by the recorder
    conn: str | None = None  # Braid format: the recorder's connection id (one feed; reconnects reopen it)


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


BRAID_MAGIC = "braid_capture"
BRAID_VERSION = 1
_DIRS = {
    "open": LineKind.OPEN,
    "recv": LineKind.RECEIVED,
    "sent": LineKind.SENT,
    "rest": LineKind.HTTP,
    "close": LineKind.CLOSE,
}
_DIR_NAMES = {kind: name for name, kind in _DIRS.items()}


def is_braid_file(path: str | Path) -> bool:
    """True for Braid's format (gzip'd, or plain JSON lines); False for the legacy line format."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    return head == b"\x1f\x8b" or head[:1] == b"{"


def encode_record(
    ts_ns: int, venue: str, conn: str, direction: str, payload: str | bytes = "", url: str | None = None
) -> bytes:
    """One Braid record as a JSON line (keys in a fixed order, so equal inputs give equal bytes)."""
    rec: dict[str, object] = {"t": ts_ns, "v": venue, "c": conn, "d": direction}
    if url is not None:
        rec["u"] = url
    if isinstance(payload, bytes):
        rec["b"] = base64.b64encode(payload).decode("ascii")
    elif payload:
        rec["p"] = payload
    return orjson.dumps(rec) + b"\n"


def encode_header(recording: str, part: int) -> bytes:
    return orjson.dumps({BRAID_MAGIC: BRAID_VERSION, "recording": recording, "part": part}) + b"\n"


def line_record(line: CaptureLine, venue: str, conn: str) -> bytes:
    """A capture line (of either format) as a Braid record."""
    return encode_record(line.ts_ns, venue, conn, _DIR_NAMES[line.kind], line.payload, line.url)


def _braid_line(raw: bytes, name: str, no: int) -> CaptureLine:
    if not raw.endswith(b"\n"):
        raise CaptureError(name, no, "truncated line (no end of line)")
    try:
        rec = orjson.loads(raw)
        if not isinstance(rec, dict):
            raise ValueError("not a JSON object")
        if BRAID_MAGIC in rec:
            if rec[BRAID_MAGIC] != BRAID_VERSION:
                raise ValueError(f"format version was {rec[BRAID_MAGIC]!r}, expected {BRAID_VERSION}")
            return CaptureLine(LineKind.CONFIG, 0, None, raw.decode().strip(), name, no)
        kind = _DIRS[rec["d"]]
        ts = rec["t"]
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise ValueError(f"t was {ts!r}, expected integer nanoseconds")
        payload: str | bytes = base64.b64decode(rec["b"], validate=True) if "b" in rec else rec.get("p", "")
        return CaptureLine(kind, ts, rec.get("u"), payload, name, no, str(rec["v"]), str(rec["c"]))
    except (ValueError, KeyError, TypeError) as exc:  # JSON and base64 errors are ValueErrors
        reason = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc) or type(exc).__name__
        raise CaptureError(name, no, reason) from None


def read_braid(
    path: str | Path, *, skip_bad: bool = False, errors: list[CaptureError] | None = None
) -> Iterator[CaptureLine]:
    """Yield the records of one Braid capture file. A truncated or corrupt gzip stream ends the file with an
    error at the line after the last good one; bad lines raise, or with ``skip_bad`` go to ``errors``."""
    name = str(path)
    with open(path, "rb") as raw_fh:
        gz = raw_fh.read(2) == b"\x1f\x8b"
        raw_fh.seek(0)
        fh = gzip.GzipFile(fileobj=raw_fh, mode="rb") if gz else raw_fh
        no = 0
        while True:
            try:
                raw = fh.readline()
            except (EOFError, OSError, zlib.error) as exc:
                err = CaptureError(name, no + 1, f"truncated or corrupt gzip stream: {exc}")
                if not skip_bad:
                    raise err from None
                if errors is not None:
                    errors.append(err)
                return
            if not raw:
                return
            no += 1
            if not raw.strip():
                continue
            try:
                yield _braid_line(raw, name, no)
            except CaptureError as exc:
                if not skip_bad:
                    raise
                if errors is not None:
                    errors.append(exc)


def read_capture(
    path: str | Path, *, skip_bad: bool = False, errors: list[CaptureError] | None = None
) -> Iterator[CaptureLine]:
    """Yield the lines of one capture file (either format). Bad lines raise, or with ``skip_bad`` are collected
    in ``errors``."""
    if is_braid_file(path):
        yield from read_braid(path, skip_bad=skip_bad, errors=errors)
        return
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
