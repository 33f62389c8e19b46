"""Withdrawal destination checks per network, with an error that says what is wrong.

Bitcoin: bech32 (witness v0, BIP-173) and bech32m (v1+, BIP-350) with the configured network's prefix
(``bc``, ``tb``, ``bcrt``), and legacy base58check P2PKH/P2SH with the network's version byte.
EVM (ETH, BSC): ``0x`` + 40 hex digits; a mixed-case address must carry a valid EIP-55 checksum (all lower
or all upper case carries none and is accepted as unchecksummed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from embit import base58
from embit.bech32 import CHARSET, Encoding, bech32_decode, convertbits
from eth_utils.crypto import keccak

from wallets.custody.errors import InvalidAddress
from wallets.custody.networks import BTC_PARAMS, BtcParams, Network, network_name

Kind = Literal["p2wpkh", "p2wsh", "p2tr", "witness", "p2pkh", "p2sh", "evm"]


@dataclass(frozen=True, slots=True)
class ValidAddress:
    """An address that passed validation: ``address`` in canonical form (bech32 lower case, EIP-55)."""

    network: Network
    address: str
    kind: Kind
    script_pubkey: bytes = b""  # Bitcoin only: the output script paying to it


def validate_address(network: str, address: str, btc: BtcParams | None = None) -> ValidAddress:
    """Check ``address`` for ``network`` (BTC on ``btc``'s chain, default mainnet); ``InvalidAddress`` if not."""
    net = network_name(network)
    if not isinstance(address, str) or not address.strip():
        raise InvalidAddress(f"{net} address is empty")
    if address != address.strip():
        raise InvalidAddress(f"{net} address has leading or trailing spaces")
    if net == "BTC":
        return _btc(address, btc or BTC_PARAMS["mainnet"])
    return ValidAddress(net, evm_checksum_address(address, net), "evm")


def normalize(network: Network, address: str) -> str:
    """The lookup key of an address: EVM addresses in lower case, bech32 in lower case, base58 as is."""
    low = address.lower()
    if network != "BTC" or any(low.startswith(p.hrp + "1") for p in BTC_PARAMS.values()):
        return low
    return address


# ---- EVM ----


def to_checksum(address_hex40: str) -> str:
    """EIP-55: upper-case each letter whose nibble of keccak256(lower-case hex) is >= 8."""
    low = address_hex40.lower()
    digest = keccak(text=low).hex()
    return "0x" + "".join(c.upper() if c in "abcdef" and int(digest[i], 16) >= 8 else c for i, c in enumerate(low))


def evm_checksum_address(address: str, network: str = "ETH") -> str:
    if not address.startswith("0x"):
        raise InvalidAddress(f"{network} address must start with 0x, got {address[:6]!r}...")
    body = address[2:]
    if len(body) != 40:
        raise InvalidAddress(f"{network} address must have 40 hex digits after 0x, has {len(body)}")
    if any(c not in "0123456789abcdefABCDEF" for c in body):
        raise InvalidAddress(f"{network} address has a character that is not hex")
    good = to_checksum(body)
    if body != body.lower() and body != body.upper() and address != good:
        raise InvalidAddress(
            f"{network} address has a wrong EIP-55 checksum (mixed case does not match; check for a typo)"
        )
    return good


# ---- Bitcoin ----


def _btc(address: str, p: BtcParams) -> ValidAddress:
    low = address.lower()
    for other in sorted(BTC_PARAMS.values(), key=lambda o: -len(o.hrp)):  # bcrt before bc
        if low.startswith(other.hrp + "1"):
            if other.hrp != p.hrp:
                raise InvalidAddress(
                    f"BTC address is for {other.name} (prefix {other.hrp}1) but this server runs "
                    f"on {p.name} (prefix {p.hrp}1)"
                )
            return _segwit(address, p)
    return _base58(address, p)


def _segwit(address: str, p: BtcParams) -> ValidAddress:
    if address.lower() != address and address.upper() != address:
        raise InvalidAddress("BTC bech32 address mixes upper and lower case")
    if len(address) > 90:
        raise InvalidAddress("BTC bech32 address is longer than 90 characters")
    body = address.lower()[len(p.hrp) + 1 :]
    bad = sorted({c for c in body if c not in CHARSET})
    if bad:
        raise InvalidAddress(f"BTC bech32 address has characters outside the bech32 alphabet: {''.join(bad)!r}")
    encoding, hrp, data = bech32_decode(address)
    if encoding is None or hrp != p.hrp or not data:
        raise InvalidAddress("BTC bech32 address checksum is wrong (check for a typo)")
    version = data[0]
    program = convertbits(data[1:], 5, 8, False)
    if version > 16 or program is None or not 2 <= len(program) <= 40:
        raise InvalidAddress("BTC bech32 address has an invalid witness program")
    if version == 0 and encoding != Encoding.BECH32:
        raise InvalidAddress("BTC witness v0 address must use bech32, not bech32m")
    if version != 0 and encoding != Encoding.BECH32M:
        raise InvalidAddress(f"BTC witness v{version} address must use bech32m (BIP-350), not bech32")
    prog = bytes(program)
    kind: Kind
    if version == 0:
        if len(prog) == 20:
            kind = "p2wpkh"
        elif len(prog) == 32:
            kind = "p2wsh"
        else:
            raise InvalidAddress(f"BTC witness v0 program must be 20 or 32 bytes, is {len(prog)}")
    elif version == 1 and len(prog) == 32:
        kind = "p2tr"
    else:
        kind = "witness"
    op = 0 if version == 0 else 0x50 + version
    return ValidAddress("BTC", address.lower(), kind, bytes([op, len(prog)]) + prog)


def _base58(address: str, p: BtcParams) -> ValidAddress:
    bad = sorted({c for c in address if c not in base58.B58_DIGITS})
    if bad:
        raise InvalidAddress(
            f"BTC address is neither bech32 ({p.hrp}1...) nor base58: characters {''.join(bad)!r} are not allowed"
        )
    try:
        raw = base58.decode_check(address)
    except ValueError:
        raise InvalidAddress("BTC base58 address checksum is wrong (check for a typo)") from None
    if len(raw) != 21:
        raise InvalidAddress(f"BTC base58 address has {len(raw)} bytes, expected 21")
    version, h = raw[0], raw[1:]
    if version == p.p2pkh:
        return ValidAddress("BTC", address, "p2pkh", b"\x76\xa9\x14" + h + b"\x88\xac")
    if version == p.p2sh:
        return ValidAddress("BTC", address, "p2sh", b"\xa9\x14" + h + b"\x87")
    for other in BTC_PARAMS.values():
        if version in (other.p2pkh, other.p2sh):
            raise InvalidAddress(
                f"BTC base58 address is for {other.name} (version byte {version}) but this server runs on {p.name}"
            )
    raise InvalidAddress(f"BTC base58 address has an unknown version byte {version}")
