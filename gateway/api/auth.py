"""Who is calling: ``X-MBX-APIKEY``, the HMAC-SHA256 signature over the raw request, time and replay rules.

Binance's rules (venue-protocols.md §1.6): the signature is over the query string joined with the body,
exactly as received, minus ``&signature=``; a request is accepted only if ``timestamp < serverTime + 1000``
and ``serverTime - timestamp <= recvWindow`` (default 5000, at most 60000). Braid adds replay protection:
a signature already seen within its window is refused, so a captured request cannot be sent twice.
Checks run cheapest first and every refusal happens before anything changes.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from ipaddress import ip_address, ip_network
from typing import Protocol

from connectors.binance.auth import (
    API_KEY_HEADER,
    DEFAULT_RECV_WINDOW_MS,
    MAX_RECV_WINDOW_MS,
    verify,
)
from domain import now_ms
from gateway.api import errors
from gateway.api.params import Params, parse_decimal


class Security(Enum):
    NONE = "NONE"
    USER_STREAM = "USER_STREAM"  # API key only
    MARKET_DATA = "MARKET_DATA"  # API key only
    TRADE = "TRADE"  # signed, needs the trade permission
    USER_DATA = "USER_DATA"  # signed, read


_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class _Hmac256:
    """HMAC-SHA256 (RFC 2104) under one secret, its two padded-key hash states made once: a request then costs
    two hash copies, not hmac's keying and its Python-level wrappers."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, secret: bytes) -> None:
        if len(secret) > 64:  # the block size: longer keys are hashed first
            secret = hashlib.sha256(secret).digest()
        secret = secret.ljust(64, b"\0")
        self._inner = hashlib.sha256(secret.translate(_IPAD))
        self._outer = hashlib.sha256(secret.translate(_OPAD))

    def hexdigest(self, msg: bytes) -> str:
        inner = self._inner.copy()
        inner.update(msg)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key of one account. ``ips`` empty means any address."""

    key: str
    secret: str
    tenant: str
    account: str
    permissions: frozenset[str] = frozenset({"read", "trade"})
    ips: tuple[str, ...] = ()
    _mac: _Hmac256 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_mac", _Hmac256(self.secret.encode()))

    def signs(self, raw_query: str, raw_body: str) -> bool:
        """``verify`` over the raw texts; the usual request (signature last in the body, nothing in the query)
        is checked without splitting the texts apart."""
        if not raw_query and raw_body.count("signature=") == 1:
            i = raw_body.rfind("&signature=")
            if i >= 0 and raw_body.find("&", i + 1) < 0:
                return hmac.compare_digest(self._mac.hexdigest(raw_body[:i].encode()), raw_body[i + 11 :].lower())
        return verify(self.secret, raw_query, raw_body)

    def allows_ip(self, ip: str | None) -> bool:
        if not self.ips:
            return True
        if ip is None:
            return False
        try:
            addr = ip_address(ip)
            return any(addr in ip_network(net, strict=False) for net in self.ips)
        except ValueError:
            return False


class KeyStore(Protocol):
    def lookup(self, api_key: str) -> ApiKey | None: ...


@dataclass(slots=True)
class ReplayGuard:
    """Signatures seen recently; one is remembered until its request would be stale anyway."""

    seen: set[str] = field(default_factory=set)
    order: collections.deque[tuple[int, str]] = field(default_factory=collections.deque)

    def first_use(self, sig: str, expires_ms: int, now_ms: int) -> bool:
        while self.order and self.order[0][0] < now_ms:
            self.seen.discard(self.order.popleft()[1])
        if sig in self.seen:
            return False
        self.seen.add(sig)
        self.order.append((expires_ms, sig))
        return True


def parse_timestamp_ms(text: str) -> int:
    """A request's ``timestamp`` (ms, or µs from clients that send them) or the Binance error."""
    if len(text) > 20 or not (text.isascii() and text.isdigit()):  # ASCII digits only, as Binance reads them
        raise errors.mandatory("timestamp")
    ts = int(text)
    return ts // 1000 if ts >= 10**14 else ts  # microseconds are allowed too


