"""Keys, addresses and signed spends for the Bitcoin tests (embit; the simulator checks what this signs)."""

from __future__ import annotations

import hashlib
from typing import Any

from embit import ec
from embit.networks import NETWORKS
from embit.script import (
    Script,
    Witness,
    address_to_scriptpubkey,
    p2pkh_from_p2wpkh,
    p2wpkh,
)
from embit.transaction import Transaction, TransactionInput, TransactionOutput

REGTEST = NETWORKS["regtest"]


class Key:
    def __init__(self, seed: str) -> None:
        self.priv = ec.PrivateKey(hashlib.sha256(seed.encode()).digest())
        self.pub = self.priv.get_public_key()
        self.script = p2wpkh(self.pub)
        self.address = self.script.address(REGTEST)


def spend(
    key: Key, prevouts: list[tuple[str, int, int]], outputs: list[tuple[str, int]], *, signer: Key | None = None
) -> Transaction:
    """A P2WPKH spend of ``prevouts`` (txid, vout, value) owned by ``key``, signed by ``signer`` (default key)."""
    tx = Transaction(
        version=2,
        vin=[TransactionInput(bytes.fromhex(t), n) for t, n, _ in prevouts],
        vout=[TransactionOutput(v, address_to_scriptpubkey(a)) for a, v in outputs],
    )
    signer = signer or key
    for i, (_, _, value) in enumerate(prevouts):
        digest = tx.sighash_segwit(i, p2pkh_from_p2wpkh(key.script), value)
        sig = signer.priv.sign(digest).serialize() + b"\x01"
        tx.vin[i].witness = Witness([sig, key.pub.sec()])
    return tx


def coinbase_of(block: dict[str, Any]) -> tuple[str, int, int]:
    from wallets.chains import btc_to_sat

    tx = block["tx"][0]
    return tx["txid"], 0, btc_to_sat(tx["vout"][0]["value"])


__all__ = ["REGTEST", "Key", "Script", "coinbase_of", "spend"]
