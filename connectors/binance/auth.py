"""Binance SIGNED requests: HMAC-SHA256 over the query string joined (no separator) with the body.

Pure functions, time injected. The fake venue verifies with the same functions (venue-protocols.md §1.6).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from urllib.parse import urlencode

from domain.signing import hmac_sha256_hex

API_KEY_HEADER = "X-MBX-APIKEY"
DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000


def signature(secret: str, query: str, body: str = "") -> str:
    """Lowercase hex HMAC-SHA256(secret, query + body)."""
    return hmac_sha256_hex(secret, query + body)


def signed_query(
    params: Iterable[tuple[str, str]], secret: str, timestamp_ms: int, recv_window_ms: int | None = None
) -> str:
    """``params`` plus recvWindow/timestamp, url-encoded in order, with ``&signature=`` appended."""
    items = list(params)
    if recv_window_ms is not None:
        items.append(("recvWindow", str(recv_window_ms)))
    items.append(("timestamp", str(timestamp_ms)))
    query = urlencode(items)
    return f"{query}&signature={signature(secret, query)}"


def split_signature(raw: str) -> tuple[str, str | None]:
    """A raw query/body string -> (the text that was signed, the signature), without re-encoding."""
    parts = raw.split("&") if raw else []
    kept = [p for p in parts if not p.startswith("signature=")]
    sigs = [p[len("signature=") :] for p in parts if p.startswith("signature=")]
    return "&".join(kept), (sigs[-1] if sigs else None)


def verify(secret: str, raw_query: str, raw_body: str) -> bool:
    """Check a request as received: the signature may sit in the query or the body."""
    query, sig_q = split_signature(raw_query)
    body, sig_b = split_signature(raw_body)
    sig = sig_q or sig_b
    if sig is None:
        return False
    return hmac.compare_digest(signature(secret, query, body), sig.lower())


def timestamp_ok(timestamp_ms: int, server_ms: int, recv_window_ms: int = DEFAULT_RECV_WINDOW_MS) -> bool:
    """Binance's rule: not more than 1 s ahead of the server, not older than recvWindow."""
    return timestamp_ms < server_ms + 1000 and server_ms - timestamp_ms <= recv_window_ms