def parse_recv_window_ms(text: str | None) -> int | Decimal:
    """A request's ``recvWindow`` (default when absent) or the Binance error."""
    if text is None:
        return DEFAULT_RECV_WINDOW_MS
    if len(text) <= 5 and text.isascii() and text.isdigit():  # the usual whole milliseconds, without a Decimal
        n = int(text)
        if n <= 0 or n > MAX_RECV_WINDOW_MS:
            raise errors.bad_recv_window()
        return n
    w = parse_decimal(text, "recvWindow")
    if w <= 0 or w > MAX_RECV_WINDOW_MS or w.as_tuple().exponent < -3:  # type: ignore[operator]
        raise errors.bad_recv_window()
    return w


class Authenticator:
    def __init__(self, keys: KeyStore, clock_ms: Callable[[], int] = now_ms) -> None:
        self.keys = keys
        self.clock_ms = clock_ms
        self.replays = ReplayGuard()

    def api_key(self, headers: object, ip: str | None, permission: str = "read") -> ApiKey:
        """The caller's key from the header (USER_STREAM / MARKET_DATA security), checked for IP and permission."""
        raw = headers.get(API_KEY_HEADER)  # type: ignore[attr-defined]
        if not raw:
            raise errors.bad_key_format()
        if len(raw) > 128 or not raw.isascii():
            raise errors.bad_key_format()
        key = self.keys.lookup(raw)
        if key is None or not key.allows_ip(ip) or permission not in key.permissions:
            raise errors.rejected_key()
        return key

    def signed(self, headers: object, ip: str | None, params: Params, permission: str) -> ApiKey:
        """A SIGNED request: key, timestamp window, signature over the raw texts, then the replay check."""
        key = self.api_key(headers, ip, permission)
        values = params.values
        ts_text = values.get("timestamp")
        if not ts_text:
            raise errors.mandatory("timestamp")
        sig = values.get("signature")
        if not sig:
            raise errors.mandatory("signature")
        ts = parse_timestamp_ms(ts_text)
        window = parse_recv_window_ms(values.get("recvWindow") or None)
        server = self.clock_ms()
        if ts >= server + 1000:
            raise errors.future_timestamp()
        if server - ts > window:
            raise errors.stale_timestamp()
        if not key.signs(params.raw_query, params.raw_body):
            raise errors.bad_signature()
        if not self.replays.first_use(f"{key.key}:{sig.lower()}", ts + int(window) + 1000, server):
            raise errors.replayed()
        params.timestamp_ms, params.recv_window_ms = ts, window  # for still_fresh, without parsing them again
        return key

    def still_fresh(self, params: Params) -> None:
        """Binance checks the window again just before the engine: a request that queued too long is refused."""
        ts, window = params.timestamp_ms, params.recv_window_ms
        if ts is None or window is None:
            ts = parse_timestamp_ms(params.required("timestamp"))
            window = parse_recv_window_ms(params.get("recvWindow"))
        if self.clock_ms() - ts > window:
            raise errors.stale_timestamp()


class WalletKeys:
    """The KeyStore over wallets' key vault: secrets decrypted on first use, permissions and allowlist as stored.

    Our ``ApiKey`` is made once per vault record and reused while the vault answers with that same record: the
    vault replaces a record whenever the key is created, changed, re-read or reloaded, and answers None once it
    is deleted, so a change takes effect on the next request.
    """

    _MAX_MADE = 100_000

    def __init__(self, vault: object) -> None:
        self.vault = vault
        self._made: dict[str, tuple[object, ApiKey]] = {}  # api key -> (the vault's record, ours made from it)

    def lookup(self, api_key: str) -> ApiKey | None:
        k = self.vault.lookup(api_key)  # type: ignore[attr-defined]
        if k is None or k.deleted is not None:
            self._made.pop(api_key, None)
            return None
        made = self._made.get(api_key)
        if made is not None and made[0] is k:
            return made[1]
        perms = frozenset(p for p, ok in (("read", k.can_read), ("trade", k.can_trade)) if ok)
        secret = self.vault.secret(api_key)  # type: ignore[attr-defined]
        key = ApiKey(k.api_key, secret, str(k.tenant_id), str(k.account_id), perms, tuple(k.ip_allowlist))
        if len(self._made) >= self._MAX_MADE:
            self._made.clear()
        self._made[api_key] = (k, key)
        return key
