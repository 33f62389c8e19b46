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
    coins = [
        c.model_copy(update={"contract": USDT_ETH}) if (c.coin, c.network) == ("USDT", "ETH") else c
        for c in CustodyFlowSettings().coins
    ]
    return CustodyFlowSettings(coins=coins, **kw)  # type: ignore[arg-type]


def coins(**kw: object) -> Coins:
    return Coins.from_settings(flow_settings(**kw))


def btc(sat: int) -> Decimal:
    return Decimal(sat).scaleb(-8)


__all__ = ["CoinNetwork", "Obs", "Tip", "btc", "coins", "flow_settings"]


class Crash(BaseException):
    """Stands for the process dying at a given step (nothing after it runs)."""


class FakeEvmNode:
    """A test double of an EVM node's broadcast/lookup/nonce/balance interface: remembers every raw
    transaction it was sent, mines on request. ``crash`` makes the next broadcast die before or after sending."""

    def __init__(self, hot_balance: int = 10**22) -> None:
        from eth_utils import keccak

        self._keccak = keccak
        self.sent: list[bytes] = []  # every broadcast call's bytes (duplicates included)
        self.pool: dict[str, int] = {}  # txid -> confirmations (0 in mempool)
        self.hot_balance = hot_balance
        self.crash: str | None = None  # "before_send" | "after_send"

    async def broadcast(self, network: str, raw: bytes) -> str:
        if self.crash == "before_send":
            self.crash = None
            raise Crash("died before the node got it")
        txid = "0x" + self._keccak(raw).hex()
        self.sent.append(raw)
        self.pool.setdefault(txid, 0)
        if self.crash == "after_send":
            self.crash = None
            raise Crash("died after sending, before recording")
        return txid

    async def lookup(self, network: str, txid: str) -> int | None:
        return self.pool.get(txid)

    def mine(self, n: int = 1) -> None:
        for k in self.pool:
            self.pool[k] += n

    async def nonce(self, network: str, address: str) -> int:
        return len(self.pool)

    async def gas_price(self, network: str) -> int:
        return 1_000_000_000

    async def balance(self, network: str, address: str, token: str | None) -> int:
        return self.hot_balance
