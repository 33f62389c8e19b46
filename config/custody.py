"""Custody settings (``BRAID_CUSTODY__<KNOB>``): where the key ceremony writes, and which chains it is for."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class CustodySettings(BaseModel):
    # Where `braid wallet init` writes: api/ (public keys, read by the API process), hot-signer/ (sealed hot
    # keys) and, in --dev mode only, cold-DEV-ONLY/. Empty means <data_dir>/custody.
    dir: str = ""
    # Bitcoin chain of the wallets: regtest (bcrt1 addresses, the offline dev default), testnet (tb1), mainnet (bc1).
    btc_network: Literal["mainnet", "testnet", "regtest"] = "regtest"
    # EVM chain ids the signers and verifiers bind transactions to (EIP-155); dev defaults are anvil's 31337
    # for ETH and BSC mainnet's 56 (anvil started with --chain-id 56 in the BSC tests).
    eth_chain_id: int = Field(default=31337, ge=1)
    bsc_chain_id: int = Field(default=56, ge=1)
    # Environment variable holding the key-file passphrase (scrypt); unset/empty: key files are sealed with
    # the master key (BRAID_MASTER_KEY / BRAID_MASTER_KEY_FILE).
    passphrase_env: str = "BRAID_WALLET_PASSPHRASE"


def custody_dir(custody: CustodySettings, data_dir: str) -> Path:
    """The ceremony's output directory: ``custody.dir``, or ``<data_dir>/custody``."""
    return Path(custody.dir or os.path.join(data_dir, "custody"))
