"""EVM signing: hot keys, the cold offline flow (unsigned JSON out, signed raw in) and the verification that
refuses anything other than the approved destination, amount, token transfer and chain id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.logging import configure_logging
from config.settings import Settings
from gateway.cli import build_parser
from tests.wallets.custody.conftest import PASSPHRASE
from wallets.custody import (
    CustodyError,
    EvmSpendRequest,
    PublicWallets,
    Sealer,
    SpendMismatch,
    decode_signed_evm,
    sign_cold_evm,
    sign_hot_evm,
    unsigned_tx,
    verify_signed_evm,
)
from wallets.custody.ceremony import CeremonyResult
from wallets.custody.evm import sign_evm, transfer_data

DEST = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
TOKEN = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"


def _native(chain_id: int = 31337, value: int = 15 * 10**17, to: str = DEST) -> dict[str, object]:
    return unsigned_tx(
        chain_id=chain_id,
        nonce=4,
        to=to,
        value_wei=value,
        gas=21000,
        max_fee_per_gas=30 * 10**9,
        max_priority_fee_per_gas=10**9,
    )


def test_cold_offline_sign_and_verify(public: PublicWallets, cold_dir: Path, sealer: Sealer) -> None:
    raw = sign_cold_evm(json.loads(json.dumps(_native())), cold_dir / "cold-evm.json", sealer)
    req = EvmSpendRequest("ETH", 31337, DEST, "1.5", sender=public.cold_evm_address)
    tx = verify_signed_evm(raw, req)
    assert (tx.sender, tx.to, tx.value, tx.type, tx.nonce) == (public.cold_evm_address, DEST, 15 * 10**17, 2, 4)


def test_tampered_amount_destination_chain_refused(cold_dir: Path, sealer: Sealer) -> None:
    key = cold_dir / "cold-evm.json"
    req = EvmSpendRequest("ETH", 31337, DEST, "1.5")
    with pytest.raises(SpendMismatch, match="wei"):
        verify_signed_evm(sign_cold_evm(_native(value=16 * 10**17), key, sealer), req)
    with pytest.raises(SpendMismatch, match="destination"):
        verify_signed_evm(sign_cold_evm(_native(to=TOKEN), key, sealer), req)
    with pytest.raises(SpendMismatch, match="chain id 56"):
        verify_signed_evm(sign_cold_evm(_native(chain_id=56), key, sealer), req)
    with pytest.raises(SpendMismatch, match="approved sender"):
        verify_signed_evm(
            sign_cold_evm(_native(), key, sealer), EvmSpendRequest("ETH", 31337, DEST, "1.5", sender=TOKEN)
        )
    # a signature over other bytes: flipping a byte of the raw transaction changes the recovered sender or breaks it
    raw = bytearray(sign_cold_evm(_native(), key, sealer))
    raw[-40] ^= 1
    with pytest.raises((SpendMismatch, CustodyError)):
        verify_signed_evm(
            bytes(raw),
            EvmSpendRequest(
                "ETH", 31337, DEST, "1.5", sender=decode_signed_evm(sign_cold_evm(_native(), key, sealer)).sender
            ),
        )


def test_token_transfer_checked(cold_dir: Path, sealer: Sealer) -> None:
    key = cold_dir / "cold-evm.json"
    units = 250 * 10**6  # 250 USDT at 6 decimals
    tx = unsigned_tx(chain_id=56, nonce=0, to=TOKEN, data=transfer_data(DEST, units), gas=60000, gas_price=3 * 10**9)
    req = EvmSpendRequest("BSC", 56, DEST, "250", decimals=6, token=TOKEN)
    assert verify_signed_evm(sign_cold_evm(tx, key, sealer), req).type == 0  # legacy with EIP-155 chain id
    bad = unsigned_tx(
        chain_id=56, nonce=0, to=TOKEN, data=transfer_data(DEST, units + 1), gas=60000, gas_price=3 * 10**9
    )
    with pytest.raises(SpendMismatch, match="transfer"):
        verify_signed_evm(sign_cold_evm(bad, key, sealer), req)
    other = unsigned_tx(
        chain_id=56, nonce=0, to=TOKEN, data=transfer_data(TOKEN, units), gas=60000, gas_price=3 * 10**9
    )
    with pytest.raises(SpendMismatch, match="transfer"):
        verify_signed_evm(sign_cold_evm(other, key, sealer), req)


def test_hot_signing_and_replay_protection(ceremony: CeremonyResult, public: PublicWallets, sealer: Sealer) -> None:
    raw = sign_hot_evm(_native(chain_id=56), "BSC", ceremony.hot_file, sealer)
    assert decode_signed_evm(raw).sender == public.hot_address("BSC")
    sweep = sign_hot_evm(_native(), "ETH", ceremony.hot_file, sealer, wallet="deposit", index=2)
    assert decode_signed_evm(sweep).sender == public.deposit_address("ETH", 2)
    with pytest.raises(CustodyError, match="chain id"):
        sign_evm({**_native(), "chainId": 0}, bytes(31) + b"\x01")
    pre155 = bytes.fromhex(
        "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a7640000801ba0"
        "28ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b"
        "3800ccf555c9f3dc64214b297fb1966a3b6d83"
    )
    with pytest.raises(CustodyError, match="EIP-155"):
        decode_signed_evm(pre155)


def _cli(argv: list[str], settings: Settings) -> int:
    configure_logging(settings)  # as `braid` does: logs to stderr, answers on stdout
    args = build_parser().parse_args(argv)
    return int(args.run(args, settings))


def test_evm_signer_commands(
    public: PublicWallets,
    cold_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BRAID_WALLET_PASSPHRASE", PASSPHRASE)
    settings = Settings(data_dir=str(tmp_path))
    assert (
        _cli(
            [
                "wallet",
                "evm-unsigned",
                "--network",
                "ETH",
                "--to",
                DEST,
                "--amount",
                "0.25",
                "--nonce",
                "7",
                "--max-fee",
                "20000000000",
                "--priority-fee",
                "1000000000",
                "--out",
                str(tmp_path / "u.json"),
            ],
            settings,
        )
        == 0
    )
    assert json.loads((tmp_path / "u.json").read_text())["chainId"] == 31337
    assert (
        _cli(
            [
                "wallet",
                "sign-evm",
                "--unsigned",
                str(tmp_path / "u.json"),
                "--key",
                str(cold_dir / "cold-evm.json"),
                "--out",
                str(tmp_path / "signed.hex"),
            ],
            settings,
        )
        == 0
    )
    approved = tmp_path / "approved.json"
    approved.write_text(
        json.dumps(
            {
                "network": "ETH",
                "chain_id": 31337,
                "destination": DEST,
                "amount": "0.25",
                "sender": public.cold_evm_address,
            }
        )
    )
    capsys.readouterr()
    assert (
        _cli(["wallet", "verify-evm", "--signed", str(tmp_path / "signed.hex"), "--approved", str(approved)], settings)
        == 0
    )
    assert json.loads(capsys.readouterr().out)["sender"] == public.cold_evm_address
    approved.write_text(json.dumps({"network": "ETH", "chain_id": 31337, "destination": DEST, "amount": "0.26"}))
    assert (
        _cli(["wallet", "verify-evm", "--signed", str(tmp_path / "signed.hex"), "--approved", str(approved)], settings)
        == 2
    )
    assert "approved" in capsys.readouterr().err


def test_amounts_are_exact() -> None:
    from wallets.custody.amounts import to_base_units
    from wallets.custody.btc import to_sat

    assert to_sat("0.00000001") == 1 and to_sat("21000000") == 21_000_000 * 10**8
    assert to_base_units("1.000000000000000001", 18) == 10**18 + 1
    for bad, why in [
        ("0.000000001", "8 decimals"),
        ("-1", "non-negative"),
        ("abc", "not a decimal"),
        ("21000000.00000001", "21 million"),
        ("NaN", "non-negative"),
    ]:
        with pytest.raises(CustodyError, match=why):
            to_sat(bad)
