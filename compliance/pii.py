"""Personal data encrypted at rest: AES-256-GCM with a random 96-bit nonce per record and the row's identity
(table, row id, field, key id) as associated data, so a ciphertext copied to another row, field or key
fails to decrypt.

Keys form a ring: each data key has an integer id and is stored wrapped (AES-GCM) under the master key
(``wallets.keys.load_master_key``: ``BRAID_MASTER_KEY`` / ``BRAID_MASTER_KEY_FILE``). New records use the
newest key; older keys still decrypt until ``braid kyc rotate-key`` has re-encrypted every record under a
new key and dropped them. NIST SP 800-38D §8.3 caps random-nonce encryptions per key at 2**32; rotation is
how a key is retired long before that.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, delete, insert, select

from compliance.kyc_models import kyc_pii_keys

NONCE_BYTES = 12  # 96 bits: the IV length SP 800-38D recommends
KEY_BYTES = 32  # AES-256


class PiiError(Exception):
    """A record cannot be decrypted: wrong key, wrong row (associated data) or altered bytes."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """One encrypted value as stored: the data key's id, the nonce and the ciphertext with its tag."""

    key_id: int
    nonce: bytes
    ciphertext: bytes


def encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM: ciphertext followed by the 128-bit tag."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"AES-256 needs a 32-byte key, received {len(key)} bytes")
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """The plaintext, or ``PiiError`` if the tag does not match (tampered, other row, other key)."""
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except (InvalidTag, ValueError) as exc:
        raise PiiError("personal data cannot be decrypted (wrong key, moved between rows, or altered)") from exc


def row_aad(table: str, row_id: str, field: str, key_id: int) -> bytes:
    """The associated data binding a ciphertext to its place: ``braid-pii/1|table|row|field|key``."""
    for part in (table, row_id, field):
        if "|" in part:
            raise ValueError(f"'|' is not allowed in a row identity, received {part!r}")
    return f"braid-pii/1|{table}|{row_id}|{field}|{key_id}".encode()


def _wrap_aad(key_id: int) -> bytes:
    return f"braid-pii-key/1|{key_id}".encode()


class KeyRing:
    """The data keys by id; :meth:`seal` uses the newest."""

    def __init__(self, keys: dict[int, bytes]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self.keys = dict(keys)

    @property
    def newest(self) -> int:
        return max(self.keys)

    def seal(self, table: str, row_id: str, field: str, plaintext: str) -> Sealed:
        kid = self.newest
        nonce = os.urandom(NONCE_BYTES)  # random per record: never reused under one key
        ct = encrypt(self.keys[kid], nonce, plaintext.encode(), row_aad(table, row_id, field, kid))
        return Sealed(kid, nonce, ct)

    def open(self, table: str, row_id: str, field: str, sealed: Sealed) -> str:
        key = self.keys.get(sealed.key_id)
        if key is None:
            raise PiiError(f"data key {sealed.key_id} is not in the ring (retired before this record was re-sealed?)")
        return decrypt(key, sealed.nonce, sealed.ciphertext, row_aad(table, row_id, field, sealed.key_id)).decode()

    # ----- storage of the ring (wrapped under the master key) -----
    @classmethod
    def load(cls, conn: Connection, master: bytes, now_ms: int) -> KeyRing:
        """The stored ring, unwrapped; a first key is made if there is none."""
        rows = conn.execute(select(kyc_pii_keys)).all()
        if not rows:
            ring = cls({1: os.urandom(KEY_BYTES)})
            ring._store(conn, master, 1, now_ms)
            return ring
        keys = {}
        for r in rows:
            try:
                keys[r.key_id] = AESGCM(master).decrypt(r.nonce, r.wrapped, _wrap_aad(r.key_id))
            except InvalidTag as exc:
                raise PiiError(f"data key {r.key_id} cannot be unwrapped: wrong master key?") from exc
        return cls(keys)

    def add_key(self, conn: Connection, master: bytes, now_ms: int) -> int:
        """A new newest key, stored; returns its id."""
        kid = self.newest + 1
        self.keys[kid] = os.urandom(KEY_BYTES)
        self._store(conn, master, kid, now_ms)
        return kid

    def drop_older(self, conn: Connection) -> list[int]:
        """Forget every key but the newest (call only once nothing is sealed under them)."""
        old = [k for k in self.keys if k != self.newest]
        if old:
            conn.execute(delete(kyc_pii_keys).where(kyc_pii_keys.c.key_id.in_(old)))
            for k in old:
                del self.keys[k]
        return old

    def _store(self, conn: Connection, master: bytes, kid: int, now_ms: int) -> None:
        nonce = os.urandom(NONCE_BYTES)
        wrapped = encrypt(master, nonce, self.keys[kid], _wrap_aad(kid))
        conn.execute(insert(kyc_pii_keys).values(key_id=kid, wrapped=wrapped, nonce=nonce, created_ms=now_ms))
