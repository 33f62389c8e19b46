"""Key files: secret key material sealed at rest with AES-256-GCM.

The 32-byte key comes either from a passphrase through scrypt (salt and cost stored in the file) or from
the master key Braid already uses for API secrets (``wallets.keys.load_master_key``). The file's role
("hot-signer", "cold-cosigner-2", ...) and its key-derivation parameters are the associated data, so a file
renamed into another role, or with its parameters edited, fails to open instead of decrypting.

A file is JSON: ``{"format": "braid-keyfile", "version": 1, "role", "kdf": {...}, "nonce", "ciphertext"}``
(base64 fields); the plaintext is a JSON object of the role's keys. Files are written with mode 0600.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from wallets.custody.errors import KeyFileError

FORMAT = "braid-keyfile"
VERSION = 1
SCRYPT_N = 2**15  # ~32 MiB and tens of ms per open: slows a passphrase guesser, not the signer
SCRYPT_R = 8
SCRYPT_P = 1


@dataclass(frozen=True, slots=True)
class Sealer:
    """Where a key file's encryption key comes from: a passphrase (scrypt) or a 32-byte master key."""

    passphrase: str | None = None
    master_key: bytes | None = None

    def __post_init__(self) -> None:
        if (self.passphrase is None) == (self.master_key is None):
            raise ValueError("give exactly one of a passphrase or a master key")
        if self.passphrase is not None and not self.passphrase:
            raise ValueError("the passphrase is empty")
        if self.master_key is not None and len(self.master_key) != 32:
            raise ValueError("the master key must be 32 bytes")

    def new_kdf(self) -> dict[str, Any]:
        if self.passphrase is not None:
            salt = base64.b64encode(os.urandom(16)).decode()
            return {"name": "scrypt", "salt": salt, "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
        return {"name": "master-key"}

    def key_for(self, kdf: dict[str, Any]) -> bytes:
        name = kdf.get("name")
        if name == "scrypt":
            if self.passphrase is None:
                raise KeyFileError("this key file is sealed with a passphrase; none was given")
            try:
                salt = base64.b64decode(kdf["salt"], validate=True)
                n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
            except (KeyError, ValueError, TypeError) as exc:
                raise KeyFileError("key file has malformed scrypt parameters") from exc
            if n > 2**20 or r > 32 or p > 16:
                raise KeyFileError("key file asks for an unreasonable scrypt cost")
            return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(self.passphrase.encode())
        if name == "master-key":
            if self.master_key is None:
                raise KeyFileError("this key file is sealed with the master key; none was given")
            return self.master_key
        raise KeyFileError(f"key file uses an unknown key derivation {name!r}")


def _aad(role: str, kdf: dict[str, Any]) -> bytes:
    return f"{FORMAT}/v{VERSION}|{role}|".encode() + json.dumps(kdf, sort_keys=True).encode()


def seal(payload: dict[str, Any], role: str, sealer: Sealer) -> dict[str, Any]:
    """The key-file document holding ``payload`` encrypted for ``role``."""
    kdf = sealer.new_kdf()
    nonce = os.urandom(12)  # fresh per file: a (key, nonce) pair is never reused
    ct = AESGCM(sealer.key_for(kdf)).encrypt(nonce, json.dumps(payload).encode(), _aad(role, kdf))
    return {
        "format": FORMAT,
        "version": VERSION,
        "role": role,
        "kdf": kdf,
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ct).decode(),
    }


def unseal(doc: dict[str, Any], role: str, sealer: Sealer) -> dict[str, Any]:
    """The payload of a key-file document; ``KeyFileError`` unless it is intact, for ``role``, and the key fits."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise KeyFileError("not a Braid key file (format/version missing)")
    if doc.get("role") != role:
        raise KeyFileError(f"key file is for role {doc.get('role')!r}, expected {role!r}")
    kdf = doc.get("kdf")
    if not isinstance(kdf, dict):
        raise KeyFileError("key file has no key derivation parameters")
    try:
        nonce = base64.b64decode(doc["nonce"], validate=True)
        ct = base64.b64decode(doc["ciphertext"], validate=True)
    except (KeyError, ValueError, TypeError) as exc:
        raise KeyFileError("key file has malformed nonce or ciphertext") from exc
    try:
        plain = AESGCM(sealer.key_for(kdf)).decrypt(nonce, ct, _aad(role, kdf))
    except (InvalidTag, ValueError) as exc:
        raise KeyFileError(
            f"key file for {role!r} cannot be decrypted: wrong passphrase/master key, or tampered"
        ) from exc
    out = json.loads(plain)
    if not isinstance(out, dict):
        raise KeyFileError("key file payload is not an object")
    return out


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (0600), refusing to replace an existing one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def write_key_file(path: Path, payload: dict[str, Any], role: str, sealer: Sealer) -> None:
    write_private(path, json.dumps(seal(payload, role, sealer), indent=2) + "\n")


def read_key_file(path: str | os.PathLike[str], role: str, sealer: Sealer) -> dict[str, Any]:
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise KeyFileError(f"key file {p} does not exist") from None
    except ValueError as exc:
        raise KeyFileError(f"key file {p} is not JSON") from exc
    return unseal(doc, role, sealer)


def role_of(path: str | os.PathLike[str]) -> str:
    """The role a key file says it is for (not authenticated until it is opened)."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc}") from exc
    role = doc.get("role") if isinstance(doc, dict) else None
    if not isinstance(role, str):
        raise KeyFileError(f"{path} is not a Braid key file")
    return role
