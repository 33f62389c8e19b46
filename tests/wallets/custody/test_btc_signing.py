"""Bitcoin signing: hot P2WPKH spends, and the cold 2-of-3 PSBT flow (any two cosigners, never one, never a
tampered output), through the Python API and the `braid wallet` signer commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from embit import ec
from embit.networks import NETWORKS
from embit.psbt import PSBT
from embit.script import Script, p2pkh_from_p2wpkh, p2wpkh
from embit.transaction import SIGHASH, Transaction, TransactionOutput

from config.logging import configure_logging
from config.settings import Settings
from gateway.cli import build_parser
from tests.wallets.custody.conftest import PASSPHRASE
from wallets.custody import (
    ColdSpendRequest,
    ColdUtxo,
    CustodyError,
    HotInput,
    PublicWallets,
    Sealer,
    SpendMismatch,
    UnsignedBtcTx,
    build_cold_psbt,
    check_psbt_against,
    finalize_cold,
    sign_cold_psbt,
    sign_hot_btc,
)
from wallets.custody.addresses import validate_address
from wallets.custody.btc import native_secp256k1
from wallets.custody.ceremony import CeremonyResult

DEST = "bcrt1qs758ursh4q9z627kt3pp5yysm78ddny6txaqgw"
TXID_A, TXID_B = "aa" * 32, "bb" * 32


def _verify_p2wpkh(tx: Transaction, i: int, value: int, spk: bytes) -> bool:
    sig, pub = tx.vin[i].witness.items
    pk = ec.PublicKey.parse(pub)
    assert p2wpkh(pk).data == spk  # the key that signed is the one the output pays to
    h = tx.sighash_segwit(i, p2pkh_from_p2wpkh(Script(spk)), value, sighash=SIGHASH.ALL)
    return pk.verify(ec.Signature.parse(sig[:-1]), h)


def test_native_backend() -> None:
    assert native_secp256k1()


def test_hot_spend_signed_with_hot_and_deposit_keys(
    ceremony: CeremonyResult, public: PublicWallets, sealer: Sealer
) -> None:
    unsigned = UnsignedBtcTx(
        inputs=(HotInput(TXID_A, 0, 50_000, "deposit", 0, 3), HotInput(TXID_B, 1, 70_000, "hot", 1, 2)),
        outputs=((DEST, 100_000), (public.hot_address("BTC", 1, 3), 19_000)),
    )
    raw = sign_hot_btc(UnsignedBtcTx.from_json(json.loads(json.dumps(unsigned.to_json()))), ceremony.hot_file, sealer)
    tx = Transaction.parse(raw)
    assert [o.value for o in tx.vout] == [100_000, 19_000]
    spk0 = validate_address("BTC", public.deposit_address("BTC", 3), public.btc).script_pubkey
    spk1 = validate_address("BTC", public.hot_address("BTC", 1, 2), public.btc).script_pubkey
    assert _verify_p2wpkh(tx, 0, 50_000, spk0) and _verify_p2wpkh(tx, 1, 70_000, spk1)
    assert not _verify_p2wpkh(tx, 0, 50_001, spk0)  # BIP-143 commits to the amount
    assert sign_hot_btc(unsigned, ceremony.hot_file, sealer) == raw  # RFC 6979: deterministic
    with pytest.raises(CustodyError, match="mainnet"):
        sign_hot_btc(
            UnsignedBtcTx((HotInput(TXID_A, 0, 1000),), (("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", 500),)),
            ceremony.hot_file,
            sealer,
        )


UTXOS = [ColdUtxo(TXID_A, 0, 150_000_000, 0, 0), ColdUtxo(TXID_B, 2, 60_000_000, 0, 4)]
REQUEST = ColdSpendRequest(
    destination=DEST, amount="1.5", change_amount="0.59990000", change_index=7, max_fee="0.0002", btc_network="regtest"
)


def _psbt(public: PublicWallets) -> str:
    return build_cold_psbt(public, UTXOS, REQUEST).to_string()


@pytest.mark.parametrize("pair", [(1, 2), (2, 3), (1, 3)])
def test_any_two_cosigners_finalize(
    public: PublicWallets, cold_dir: Path, sealer: Sealer, pair: tuple[int, int]
) -> None:
    base = _psbt(public)
    signed = [sign_cold_psbt(base, cold_dir / f"cosigner-{n}.json", sealer) for n in pair]
    assert [added for _, added in signed] == [2, 2]  # one signature per input each
    tx = finalize_cold([s for s, _ in signed], REQUEST, public)
    assert [(o.script_pubkey.address(NETWORKS["regtest"]), o.value) for o in tx.vout] == [
        (DEST, 150_000_000),
        (public.cold_address(1, 7), 59_990_000),
    ]
    for vin in tx.vin:
        assert len(vin.witness.items) == 4  # OP_0 dummy, two signatures, witness script


def test_one_signature_is_not_enough(public: PublicWallets, cold_dir: Path, sealer: Sealer) -> None:
    one, _ = sign_cold_psbt(_psbt(public), cold_dir / "cosigner-2.json", sealer)
    with pytest.raises(CustodyError, match="1 of the 2 signatures"):
        finalize_cold([one], REQUEST, public)
    with pytest.raises(CustodyError, match="1 of the 2 signatures"):
        finalize_cold([one, one], REQUEST, public)  # the same cosigner twice is still one


def test_tampered_output_refused(public: PublicWallets, cold_dir: Path, sealer: Sealer) -> None:
    base = _psbt(public)
    # an attacker changes the destination amount before the cosigners sign
    p = PSBT.from_string(base)
    p.outputs[0].value = 149_000_000
    p.outputs[1].value += 1_000_000
    a, _ = sign_cold_psbt(p.to_string(), cold_dir / "cosigner-1.json", sealer)
    b, _ = sign_cold_psbt(p.to_string(), cold_dir / "cosigner-3.json", sealer)
    with pytest.raises(SpendMismatch, match="destination"):
        finalize_cold([a, b], REQUEST, public)
    # or redirects the change after they signed: the PSBTs disagree, and alone it mismatches the approval
    good, _ = sign_cold_psbt(base, cold_dir / "cosigner-1.json", sealer)
    q = PSBT.from_string(sign_cold_psbt(base, cold_dir / "cosigner-2.json", sealer)[0])
    q.outputs[1].script_pubkey = Script(bytes.fromhex("0014") + bytes(20))
    with pytest.raises(SpendMismatch, match="different transaction"):
        finalize_cold([good, q.to_string()], REQUEST, public)
    with pytest.raises(SpendMismatch, match="change"):
        check_psbt_against(q, REQUEST, public)
    # an extra output
    r = PSBT.from_string(base)
    r.outputs.append(type(r.outputs[0])(vout=TransactionOutput(1000, Script(bytes.fromhex("0014") + bytes(20)))))
    with pytest.raises(SpendMismatch, match="3 outputs"):
        check_psbt_against(r, REQUEST, public)


def test_fee_above_approval_and_foreign_signature_refused(
    public: PublicWallets, cold_dir: Path, sealer: Sealer
) -> None:
    with pytest.raises(CustodyError, match="above the approved maximum"):
        build_cold_psbt(public, UTXOS, ColdSpendRequest(DEST, "1.5", "0.5", 7, "0.0002"))
    a, _ = sign_cold_psbt(_psbt(public), cold_dir / "cosigner-1.json", sealer)
    p = PSBT.from_string(a)
    pub = next(iter(p.inputs[0].partial_sigs))
    sig = p.inputs[0].partial_sigs[pub]
    p.inputs[0].partial_sigs[pub] = sig[:-2] + bytes([sig[-2] ^ 1]) + sig[-1:]
    b, _ = sign_cold_psbt(_psbt(public), cold_dir / "cosigner-2.json", sealer)
    with pytest.raises(SpendMismatch, match="signature"):
        finalize_cold([p.to_string(), b], REQUEST, public)


def _cli(argv: list[str], settings: Settings) -> int:
    configure_logging(settings)  # as `braid` does: logs to stderr, answers on stdout
    args = build_parser().parse_args(argv)
    return int(args.run(args, settings))


def test_signer_commands(
    ceremony: CeremonyResult,
    public: PublicWallets,
    cold_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BRAID_WALLET_PASSPHRASE", PASSPHRASE)
    settings = Settings(data_dir=str(tmp_path), custody={"dir": str(ceremony.public_file.parent.parent)})
    approved = tmp_path / "request.json"
    approved.write_text(json.dumps(REQUEST.to_json()))
    utxo = [f"--utxo={u.txid}:{u.vout}:{u.value_sat}:{u.change}:{u.index}" for u in UTXOS]
    assert (
        _cli(["wallet", "cold-psbt", "--approved", str(approved), *utxo, "--out", str(tmp_path / "u.psbt")], settings)
        == 0
    )
    for n in (1, 3):
        assert (
            _cli(
                [
                    "wallet",
                    "sign",
                    "--psbt",
                    str(tmp_path / "u.psbt"),
                    "--key",
                    str(cold_dir / f"cosigner-{n}.json"),
                    "--out",
                    str(tmp_path / f"s{n}.psbt"),
                ],
                settings,
            )
            == 0
        )
    capsys.readouterr()
    assert (
        _cli(
            [
                "wallet",
                "finalize",
                "--psbt",
                str(tmp_path / "s1.psbt"),
                "--psbt",
                str(tmp_path / "s3.psbt"),
                "--approved",
                str(approved),
                "--out",
                str(tmp_path / "tx.hex"),
            ],
            settings,
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert Transaction.parse(bytes.fromhex((tmp_path / "tx.hex").read_text().strip())).txid().hex() == out["txid"]
    # a PSBT whose destination was changed after signing: refused, nothing written
    tampered = PSBT.from_string((tmp_path / "s3.psbt").read_text())
    tampered.outputs[0].script_pubkey = Script(bytes.fromhex("0014") + bytes(20))
    (tmp_path / "s3x.psbt").write_text(tampered.to_string())
    capsys.readouterr()
    assert (
        _cli(
            [
                "wallet",
                "finalize",
                "--psbt",
                str(tmp_path / "s3x.psbt"),
                "--psbt",
                str(tmp_path / "s3x.psbt"),
                "--approved",
                str(approved),
                "--out",
                str(tmp_path / "bad.hex"),
            ],
            settings,
        )
        == 2
    )
    assert "does not pay the approved destination" in capsys.readouterr().err
    assert not (tmp_path / "bad.hex").exists()
    # the approved request says another amount: refused, nothing written
    approved.write_text(json.dumps({**REQUEST.to_json(), "amount": "1.4"}))
    assert (
        _cli(
            [
                "wallet",
                "finalize",
                "--psbt",
                str(tmp_path / "s1.psbt"),
                "--psbt",
                str(tmp_path / "s3.psbt"),
                "--approved",
                str(approved),
                "--out",
                str(tmp_path / "bad.hex"),
            ],
            settings,
        )
        == 2
    )
    assert "does not pay the approved destination" in capsys.readouterr().err
    assert not (tmp_path / "bad.hex").exists()
    # a wrong passphrase cannot sign
    monkeypatch.setenv("BRAID_WALLET_PASSPHRASE", "nope")
    assert (
        _cli(
            [
                "wallet",
                "sign",
                "--psbt",
                str(tmp_path / "u.psbt"),
                "--key",
                str(cold_dir / "cosigner-2.json"),
                "--out",
                str(tmp_path / "s2.psbt"),
            ],
            settings,
        )
        == 2
    )
    assert not (tmp_path / "s2.psbt").exists()


def test_signer_checks_the_approval_before_using_its_key(
    ceremony: CeremonyResult,
    public: PublicWallets,
    cold_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BRAID_WALLET_PASSPHRASE", PASSPHRASE)
    settings = Settings(data_dir=str(tmp_path), custody={"dir": str(ceremony.public_file.parent.parent)})
    approved = tmp_path / "request.json"
    approved.write_text(json.dumps(REQUEST.to_json()))
    p = PSBT.from_string(_psbt(public))
    p.outputs[0].script_pubkey = Script(bytes.fromhex("0014") + bytes(20))  # destination swapped
    (tmp_path / "t.psbt").write_text(p.to_string())
    assert (
        _cli(
            [
                "wallet",
                "sign",
                "--psbt",
                str(tmp_path / "t.psbt"),
                "--key",
                str(cold_dir / "cosigner-1.json"),
                "--approved",
                str(approved),
                "--out",
                str(tmp_path / "t1.psbt"),
            ],
            settings,
        )
        == 2
    )
    assert "does not pay the approved destination" in capsys.readouterr().err
    assert not (tmp_path / "t1.psbt").exists()
    (tmp_path / "g.psbt").write_text(_psbt(public))
    assert (
        _cli(
            [
                "wallet",
                "sign",
                "--psbt",
                str(tmp_path / "g.psbt"),
                "--key",
                str(cold_dir / "cosigner-1.json"),
                "--approved",
                str(approved),
                "--out",
                str(tmp_path / "g1.psbt"),
            ],
            settings,
        )
        == 0
    )
    pays = json.loads(capsys.readouterr().out)["pays"]
    assert pays == [
        {"address": DEST, "amount": "1.50000000"},
        {"address": public.cold_address(1, 7), "amount": "0.59990000"},
    ]
