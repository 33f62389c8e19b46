"""Kraken private REST signing: API-Sign = b64(HMAC-SHA512(b64decode(secret), path + SHA256(nonce + body))).

Pure functions, nonce injected (venue-protocols.md §2.5). The fake venue verifies with the same functions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

KEY_HEADER = "API-Key"
SIGN_HEADER = "API-Sign"


def api_sign(secret_b64: str, path: str, nonce: str | int, body: str) -> str:
    """``path`` is the URI path from ``/0/private/...``; ``body`` is the whole POST body (it contains nonce=)."""
    sha = hashlib.sha256((str(nonce) + body).encode()).digest()
    mac = hmac.new(base64.b64decode(secret_b64), path.encode() + sha, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def verify(secret_b64: str, path: str, nonce: str | int, body: str, sign: str) -> bool:
    try:
        expected = api_sign(secret_b64, path, nonce, body)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(expected, sign)
