"""HTX Signature V2 (HmacSHA256): the pre-signed text and its base64 signature.

``METHOD\\nhost\\npath\\n`` + the params sorted by name, URL-encoded (uppercase hex, space as %20) and joined
with '&'. GET signs every query param; POST signs only the four auth params (the JSON body is not signed).
Pure functions, time injected (venue-protocols.md §3.4). The fake venue verifies with the same functions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

SIGNATURE_METHOD = "HmacSHA256"
SIGNATURE_VERSION = "2"
MAX_SKEW_S = 300  # a Timestamp is valid for 5 minutes


def timestamp_text(epoch_ms: int) -> str:
    """UTC ``YYYY-MM-DDThh:mm:ss`` (not yet URL-encoded)."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_timestamp(text: str) -> int:
    """Epoch ms of a ``YYYY-MM-DDThh:mm:ss`` UTC timestamp; ValueError if malformed."""
    dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1000


def _enc(value: str) -> str:
    return quote(value, safe="")  # unreserved chars stay; uppercase hex; space -> %20


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(params.items()))


def presigned_text(method: str, host: str, path: str, params: Mapping[str, str]) -> str:
    return f"{method.upper()}\n{host.lower()}\n{path}\n{canonical_query(params)}"


def signature(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


def auth_params(access_key: str, epoch_ms: int) -> dict[str, str]:
    return {
        "AccessKeyId": access_key,
        "SignatureMethod": SIGNATURE_METHOD,
        "SignatureVersion": SIGNATURE_VERSION,
        "Timestamp": timestamp_text(epoch_ms),
    }


def signed_query(
    method: str, host: str, path: str, access_key: str, secret: str, epoch_ms: int, params: Mapping[str, str] = {}
) -> str:
    """The full query string of a signed request (``params`` are signed only for GET, as HTX does)."""
    signed = auth_params(access_key, epoch_ms)
    if method.upper() != "POST":
        signed.update(params)
    query = canonical_query(signed)
    sig = signature(secret, presigned_text(method, host, path, signed))
    return f"{query}&Signature={_enc(sig)}"


def verify(secret: str, method: str, host: str, path: str, params: Mapping[str, str]) -> bool:
    """``params``: the decoded query params as received, Signature included."""
    sig = params.get("Signature")
    if not sig:
        return False
    rest = {k: v for k, v in params.items() if k != "Signature"}
    return hmac.compare_digest(signature(secret, presigned_text(method, host, path, rest)), sig)
