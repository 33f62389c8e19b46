"""Withdrawal address validation per network: good addresses pass in canonical form, bad ones say why."""

from __future__ import annotations

import pytest

from wallets.custody import InvalidAddress, validate_address
from wallets.custody.networks import BTC_PARAMS

MAIN, TEST, REG = BTC_PARAMS["mainnet"], BTC_PARAMS["testnet"], BTC_PARAMS["regtest"]

GOOD_BTC = [
    # BIP-173 / BIP-350 valid addresses, BIP-84 vector, BIP-44/49 vectors, BIP-67 vector 1
    ("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", MAIN, "p2wpkh"),
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", MAIN, "p2wpkh"),
    ("bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", MAIN, "p2wsh"),
    ("bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr", MAIN, "p2tr"),
    ("1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA", MAIN, "p2pkh"),
    ("37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf", MAIN, "p2sh"),
    ("39bgKC7RFbpoCRbtD5KEdkYKtNyhpsNa3Z", MAIN, "p2sh"),
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", TEST, "p2wsh"),
    ("2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2", TEST, "p2sh"),
    ("bcrt1qs758ursh4q9z627kt3pp5yysm78ddny6txaqgw", REG, "p2wpkh"),
]


@pytest.mark.parametrize("address,params,kind", GOOD_BTC)
def test_good_btc(address: str, params: object, kind: str) -> None:
    v = validate_address("BTC", address, params)  # type: ignore[arg-type]
    assert v.kind == kind
    assert v.address == (address.lower() if "1" in address[:5] and address[:2].lower() in ("bc", "tb") else address)
    assert v.script_pubkey


BAD_BTC = [
    ("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyv", MAIN, "checksum"),  # last character changed
    ("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", REG, "mainnet"),  # wrong network
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", MAIN, "testnet"),
    ("bc1qcr8te4kr609gcawutmrza0j4Xv80jy8z306fyu", MAIN, "mixes"),
    ("bc1qcr8te4kr609gcawutmrza0j4bv80jy8z306fyu", MAIN, "alphabet"),  # 'b' is not bech32
    # BIP-350 invalid: v0 program encoded with bech32m; v1 with bech32
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", MAIN, "bech32m|checksum"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", MAIN, "bech32m|checksum"),
    ("1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabB", MAIN, "checksum"),
    ("1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeab0", MAIN, "base58"),  # 0 is not base58
    ("2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2", MAIN, "testnet"),
    ("", MAIN, "empty"),
    (" bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", MAIN, "spaces"),
]


@pytest.mark.parametrize("address,params,reason", BAD_BTC)
def test_bad_btc(address: str, params: object, reason: str) -> None:
    with pytest.raises(InvalidAddress, match=reason):
        validate_address("BTC", address, params)  # type: ignore[arg-type]


@pytest.mark.parametrize("network", ["ETH", "BSC", "eth"])
def test_evm(network: str) -> None:
    assert (
        validate_address(network, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").address
        == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    )
    for bad, why in [
        ("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA", "40 hex"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg", "not hex"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "EIP-55"),
        ("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "0x"),
    ]:
        with pytest.raises(InvalidAddress, match=why):
            validate_address(network, bad)


def test_unknown_network() -> None:
    with pytest.raises(ValueError, match="unknown network"):
        validate_address("DOGE", "D8vFz4p1L37jdg47HXKtSHA5uYLYxbGgPD")
