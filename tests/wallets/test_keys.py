"""API keys: generated like Binance's, secrets sealed with AES-256-GCM, permissions and IP allowlists."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.wallets.conftest import MASTER, Db
from wallets import load_master_key, models
from wallets.keys import ApiKeyError, KeyVault, seal, unseal


def test_seal_round_trip_and_tamper_detection() -> None:
    ct, nonce = seal(MASTER, "key-a", "s3cret")
    assert unseal(MASTER, "key-a", ct, nonce) == "s3cret"
    raw = bytearray(base64.b64decode(ct))
    raw[0] ^= 1
    with pytest.raises(ApiKeyError):
        unseal(MASTER, "key-a", base64.b64encode(bytes(raw)).decode(), nonce)
    with pytest.raises(ApiKeyError):  # a ciphertext moved to another key's row
        unseal(MASTER, "key-b", ct, nonce)
    with pytest.raises(ApiKeyError):
        unseal(os.urandom(32), "key-a", ct, nonce)
    with pytest.raises(ApiKeyError):
        unseal(MASTER, "key-a", ct, base64.b64encode(os.urandom(12)).decode())
    assert seal(MASTER, "key-a", "s3cret") != (ct, nonce)  # fresh nonce each time


def test_master_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "master.key"
    key = load_master_key(None, path)
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_key(None, path) == key
    given = base64.b64encode(b"k" * 32).decode()
    assert load_master_key(given, tmp_path / "unused") == b"k" * 32
    assert not (tmp_path / "unused").exists()
    with pytest.raises(ValueError):
        load_master_key(base64.b64encode(b"short").decode(), path)


async def test_keys_are_stored_encrypted_and_survive_reopen(db: Db) -> None:
    w = db.open()
    try:
        t = await w.accounts.create_tenant("acme")
        a = await w.accounts.create_account(t.tenant_id, "bob@example.com")
        key, secret = await w.keys.create_key(
            t.tenant_id, a.account_id, can_trade=True, ip_allowlist=["10.1.0.0/16", "192.168.1.7"]
        )
        assert len(key.api_key) == 64 and len(secret) == 64 and key.api_key.isalnum() and secret.isalnum()
        rows = await w.store.read(lambda c: c.execute(select(models.api_keys)).all())
        assert len(rows) == 1 and secret not in repr(tuple(rows[0]))
        await w.close()
        w = db.open()
        found = w.keys.lookup(key.api_key)
        assert found is not None and found.can_trade and found.can_read
        assert w.keys.secret(key.api_key) == secret
        payload = b"symbol=BTCUSDT&side=BUY&timestamp=1"
        sig = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
        assert w.keys.verify(key.api_key, payload, sig)
        assert not w.keys.verify(key.api_key, payload + b"0", sig)
        assert not w.keys.verify("nope", payload, sig)
        assert found.allows("10.1.2.3", trade=True) and found.allows("192.168.1.7")
        assert not found.allows("10.2.0.1") and not found.allows("not-an-ip")
        # another master key cannot open the secrets
        other = KeyVault(w.store, w.accounts, os.urandom(32))
        with pytest.raises(ApiKeyError):
            other.secret(key.api_key)
    finally:
        await w.close()


async def test_permissions_allowlist_update_and_delete(db: Db) -> None:
    w = db.open()
    try:
        t = await w.accounts.create_tenant("acme")
        a = await w.accounts.create_account(t.tenant_id, "bob@example.com")
        key, _ = await w.keys.create_key(t.tenant_id, a.account_id)
        assert key.allows("1.2.3.4") and not key.allows("1.2.3.4", trade=True)
        with pytest.raises(ApiKeyError):
            await w.keys.create_key(t.tenant_id, a.account_id, ip_allowlist="not-an-ip")
        key = await w.keys.set_access(t.tenant_id, a.account_id, key.api_key, can_trade=True, ip_allowlist="5.6.7.8")
        assert key.allows("5.6.7.8", trade=True) and not key.allows("1.2.3.4")
        assert [k.api_key for k in w.keys.list_keys(t.tenant_id, a.account_id)] == [key.api_key]
        await w.keys.delete_key(t.tenant_id, a.account_id, key.api_key)
        assert w.keys.lookup(key.api_key) is None and w.keys.list_keys(t.tenant_id, a.account_id) == []
        await w.close()
        w = db.open()
        assert w.keys.lookup(key.api_key) is None
    finally:
        await w.close()
