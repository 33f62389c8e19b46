"""The one HMAC primitive Braid signs and checks with: Binance's request signature (client and server side),
its WebSocket API, and providers' webhooks all use lowercase hex HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac


def hmac_sha256_hex(secret: str | bytes, payload: str | bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``payload`` under ``secret`` (text is UTF-8)."""
    key = secret.encode() if isinstance(secret, str) else secret
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def same_signature(expected: str, given: str) -> bool:
    """Constant-time comparison of a hex signature, case-insensitive; a non-ASCII ``given`` never matches."""
    return given.isascii() and hmac.compare_digest(expected, given.lower())
