"""The key ceremony: create the wallets from BIP-39 entropy and write each role only what it needs.

- ``<dir>/api/custody-public.json``: extended public keys (deposit and hot, per network), the cold 2-of-3
  descriptor and the cold EVM address. The API process reads this and nothing else.
- ``<dir>/hot-signer/hot-keys.json``: the deposit and hot account extended private keys, sealed (AES-256-GCM,
  role ``hot-signer``). Only the hot signer opens it (to sweep deposits and pay withdrawals).
- Cold keys never reach the server: their xpubs are imported (``[fingerprint/48'/c'/0'/2']xpub``), or in dev
  mode generated into a separate cold directory (``cosigner-N.json``, ``cold-evm.json``), to be moved offline.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from embit import bip32
from embit.descriptor import Descriptor
from embit.networks import NETWORKS as EMBIT_NETWORKS

from wallets.custody import hd
from wallets.custody.addresses import evm_checksum_address
from wallets.custody.errors import CustodyError, InvalidAddress
from wallets.custody.keyfile import Sealer, write_key_file
from wallets.custody.networks import (
    DEPOSIT_ACCOUNT,
    HOT_ACCOUNT,
    NETWORKS,
    account_path,
    btc_params,
    cold_path,
)
from wallets.custody.public import FILE_NAME, PublicWallets

log = structlog.get_logger(__name__)

HOT_ROLE = "hot-signer"
HOT_FILE = "hot-keys.json"
COLD_EVM_ROLE = "cold-evm"


def cosigner_role(n: int) -> str:
    return f"cold-cosigner-{n}"


@dataclass
class CeremonyResult:
    public_file: Path
    hot_file: Path
    cold_files: list[Path] = field(default_factory=list)
    public: PublicWallets | None = None
    mnemonic: str = ""  # the hot/deposit seed words, for the operator's offline backup


def _cold_key_with_origin(text: str, btc_network: str) -> str:
    """Check an imported cold cosigner key and return it as a descriptor key (``[origin]xpub``)."""
    text = text.strip()
    try:
        key = Descriptor.from_string(f"wsh(pk({text}))").keys[0]
    except Exception as exc:
        raise CustodyError(f"cold xpub {text[:20]}... is not an extended public key: {exc}") from exc
    if not key.is_extended:
        raise CustodyError("cold cosigner key must be an extended public key (xpub/tpub), not a single key")
    if key.is_private:
        raise CustodyError("a cold cosigner key must be PUBLIC: never give a private key to the server")
    net = EMBIT_NETWORKS[btc_params(btc_network).embit]
    xpub = key.key.to_string(version=net["xpub"])  # Vpub/tpub/xpub all re-encoded for this network
    origin = f"[{key.origin}]" if key.origin else f"[{key.key.my_fingerprint.hex()}]"
    return f"{origin}{xpub}"


def run_ceremony(
    out_dir: Path,
    *,
    btc_network: str,
    sealer: Sealer,
    cold_xpubs: list[str] | None = None,
    cold_evm_address: str | None = None,
    dev: bool = False,
    cold_dir: Path | None = None,
    mnemonic: str | None = None,
) -> CeremonyResult:
    """Create the wallets. Refuses to overwrite an existing public or hot file."""
    params = btc_params(btc_network)
    public_file = out_dir / "api" / FILE_NAME
    hot_file = out_dir / "hot-signer" / HOT_FILE
    for p in (public_file, hot_file):
        if p.exists():
            raise CustodyError(f"{p} exists: the wallets were already created (move it away to start over)")
    if dev == bool(cold_xpubs):
        raise CustodyError("give exactly three --cold-xpub (the cold cosigners' public keys), or --dev")
    if cold_xpubs is not None and not dev and len(cold_xpubs) != 3:
        raise CustodyError(f"the cold wallet is 2-of-3: give three --cold-xpub, got {len(cold_xpubs)}")

    words = mnemonic or hd.new_mnemonic()
    seed = hd.seed_from_mnemonic(words)
    deposit: dict[str, dict[str, str]] = {}
    hot: dict[str, dict[str, str]] = {}
    secrets_out: dict[str, dict[str, str]] = {}
    for net in NETWORKS:
        pub_versions = hd.btc_versions(params, bip84=True) if net == "BTC" else hd.EVM_VERSIONS
        root = hd.master_key(seed, pub_versions)
        for role, account, table in (("deposit", DEPOSIT_ACCOUNT, deposit), ("hot", HOT_ACCOUNT, hot)):
            path = account_path(net, params, account)
            key = hd.derive(root, path)
            table[net] = {"xpub": str(key.PublicKey().ToExtended()), "path": path}
            secrets_out[f"{net}/{role}"] = {"xprv": str(key.PrivateKey().ToExtended()), "path": path}
            if role == "hot" and net != "BTC":
                table[net]["address"] = hd.evm_address(key, 0, 0)  # an EVM hot wallet is one address

    cold_files: list[Path] = []
    if dev:
        cdir = cold_dir or (out_dir / "cold-DEV-ONLY")
        for p in [cdir / f"cosigner-{n}.json" for n in (1, 2, 3)] + [cdir / "cold-evm.json"]:
            if p.exists():
                raise CustodyError(f"{p} exists: move the old cold keys away first")
        log.warning(
            "DEV MODE: cold keys are being generated on this machine; real cold keys must be made "
            "offline and only their xpubs imported",
            cold_dir=str(cdir),
        )
        cold_keys = []
        net_e = EMBIT_NETWORKS[params.embit]
        for n in (1, 2, 3):
            cw = hd.new_mnemonic()
            root = bip32.HDKey.from_seed(hd.seed_from_mnemonic(cw), version=net_e["xprv"])
            acct = root.derive(cold_path(params))
            origin = cold_path(params).replace("m/", "").replace("'", "h")
            cold_keys.append(
                f"[{root.my_fingerprint.hex()}/{origin}]{acct.to_public().to_string(version=net_e['xpub'])}"
            )
            f = cdir / f"cosigner-{n}.json"
            write_key_file(
                f,
                {"xprv": root.to_string(version=net_e["xprv"]), "mnemonic": cw, "btc_network": btc_network},
                cosigner_role(n),
                sealer,
            )
            cold_files.append(f)
        ew = hd.new_mnemonic()
        evm_root = hd.derive(hd.master_key(hd.seed_from_mnemonic(ew)), "m/44'/60'/0'")
        cold_evm_address = hd.evm_address(evm_root, 0, 0)
        f = cdir / "cold-evm.json"
        write_key_file(
            f,
            {"private_key": hd.private_key_bytes(evm_root, 0, 0).hex(), "address": cold_evm_address, "mnemonic": ew},
            COLD_EVM_ROLE,
            sealer,
        )
        cold_files.append(f)
    else:
        assert cold_xpubs is not None
        cold_keys = [_cold_key_with_origin(x, btc_network) for x in cold_xpubs]
        if len({k.split("]")[-1] for k in cold_keys}) != 3:
            raise CustodyError("the three cold xpubs must be different keys (one per cosigner)")
        if cold_evm_address is not None:
            try:
                cold_evm_address = evm_checksum_address(cold_evm_address)
            except InvalidAddress as exc:
                raise CustodyError(f"--cold-evm-address: {exc}") from exc
    descriptor = f"wsh(sortedmulti(2,{','.join(k + '/<0;1>/*' for k in cold_keys)}))"
    Descriptor.from_string(descriptor)  # parses: fail here, not in the API process

    public = PublicWallets(btc_network, deposit, hot, descriptor, cold_evm_address, int(time.time() * 1000))
    write_key_file(hot_file, {"btc_network": btc_network, "keys": secrets_out}, HOT_ROLE, sealer)
    public.save(public_file)
    log.info("custody wallets created", public=str(public_file), hot=str(hot_file), btc_network=btc_network, dev=dev)
    return CeremonyResult(public_file, hot_file, cold_files, public, words)


def describe(result: CeremonyResult) -> str:
    """A JSON summary (public facts only) for the command line."""
    assert result.public is not None
    pub = result.public
    return json.dumps(
        {
            "public_file": str(result.public_file),
            "hot_file": str(result.hot_file),
            "cold_files": [str(p) for p in result.cold_files],
            "btc_network": pub.btc_network,
            "cold_descriptor": pub.cold_descriptor,
            "cold_evm_address": pub.cold_evm_address,
            "hot": {n: pub.hot_address(n) for n in NETWORKS},
        },
        indent=2,
    )
