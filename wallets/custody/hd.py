"""Hierarchical deterministic keys (BIP-32/39/44/84) through bip-utils.

The API process only ever calls the public half (``parse_account_key`` on an xpub, ``btc_address``,
``evm_address``); the ceremony and the signers use the private half.
"""

from __future__ import annotations

import secrets
from typing import TypeAlias

from bip_utils import (
    Base58ChecksumError,
    Bip32KeyError,
    Bip32KeyNetVersions,
    Bip32Slip10Secp256k1,
    Bip39MnemonicGenerator,
    Bip39MnemonicValidator,
    Bip39SeedGenerator,
    EthAddrEncoder,
    P2WPKHAddrEncoder,
)
from bip_utils.bip.bip39 import Bip39Languages
from bip_utils.utils.mnemonic import MnemonicChecksumError

from wallets.custody.errors import CustodyError
from wallets.custody.networks import BtcParams

HdKey: TypeAlias = Bip32Slip10Secp256k1
EVM_VERSIONS = Bip32KeyNetVersions(bytes.fromhex("0488b21e"), bytes.fromhex("0488ade4"))  # xpub / xprv


def new_mnemonic(words: int = 24) -> str:
    """A BIP-39 English mnemonic from fresh OS entropy (``secrets``: the OS CSPRNG)."""
    if words not in (12, 15, 18, 21, 24):
        raise ValueError("a BIP-39 mnemonic has 12, 15, 18, 21 or 24 words")
    return mnemonic_from_entropy(secrets.token_bytes(words * 4 // 3))


def mnemonic_from_entropy(entropy: bytes) -> str:
    return str(Bip39MnemonicGenerator(Bip39Languages.ENGLISH).FromEntropy(entropy))


def seed_from_mnemonic(mnemonic: str, passphrase: str = "") -> bytes:  # nosec B107 # BIP-39's empty passphrase default, not a secret
    """The 64-byte BIP-39 seed; ``CustodyError`` if a word or the checksum is wrong."""
    try:
        Bip39MnemonicValidator(Bip39Languages.ENGLISH).Validate(mnemonic)
    except (MnemonicChecksumError, ValueError) as exc:
        raise CustodyError(f"invalid BIP-39 mnemonic: {exc}") from exc
    return bytes(Bip39SeedGenerator(mnemonic, Bip39Languages.ENGLISH).Generate(passphrase))


def master_key(seed: bytes, versions: Bip32KeyNetVersions = EVM_VERSIONS) -> HdKey:
    return Bip32Slip10Secp256k1.FromSeed(seed, versions)


def derive(root: HdKey, path: str) -> HdKey:
    """``root`` derived along ``path`` (``m/84'/0'/0'`` or relative ``0/5``)."""
    rel = path[2:] if path.startswith("m/") else ("" if path == "m" else path)
    return root.DerivePath(rel) if rel else root


def parse_account_key(text: str, versions: Bip32KeyNetVersions) -> HdKey:
    """An extended key (public or private) in the given version bytes; ``CustodyError`` if malformed."""
    try:
        return Bip32Slip10Secp256k1.FromExtendedKey(text.strip(), versions)
    except (Bip32KeyError, Base58ChecksumError, ValueError) as exc:
        raise CustodyError(f"invalid extended key {text[:12]}...: {exc}") from exc


def btc_versions(params: BtcParams, *, bip84: bool) -> Bip32KeyNetVersions:
    """zpub/zprv (vpub/vprv off mainnet) for BIP-84 accounts, else xpub/xprv (tpub/tprv)."""
    if bip84:
        return Bip32KeyNetVersions(params.zpub, params.zprv)
    return Bip32KeyNetVersions(params.xpub, params.xprv)


def p2wpkh_address(key: HdKey, params: BtcParams) -> str:
    """The P2WPKH (bech32) address of ``key``'s public key."""
    return str(P2WPKHAddrEncoder.EncodeKey(key.PublicKey().KeyObject(), hrp=params.hrp))


def eth_address(key: HdKey) -> str:
    """The EIP-55 address of ``key``'s public key."""
    return str(EthAddrEncoder.EncodeKey(key.PublicKey().KeyObject()))


def btc_address(account: HdKey, params: BtcParams, change: int, index: int) -> str:
    """The P2WPKH (bech32) address at ``<account>/change/index`` (public derivation only)."""
    return p2wpkh_address(account.DerivePath(f"{change}/{index}"), params)


def evm_address(account: HdKey, change: int, index: int) -> str:
    """The EIP-55 address at ``<account>/change/index`` (public derivation only)."""
    return eth_address(account.DerivePath(f"{change}/{index}"))


def private_key_bytes(account: HdKey, change: int, index: int) -> bytes:
    """The raw 32-byte private key at ``<account>/change/index`` (signers only)."""
    return bytes(account.DerivePath(f"{change}/{index}").PrivateKey().Raw().ToBytes())
