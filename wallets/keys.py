"""API keys: Binance-like 64-character key and secret, the secret encrypted at rest with AES-256-GCM.

The master key comes from settings (``BRAID_MASTER_KEY``, base64 of 32 bytes). Without one, the embedded
default generates a key once into ``<data dir>/master.key`` (mode 0600) and reads it from there after; lose
that file and the stored secrets cannot be decrypted. Each secret is sealed with a fresh 12-byte nonce and
the API key as associated data, so a ciphertext moved to another key's row fails to open.

Keys carry permissions (read, trade) and an IP allowlist; the API layer checks them with ``ApiKey.allows``.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import string
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, select

from domain import now_ms
from domain.signing import hmac_sha256_hex, same_signature
from wallets import models
from wallets.accounts import Accounts
from wallets.db import Insert, Store, Update
from wallets.errors import UnknownAccount, WalletError

_ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 64
RECHECK_S = 5.0  # a cached key is re-read from the database after this long


class ApiKeyError(WalletError):
    """A key operation was refused (unknown key, bad allowlist, undecryptable secret)."""


def generate_token(length: int = KEY_LENGTH) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def load_master_key(value: str | None, path: str | os.PathLike[str]) -> bytes:
    """The 32-byte master key: ``value`` (base64) if given, else the file at ``path``, created if missing."""
    if value:
        raw = base64.b64decode(value, validate=True)
        if len(raw) != 32:
            raise ValueError(f"master key must be 32 bytes (base64), was {len(raw)} bytes")
        return raw
    p = Path(path)
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as f:
                f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
                f.flush()
                os.fsync(f.fileno())
    raw = base64.b64decode(p.read_text().strip(), validate=True)
    if len(raw) != 32:
        raise ValueError(f"master key file {p} must hold base64 of 32 bytes")
    return raw


def seal(master: bytes, api_key: str, secret: str) -> tuple[str, str]:
    """Encrypt a secret: (base64 ciphertext with tag, base64 nonce)."""
    nonce = os.urandom(12)
    ct = AESGCM(master).encrypt(nonce, secret.encode(), api_key.encode())
    return base64.b64encode(ct).decode(), base64.b64encode(nonce).decode()


def unseal(master: bytes, api_key: str, ciphertext: str, nonce: str) -> str:
    """Decrypt a secret; ``ApiKeyError`` if the ciphertext, nonce, key id or master key do not match."""
    try:
        return AESGCM(master).decrypt(base64.b64decode(nonce), base64.b64decode(ciphertext), api_key.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise ApiKeyError(f"secret of key {api_key[:8]}... cannot be decrypted (wrong master key or tampered)") from exc


def parse_allowlist(entries: list[str] | tuple[str, ...] | str) -> tuple[str, ...]:
    """Normalise an IP allowlist (addresses or networks; a comma-separated string is accepted)."""
    items = entries.split(",") if isinstance(entries, str) else list(entries)
    out = []
    for e in (x.strip() for x in items):
        if not e:
            continue
        try:
            out.append(str(ipaddress.ip_network(e, strict=False)))
        except ValueError as exc:
            raise ApiKeyError(f"IP allowlist entry was {e!r}") from exc
    return tuple(out)


def ip_allowed(allowlist: tuple[str, ...], ip: str) -> bool:
    """True if ``allowlist`` (normalised networks) is empty or contains ``ip``."""
    if not allowlist:
        return True
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(n) for n in allowlist)


@dataclass(frozen=True, slots=True)
class ApiKey:
    api_key: str
    account_id: int
    tenant_id: int
    can_read: bool
    can_trade: bool
    ip_allowlist: tuple[str, ...]
    label: str
    created: int
    deleted: int | None = None

    def allows_ip(self, ip: str) -> bool:
        """True if the allowlist is empty or contains ``ip``."""
        return ip_allowed(self.ip_allowlist, ip)

    def allows(self, ip: str, *, trade: bool = False) -> bool:
        """May this key be used from ``ip`` for a read (or, with ``trade``, an order)?"""
        return self.deleted is None and self.allows_ip(ip) and (self.can_trade if trade else self.can_read)

    def as_dict(self) -> dict[str, Any]:
        return {
            "apiKey": self.api_key,
            "accountId": self.account_id,
            "canRead": self.can_read,
            "canTrade": self.can_trade,
            "ipRestrict": bool(self.ip_allowlist),
            "ipList": list(self.ip_allowlist),
            "label": self.label,
            "createTime": self.created,
        }


class KeyVault:
    """API keys of every account: create, delete, look up, verify request signatures."""

    def __init__(self, store: Store, accounts: Accounts, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("master key must be 32 bytes")
        self.store = store
        self.accounts = accounts
        self._master = master_key
        self._keys: dict[str, tuple[ApiKey, str, str]] = {}  # api_key -> (key, ciphertext, nonce)
        self._secrets: dict[str, str] = {}  # decrypted on first use
        self._checked: dict[str, float] = {}  # api key -> when it was last read from the database
        self.reload()

    @property
    def master_key(self) -> bytes:
        """The key that seals secrets at rest (the second factors' TOTP secrets use it too)."""
        return self._master

    def reload(self) -> None:
        t = models.api_keys

        def load(conn: Connection) -> dict[str, tuple[ApiKey, str, str]]:
            return {r.api_key: _entry(r) for r in conn.execute(select(t).where(t.c.deleted.is_(None)))}

        self._keys = self.store.read_sync(load)
        self._secrets = {}
        now = time.monotonic()
        self._checked = {k: now for k in self._keys}

    async def create_key(
        self,
        tenant_id: int,
        account_id: int,
        *,
        can_read: bool = True,
        can_trade: bool = False,
        ip_allowlist: list[str] | tuple[str, ...] | str = (),
        label: str = "",
    ) -> tuple[ApiKey, str]:
        """A new key for one of the tenant's accounts; returns the key and its secret (shown once)."""
        acc = self.accounts.account(account_id, tenant_id=tenant_id)
        allow = parse_allowlist(ip_allowlist)
        key = ApiKey(generate_token(), acc.account_id, tenant_id, can_read, can_trade, allow, label[:128], now_ms())
        secret = generate_token()
        ct, nonce = seal(self._master, key.api_key, secret)
        row = {
            "api_key": key.api_key,
            "account_id": key.account_id,
            "tenant_id": tenant_id,
            "secret_ct": ct,
            "nonce": nonce,
            "can_read": can_read,
            "can_trade": can_trade,
            "ip_allowlist": ",".join(allow),
            "label": key.label,
            "created": key.created,
            "deleted": None,
        }
        await self.store.write([Insert(models.api_keys, row)])
        self._keys[key.api_key] = (key, ct, nonce)
        self._checked[key.api_key] = time.monotonic()
        self._secrets[key.api_key] = secret
        return key, secret

    async def delete_key(self, tenant_id: int, account_id: int, api_key: str) -> None:
        """Delete one of the account's keys (``UnknownAccount`` if it is not the tenant's account's key)."""
        k = self._scoped(tenant_id, account_id, api_key)
        await self.store.write([Update(models.api_keys, (api_key,), {"deleted": now_ms()})])
        self._keys.pop(k.api_key, None)
        self._secrets.pop(k.api_key, None)

    async def set_access(
        self,
        tenant_id: int,
        account_id: int,
        api_key: str,
        *,
        can_read: bool | None = None,
        can_trade: bool | None = None,
        ip_allowlist: list[str] | tuple[str, ...] | str | None = None,
    ) -> ApiKey:
        """Change a key's permissions or IP allowlist."""
        k = self._scoped(tenant_id, account_id, api_key)
        new = replace(
            k,
            can_read=k.can_read if can_read is None else can_read,
            can_trade=k.can_trade if can_trade is None else can_trade,
            ip_allowlist=k.ip_allowlist if ip_allowlist is None else parse_allowlist(ip_allowlist),
        )
        values = {"can_read": new.can_read, "can_trade": new.can_trade, "ip_allowlist": ",".join(new.ip_allowlist)}
        await self.store.write([Update(models.api_keys, (api_key,), values)])
        _, ct, nonce = self._keys[api_key]
        self._keys[api_key] = (new, ct, nonce)
        return new

    def list_keys(self, tenant_id: int, account_id: int) -> list[ApiKey]:
        """The account's live keys (read from the database)."""
        self.accounts.account(account_id, tenant_id=tenant_id)
        t = models.api_keys
        rows = self.store.read_sync(
            lambda c: c.execute(select(t).where(t.c.account_id == account_id, t.c.deleted.is_(None))).all()
        )
        return sorted((_entry(r)[0] for r in rows), key=lambda k: (k.created, k.api_key))

    def lookup(self, api_key: str) -> ApiKey | None:
        """The live key with this public id, or None.

        Keys are cached; a key is re-read from the database when it was last read more than a few seconds
        ago (so a key created, changed or deleted by another process takes effect within that time).
        """
        if len(api_key) != KEY_LENGTH or not api_key.isalnum():
            return None
        now = time.monotonic()
        if now - self._checked.get(api_key, -RECHECK_S) >= RECHECK_S:
            t = models.api_keys
            row = self.store.read_sync(lambda c: c.execute(select(t).where(t.c.api_key == api_key)).first())
            self._checked[api_key] = now
            if len(self._checked) > 100_000:
                self._checked = {k: now for k in self._keys}
            if row is None or row.deleted is not None:
                self._keys.pop(api_key, None)
                self._secrets.pop(api_key, None)
            else:
                entry = _entry(row)
                old = self._keys.get(api_key)
                if old is not None and old[1:] != entry[1:]:
                    self._secrets.pop(api_key, None)
                self._keys[api_key] = entry
        found = self._keys.get(api_key)
        return None if found is None else found[0]

    def secret(self, api_key: str) -> str:
        """The decrypted secret (cached in memory after the first use)."""
        s = self._secrets.get(api_key)
        if s is None:
            found = self._keys.get(api_key)
            if found is None:
                raise ApiKeyError("unknown API key")
            _, ct, nonce = found
            s = self._secrets[api_key] = unseal(self._master, api_key, ct, nonce)
        return s

    def verify(self, api_key: str, payload: bytes, signature: str) -> bool:
        """Binance HMAC-SHA256 check: ``signature`` is the hex digest of ``payload`` under the key's secret."""
        if self.lookup(api_key) is None:
            return False
        return same_signature(hmac_sha256_hex(self.secret(api_key), payload), signature)

    def _scoped(self, tenant_id: int, account_id: int, api_key: str) -> ApiKey:
        self.accounts.account(account_id, tenant_id=tenant_id)
        self._checked.pop(api_key, None)  # read it afresh
        found = self.lookup(api_key)
        if found is None or found.account_id != account_id:
            raise UnknownAccount("API key does not exist")
        return found


def _entry(r: Any) -> tuple[ApiKey, str, str]:
    k = ApiKey(
        r.api_key,
        int(r.account_id),
        int(r.tenant_id),
        bool(r.can_read),
        bool(r.can_trade),
        tuple(x for x in r.ip_allowlist.split(",") if x),
        r.label,
        int(r.created),
    )
    return k, r.secret_ct, r.nonce
