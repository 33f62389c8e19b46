"""Personal data at rest: the AES-256-GCM wrapper against published vectors, a sealed value bound to its row,
key rotation, and the data subject requests (export, erase)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from compliance import KeyRing, Kyc, KycStore, PiiError
from compliance.kyc_models import kyc_pii, kyc_pii_keys
from compliance.pii import decrypt, encrypt
from tests.wallets.conftest import MASTER

# McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, test cases 13-16 (256-bit key).
GCM_VECTORS = [
    ("00" * 32, "00" * 12, "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"),
    ("00" * 32, "00" * 12, "00" * 16, "", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"),
    (
        "feffe9928665731c6d6a8f9467308308" * 2,
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
        "",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
        "b094dac5d93471bdec1a502270e3cc6c",
    ),
    (
        "feffe9928665731c6d6a8f9467308308" * 2,
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ),
    # NIST CAVP GCMVS gcmEncryptExtIV256.rsp, [Keylen 256, IVlen 96, PTlen 128, AADlen 128, Taglen 128] Count 0
    (
        "92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b",
        "ac93a1a6145299bde902f21a",
        "2d71bcfa914e4ac045b2aa60955fad24",
        "1e0889016f67601c8ebea4943bc23ad6",
        "8995ae2e6df3dbf96fac7b7137bae67f",
        "eca5aa77d51d4a0a14d9c51e1da474ab",
    ),
]


@pytest.mark.parametrize(("key", "iv", "pt", "aad", "ct", "tag"), GCM_VECTORS)
def test_gcm_published_vectors(key: str, iv: str, pt: str, aad: str, ct: str, tag: str) -> None:
    k, n, p, a = (bytes.fromhex(x) for x in (key, iv, pt, aad))
    assert encrypt(k, n, p, a) == bytes.fromhex(ct + tag)
    assert decrypt(k, n, bytes.fromhex(ct + tag), a) == p


def test_gcm_decrypt_fail_vector_is_refused() -> None:
    # NIST CAVP gcmDecrypt256.rsp, PTlen 128 AADlen 128 Count 2: FAIL (must not authenticate)
    key = bytes.fromhex("9a0343f850a6427120f764789ffec6d237447b898fbf51d2182f065d3861497d")
    with pytest.raises(PiiError):
        decrypt(
            key,
            bytes.fromhex("3deef6f453dd70d92143adcd"),
            bytes.fromhex("e93165935ac18e3a2845d15fe31a9286f5fc50d18766bc3d9e16dd136d45816b"),
            bytes.fromhex("dbb8226a624520863db6897017b2a4f8"),
        )


def test_a_sealed_value_only_opens_in_its_own_row_and_field() -> None:
    ring = KeyRing({1: bytes(range(32))})
    s = ring.seal("kyc_pii", "7", "last_name", "Nakamoto")
    assert ring.open("kyc_pii", "7", "last_name", s) == "Nakamoto"
    assert ring.seal("kyc_pii", "7", "last_name", "Nakamoto").nonce != s.nonce  # a fresh nonce per record
    elsewhere = (("kyc_pii", "8", "last_name"), ("kyc_pii", "7", "first_name"), ("other", "7", "last_name"))
    for table, row, field in elsewhere:
        with pytest.raises(PiiError):
            ring.open(table, row, field, s)


def test_ciphertext_moved_to_another_account_in_the_database_fails(store: KycStore) -> None:
    store.put_pii(1, {"last_name": "Alpha"}, 1)
    store.put_pii(2, {"last_name": "Beta"}, 1)
    with store.engine.begin() as conn:
        one = conn.execute(select(kyc_pii).where(kyc_pii.c.account_id == 1)).one()
        conn.execute(
            update(kyc_pii)
            .where(kyc_pii.c.account_id == 2)
            .values(nonce=one.nonce, ciphertext=one.ciphertext, key_id=one.key_id)
        )
    assert store.pii(1) == {"last_name": "Alpha"}
    with pytest.raises(PiiError):
        store.pii(2)


def test_rotation_reencrypts_everything_and_drops_old_keys(store: KycStore, db) -> None:
    store.put_pii(5, {"first_name": "Ada", "last_name": "Lovelace"}, 1)
    store.put_travel_rule("withdrawal", "w1", {"beneficiary": {"x": 1}})
    before = store.ring.newest
    out = store.rotate()
    assert out == {"keyId": before + 1, "reencrypted": 3, "keysDropped": 1, "left": 0}
    with store.engine.connect() as conn:
        assert set(conn.execute(select(kyc_pii.c.key_id)).scalars()) == {before + 1}
        assert list(conn.execute(select(kyc_pii_keys.c.key_id)).scalars()) == [before + 1]
    # a fresh process (ring loaded from the database) reads everything
    again = KycStore(db.url, MASTER, schema=db.schema)
    try:
        assert again.pii(5) == {"first_name": "Ada", "last_name": "Lovelace"}
        assert again.travel_rule("withdrawal", "w1") == {"beneficiary": {"x": 1}}
    finally:
        again.close()


def test_old_key_still_decrypts_until_rotation_completes(store: KycStore) -> None:
    store.put_pii(5, {"first_name": "Ada"}, 1)
    with store.engine.begin() as conn:
        store.ring.add_key(conn, MASTER, 2)  # a new key, records not yet re-encrypted
    assert store.pii(5) == {"first_name": "Ada"}
    store.put_pii(6, {"first_name": "Bob"}, 2)  # new records use the newest key
    assert store.pii(6) == {"first_name": "Bob"}


def test_wrong_master_key_cannot_open_the_ring(store: KycStore, db) -> None:
    with pytest.raises(PiiError):
        KycStore(db.url, bytes(32), schema=db.schema)


def test_export_and_erase(kyc: Kyc, audit_log: list) -> None:
    kyc.store.put_pii(9, {"first_name": "Grace", "last_name": "Hopper", "dob": "1906-12-09"}, 1)
    kyc.store.link("onfido", "app-9", "applicant", 9)
    kyc.set_tier(9, 2, reason="documents verified", actor="op1")
    out = kyc.export(9)
    assert out["personalData"] == {"first_name": "Grace", "last_name": "Hopper", "dob": "1906-12-09"}
    assert out["providerReferences"] == [{"provider": "onfido", "id": "app-9", "kind": "applicant"}]
    assert [h["to"] for h in out["tierHistory"]] == [2]
    erased = kyc.erase(9, actor="dpo")
    assert erased["fieldsErased"] == 3
    after = kyc.export(9)
    assert after["personalData"] == {} and after["providerReferences"] == []
    assert after["tier"] == 2 and after["tierHistory"][0]["reason"] == "documents verified"  # kept by law
    assert audit_log[-1][:4] == ("dpo", "", "kyc.erase", "account:9")
