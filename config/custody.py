"""Custody settings (``BRAID_CUSTODY__<KNOB>``): where the key ceremony writes, and which chains it is for."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator


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
    # Deposits and withdrawals: confirmations, minimums, fees, limits, approvals (below).
    flow: CustodyFlowSettings = Field(default_factory=lambda: CustodyFlowSettings())
    # Hot wallet band per coin on a network, keyed "COIN" (its only network) or "COIN@NETWORK", e.g.
    # {"BTC": {"floor": "0.5", "target": "1", "ceiling": "2"}, "USDT@ETH": {...}}: above the ceiling the treasury
    # plan proposes hot -> cold down to the target, below the floor a cold -> hot refill up to it. Empty: neither.
    hot_limits: dict[str, HotLimit] = Field(default_factory=dict)


class HotLimit(BaseModel):
    """The hot wallet's band for one coin on one network (amounts in the coin)."""

    floor: Decimal = Field(ge=0)
    target: Decimal = Field(ge=0)
    ceiling: Decimal = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> HotLimit:
        if not self.floor <= self.target <= self.ceiling:
            raise ValueError(f"need floor <= target <= ceiling, was {self.floor}/{self.target}/{self.ceiling}")
        return self


def custody_dir(custody: CustodySettings, data_dir: str) -> Path:
    """The ceremony's output directory: ``custody.dir``, or ``<data_dir>/custody``."""
    return Path(custody.dir or os.path.join(data_dir, "custody"))


class CoinNetwork(BaseModel):
    """One coin on one network: what deposits need to be credited and unlocked, and what withdrawals cost."""

    coin: str  # the ledger's asset: BTC, ETH, BNB, USDT
    network: Literal["BTC", "ETH", "BSC"]
    decimals: int = Field(ge=0, le=36)  # base units per coin: 8 for BTC, 18 for ETH/BNB, 6 for USDT on ETH
    contract: str | None = None  # ERC-20/BEP-20 token contract; None for the network's own coin
    credit_confirmations: int = Field(ge=1)  # credited (tradeable) at this many confirmations
    unlock_confirmations: int = Field(ge=1)  # withdrawable at this many (>= credit)
    min_deposit: Decimal = Decimal(0)  # smaller deposits are recorded as dust and never credited
    withdraw_fee: Decimal = Decimal(0)  # network fee charged to the client (to house:fees)
    withdraw_min: Decimal = Decimal(0)
    approval_above: Decimal = Decimal(0)  # a withdrawal above this needs operator approval; 0: never by amount
    daily_limit: Decimal = Decimal(0)  # per account and 24 h (fees excluded); 0: no limit


def _default_coins() -> list[CoinNetwork]:
    return [
        CoinNetwork(
            coin="BTC",
            network="BTC",
            decimals=8,
            credit_confirmations=30,
            unlock_confirmations=30,
            min_deposit=Decimal("0.0001"),
            withdraw_fee=Decimal("0.0002"),
            withdraw_min=Decimal("0.001"),
            approval_above=Decimal(1),
            daily_limit=Decimal(10),
        ),
        CoinNetwork(
            coin="ETH",
            network="ETH",
            decimals=18,
            credit_confirmations=12,
            unlock_confirmations=12,
            min_deposit=Decimal("0.001"),
            withdraw_fee=Decimal("0.002"),
            withdraw_min=Decimal("0.01"),
            approval_above=Decimal(20),
            daily_limit=Decimal(200),
        ),
        CoinNetwork(
            coin="BNB",
            network="BSC",
            decimals=18,
            credit_confirmations=15,
            unlock_confirmations=15,
            min_deposit=Decimal("0.01"),
            withdraw_fee=Decimal("0.001"),
            withdraw_min=Decimal("0.01"),
            approval_above=Decimal(100),
            daily_limit=Decimal(1000),
        ),
        CoinNetwork(
            coin="USDT",
            network="ETH",
            decimals=6,
            contract=None,
            credit_confirmations=12,
            unlock_confirmations=12,
            min_deposit=Decimal(1),
            withdraw_fee=Decimal(5),
            withdraw_min=Decimal(10),
            approval_above=Decimal(50000),
            daily_limit=Decimal(500000),
        ),
        CoinNetwork(
            coin="USDT",
            network="BSC",
            decimals=18,
            contract=None,
            credit_confirmations=15,
            unlock_confirmations=15,
            min_deposit=Decimal(1),
            withdraw_fee=Decimal("0.5"),
            withdraw_min=Decimal(10),
            approval_above=Decimal(50000),
            daily_limit=Decimal(500000),
        ),
    ]


class CustodyFlowSettings(BaseModel):
    """Deposits and withdrawals (``BRAID_CUSTODY__FLOW__<KNOB>``; ``COINS`` as a JSON list)."""

    # Every coin/network Braid takes deposits in and pays withdrawals out of; token contracts (USDT) must be
    # set for the chain in use (they differ between mainnet and a dev chain), until then USDT deposits are ignored.
    coins: list[CoinNetwork] = Field(default_factory=_default_coins)
    approvals: int = Field(default=2, ge=1)  # M distinct operators approve a withdrawal that needs approval
    whitelist_required: bool = True  # withdrawals only to the account's whitelisted addresses
    whitelist_cooloff_s: int = Field(default=86_400, ge=0)  # a new whitelist entry is usable after this long
    anomaly_factor: Decimal = Decimal(5)  # default scoring: amount above this x the account's largest so far
    velocity_per_hour: int = Field(default=5, ge=1)  # default scoring: more withdrawals per hour than this


def coin_network(flow: CustodyFlowSettings, coin: str, network: str) -> CoinNetwork | None:
    """The settings of ``coin`` on ``network`` (case-insensitive), or None when Braid does not support the pair."""
    c, n = coin.upper(), network.upper()
    return next((x for x in flow.coins if x.coin == c and x.network == n), None)


CustodySettings.model_rebuild()
