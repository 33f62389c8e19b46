"""The chains custody knows and their constants: address prefixes, SLIP-44 coin types, extended-key versions.

Derivation layout (one tree per role; accounts are BIP-44 style, hardened):

- BTC deposits ``m/84'/c'/0'`` (external chain ``/0/i``), BTC hot wallet ``m/84'/c'/1'``, with ``c`` 0 on
  mainnet and 1 on testnet/regtest; cold cosigners ``m/48'/c'/0'/2'`` (BIP-48 native-segwit multisig).
- ETH deposits ``m/44'/60'/0'``, ETH hot ``m/44'/60'/1'``; BSC deposits ``m/44'/9006'/0'``, BSC hot
  ``m/44'/9006'/1'`` (SLIP-44 registers 9006 for BSC). Distinct trees keep a client's ETH and BSC addresses
  apart, so an address on one chain never belongs to another client on the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BtcNetwork = Literal["mainnet", "testnet", "regtest"]
Network = Literal["BTC", "ETH", "BSC"]
NETWORKS: tuple[Network, ...] = ("BTC", "ETH", "BSC")
EVM_NETWORKS: tuple[Network, ...] = ("ETH", "BSC")

DEPOSIT_ACCOUNT = 0
HOT_ACCOUNT = 1


@dataclass(frozen=True, slots=True)
class BtcParams:
    """What differs between Bitcoin mainnet, testnet and regtest."""

    name: BtcNetwork
    hrp: str  # bech32 human-readable part
    p2pkh: int  # base58 version byte of P2PKH addresses
    p2sh: int  # base58 version byte of P2SH addresses
    coin: int  # SLIP-44 coin type in derivation paths
    xpub: bytes  # BIP-32 version bytes (SLIP-132): plain extended keys
    xprv: bytes
    zpub: bytes  # BIP-84 single-key P2WPKH account keys (zpub / vpub)
    zprv: bytes
    embit: str  # embit's network name


BTC_PARAMS: dict[BtcNetwork, BtcParams] = {
    "mainnet": BtcParams(
        "mainnet",
        "bc",
        0x00,
        0x05,
        0,
        bytes.fromhex("0488b21e"),
        bytes.fromhex("0488ade4"),
        bytes.fromhex("04b24746"),
        bytes.fromhex("04b2430c"),
        "main",
    ),
    "testnet": BtcParams(
        "testnet",
        "tb",
        0x6F,
        0xC4,
        1,
        bytes.fromhex("043587cf"),
        bytes.fromhex("04358394"),
        bytes.fromhex("045f1cf6"),
        bytes.fromhex("045f18bc"),
        "test",
    ),
    "regtest": BtcParams(
        "regtest",
        "bcrt",
        0x6F,
        0xC4,
        1,
        bytes.fromhex("043587cf"),
        bytes.fromhex("04358394"),
        bytes.fromhex("045f1cf6"),
        bytes.fromhex("045f18bc"),
        "regtest",
    ),
}

EVM_COIN: dict[Network, int] = {"ETH": 60, "BSC": 9006}


def network_name(value: str) -> Network:
    """``btc``/``BTC`` -> ``BTC``; a clear error for anything else."""
    up = value.strip().upper()
    if up not in NETWORKS:
        raise ValueError(f"unknown network {value!r}: expected one of {', '.join(NETWORKS)}")
    return up


def btc_params(name: str) -> BtcParams:
    try:
        return BTC_PARAMS[name]  # type: ignore[index]
    except KeyError:
        raise ValueError(f"unknown Bitcoin network {name!r}: expected mainnet, testnet or regtest") from None


def account_path(network: Network, btc: BtcParams, account: int) -> str:
    """The hardened account path of a deposit or hot wallet."""
    if network == "BTC":
        return f"m/84'/{btc.coin}'/{account}'"
    return f"m/44'/{EVM_COIN[network]}'/{account}'"


def cold_path(btc: BtcParams) -> str:
    """BIP-48 path of a cold cosigner's key for native-segwit (P2WSH) multisig."""
    return f"m/48'/{btc.coin}'/0'/2'"
