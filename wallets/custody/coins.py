"""The coins custody handles on each network (from ``config.custody``), and exact base-unit conversion."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from config.custody import CoinNetwork, CustodyFlowSettings
from wallets.custody.errors import CustodyError


class Coins:
    """Lookups of the configured coin/network pairs: by name, and by token contract for EVM logs."""

    def __init__(self, coins: Iterable[CoinNetwork]) -> None:
        self.all = list(coins)
        self._by_name: dict[tuple[str, str], CoinNetwork] = {(c.network, c.coin): c for c in self.all}
        self._by_contract: dict[tuple[str, str], CoinNetwork] = {
            (c.network, c.contract.lower()): c for c in self.all if c.contract
        }
        for c in self.all:
            if c.unlock_confirmations < c.credit_confirmations:
                raise CustodyError(f"{c.coin} on {c.network}: unlock_confirmations is below credit_confirmations")

    @classmethod
    def from_settings(cls, flow: CustodyFlowSettings) -> Coins:
        return cls(flow.coins)

    def get(self, network: str, coin: str) -> CoinNetwork | None:
        return self._by_name.get((network.upper(), coin.upper()))

    def require(self, network: str, coin: str) -> CoinNetwork:
        found = self.get(network, coin)
        if found is None:
            raise CustodyError(f"{coin} is not supported on network {network}")
        return found

    def for_observation(self, network: str, asset: str, token: str | None) -> CoinNetwork | None:
        """The coin a watcher's payment is in: a token log must come from the configured contract."""
        if token:
            return self._by_contract.get((network.upper(), token.lower()))
        found = self.get(network, asset)
        return found if found is not None and not found.contract else None

    def networks_of(self, coin: str) -> list[CoinNetwork]:
        return [c for c in self.all if c.coin == coin.upper()]


def from_base_units(units: int, decimals: int) -> Decimal:
    """Integer base units (satoshi, wei) as an exact coin amount."""
    return Decimal(int(units)).scaleb(-decimals)
