"""The key ceremony writes each role only what it needs; key files are sealed and bound to their role."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from embit import bip32

from config.logging import configure_logging
from config.settings import Settings
from gateway.cli import build_parser
from wallets.custody import (
    CustodyError,
    KeyFileError,
    PublicWallets,
    Sealer,
    hd,
    run_ceremony,
)
from wallets.custody.ceremony import HOT_ROLE, CeremonyResult, cosigner_role
from wallets.custody.keyfile import read_key_file, seal, unseal
from wallets.keys import load_master_key

PRIVATE_MARKERS = ("xprv", "tprv", "zprv", "vprv", "mnemonic", "private")


def test_public_file_holds_no_private_material(ceremony: CeremonyResult) -> None:
    text = ceremony.public_file.read_text()
    for marker in PRIVATE_MARKERS:
        assert marker not in text
    doc = json.loads(text)
    assert doc["btc_network"] == "regtest"
    assert doc["deposit"]["BTC"]["xpub"].startswith("vpub")  # BIP-84 off mainnet (SLIP-132)
    assert doc["deposit"]["ETH"]["path"] == "m/44'/60'/0'" and doc["deposit"]["BSC"]["path"] == "m/44'/9006'/0'"
    assert doc["cold"]["BTC"]["descriptor"].startswith("wsh(sortedmulti(2,")


def test_each_role_in_its_own_directory_and_files_private(ceremony: CeremonyResult) -> None:
    dirs = {ceremony.public_file.parent, ceremony.hot_file.parent, ceremony.cold_files[0].parent}
    assert len(dirs) == 3
    for f in [ceremony.hot_file, *ceremony.cold_files]:
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
        assert "xprv" not in f.read_text() and "tprv" not in f.read_text()  # sealed, not plain


def test_hot_keys_match_the_public_keys(ceremony: CeremonyResult, public: PublicWallets, sealer: Sealer) -> None:
    doc = read_key_file(ceremony.hot_file, HOT_ROLE, sealer)
    versions = hd.btc_versions(public.btc, bip84=True)
    dep = hd.parse_account_key(doc["keys"]["BTC/deposit"]["xprv"], versions)
    assert hd.btc_address(dep, public.btc, 0, 5) == public.deposit_address("BTC", 5)
    assert public.deposit_address("BTC", 5).startswith("bcrt1q")
    eth = hd.parse_account_key(doc["keys"]["ETH/hot"]["xprv"], hd.EVM_VERSIONS)
    assert hd.evm_address(eth, 0, 0) == public.hot_address("ETH") == public.hot["ETH"]["address"]
    assert public.deposit_address("ETH", 0) != public.deposit_address("BSC", 0)


def test_key_file_refuses_wrong_passphrase_role_and_tampering(ceremony: CeremonyResult, sealer: Sealer) -> None:
    with pytest.raises(KeyFileError, match="cannot be decrypted"):
        read_key_file(ceremony.hot_file, HOT_ROLE, Sealer(passphrase="wrong"))
    with pytest.raises(KeyFileError, match="role"):
        read_key_file(ceremony.cold_files[0], HOT_ROLE, sealer)
    doc = json.loads(ceremony.cold_files[1].read_text())
    doc["role"] = cosigner_role(1)  # a cosigner-2 file passed off as cosigner 1: the associated data differs
    with pytest.raises(KeyFileError, match="cannot be decrypted"):
        unseal(doc, cosigner_role(1), sealer)


def test_master_key_sealing_round_trip() -> None:
    s = Sealer(master_key=bytes(range(32)))
    doc = seal({"k": "v"}, "hot-signer", s)
    assert doc["kdf"] == {"name": "master-key"}
    assert unseal(doc, "hot-signer", s) == {"k": "v"}
    with pytest.raises(KeyFileError):
        unseal(doc, "hot-signer", Sealer(master_key=bytes(32)))
    with pytest.raises(KeyFileError, match="passphrase"):
        unseal(seal({}, "r", Sealer(passphrase="p")), "r", s)


def _cosigner_xpub(seed: bytes) -> str:
    root = bip32.HDKey.from_seed(seed, version=bip32.NETWORKS["test"]["xprv"])
    acct = root.derive("m/48h/1h/0h/2h")
    xpub = acct.to_public().to_string(version=bip32.NETWORKS["test"]["xpub"])
    return f"[{root.my_fingerprint.hex()}/48h/1h/0h/2h]{xpub}"


def test_imported_cold_xpubs(tmp_path: Path) -> None:
    xpubs = [_cosigner_xpub(bytes([i]) * 32) for i in (1, 2, 3)]
    s = Sealer(master_key=bytes(32))
    r = run_ceremony(
        tmp_path,
        btc_network="testnet",
        sealer=s,
        cold_xpubs=xpubs,
        cold_evm_address="0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
    )
    assert r.cold_files == []
    pub = PublicWallets.load(r.public_file)
    assert pub.cold_evm_address == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    assert pub.cold_address(0, 0).startswith("tb1q") and len(pub.cold_address(0, 0)) == 62  # P2WSH
    assert pub.deposit_address("BTC", 0).startswith("tb1q")
    with pytest.raises(CustodyError, match="already created"):
        run_ceremony(tmp_path, btc_network="testnet", sealer=s, cold_xpubs=xpubs)


def test_ceremony_refuses_private_or_missing_cold_keys(tmp_path: Path) -> None:
    s = Sealer(master_key=bytes(32))
    root = bip32.HDKey.from_seed(bytes(32), version=bip32.NETWORKS["test"]["xprv"])
    with pytest.raises(CustodyError, match="PUBLIC"):
        run_ceremony(
            tmp_path / "a",
            btc_network="regtest",
            sealer=s,
            cold_xpubs=[root.to_string(), _cosigner_xpub(b"\x02" * 32), _cosigner_xpub(b"\x03" * 32)],
        )
    with pytest.raises(CustodyError, match="three"):
        run_ceremony(tmp_path / "b", btc_network="regtest", sealer=s, cold_xpubs=[_cosigner_xpub(b"\x02" * 32)])
    with pytest.raises(CustodyError, match="--dev"):
        run_ceremony(tmp_path / "c", btc_network="regtest", sealer=s)
    x = _cosigner_xpub(b"\x02" * 32)
    with pytest.raises(CustodyError, match="different"):
        run_ceremony(tmp_path / "d", btc_network="regtest", sealer=s, cold_xpubs=[x, x, _cosigner_xpub(b"\x03" * 32)])


def _cli(argv: list[str], settings: Settings) -> int:
    configure_logging(settings)  # as `braid` does: logs to stderr, answers on stdout
    args = build_parser().parse_args(argv)
    return int(args.run(args, settings))


def test_init_and_address_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BRAID_WALLET_PASSPHRASE", raising=False)  # sealed with the master key file
    settings = Settings(data_dir=str(tmp_path))
    assert _cli(["wallet", "init", "--dev"], settings) == 0
    captured = capsys.readouterr()
    assert "WARNING" in captured.err and "COLD" in captured.err
    summary = json.loads(captured.out)
    assert summary["hot"]["BTC"].startswith("bcrt1q") and len(summary["cold_files"]) == 4
    assert (tmp_path / "master.key").exists()
    read_key_file(summary["hot_file"], HOT_ROLE, Sealer(master_key=load_master_key(None, tmp_path / "master.key")))
    assert _cli(["wallet", "init", "--dev"], settings) == 2  # never overwrites
    assert "already created" in capsys.readouterr().err
    assert _cli(["wallet", "address", "--account", "12", "--network", "eth"], settings) == 0
    first = json.loads(capsys.readouterr().out)
    assert _cli(["wallet", "address", "--account", "12", "--network", "ETH"], settings) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert first["path"] == "m/44'/60'/0'/0/0"
    assert _cli(["wallet", "validate", "--network", "BTC", "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"], settings) == 2
    assert "regtest" in capsys.readouterr().err


def test_public_file_with_a_private_key_is_refused(ceremony: CeremonyResult, sealer: Sealer, tmp_path: Path) -> None:
    doc = json.loads(ceremony.public_file.read_text())
    hot = read_key_file(ceremony.hot_file, HOT_ROLE, sealer)
    doc["deposit"]["ETH"]["xpub"] = hot["keys"]["ETH/deposit"]["xprv"]
    (tmp_path / "p.json").write_text(json.dumps(doc))
    with pytest.raises(CustodyError, match="PRIVATE deposit key for ETH"):
        PublicWallets.load(tmp_path / "p.json")
