"""Shared pieces of the deposit and withdrawal tests: a wallet on SQLite/PostgreSQL, and observations as the
chain watchers deliver them (``wallets.chains.events.Observation``'s fields)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from config.custody import CoinNetwork, CustodyFlowSettings
from wallets.custody.coins import Coins

USDT_ETH = "0x" + "11" * 20


@dataclass(frozen=True)
class Obs:
    chain: str
    txid: str
    index: str
    address: str
    asset: str
    amount: int
    block_height: int
    block_hash: str
    account: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class Tip:
    height: int
    hash: str


def flow_settings(**kw: object) -> CustodyFlowSettings:
    coins = [c.model_copy(update={"contract": USDT_ETH}) if (c.coin, c.network) == ("USDT", "ETH") else c
             for c in CustodyFlowSettings().coins]
    return CustodyFlowSettings(coins=coins, **kw)  # type: ignore[arg-type]


def coins(**kw: object) -> Coins:
    return Coins.from_settings(flow_settings(**kw))


def btc(sat: int) -> Decimal:
    return Decimal(sat).scaleb(-8)


__all__ = ["CoinNetwork", "Obs", "Tip", "btc", "coins", "flow_settings"]
