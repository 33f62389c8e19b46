"""Broker treasury settings (``BRAID_TREASURY__<KNOB>``): inventory targets per venue and how transfers run."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field, SecretStr, model_validator


class VenueTarget(BaseModel):
    """How much of ``asset`` the broker keeps on ``venue``: rebalance back to ``target`` outside [min, max]."""

    venue: str
    asset: str
    min: Decimal = Field(ge=0)
    target: Decimal = Field(ge=0)
    max: Decimal = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> VenueTarget:
        if not self.min <= self.target <= self.max:
            raise ValueError(
                f"{self.venue} {self.asset}: need min <= target <= max, was {self.min}/{self.target}/{self.max}"
            )
        return self


class TreasuryAccount(BaseModel):
    """The broker's own API key on one venue (reads balances, fetches deposit addresses, withdraws)."""

    api_key: str = ""
    secret: SecretStr = SecretStr("")
    rest_url: str | None = None  # override, e.g. a fake venue on http://127.0.0.1:<port>


class TreasurySettings(BaseModel):
    # The broker's venue accounts by venue name (binance, kraken, htx); a venue without one is left out.
    accounts: dict[str, TreasuryAccount] = Field(default_factory=dict)
    # Distinct operators who must approve a transfer before it runs (the proposer never counts).
    required_approvals: int = Field(default=2, ge=1)
    # Inventory targets, e.g. [{venue="binance", asset="BTC", min="1", target="2", max="4"}]; none: plan nothing.
    targets: list[VenueTarget] = Field(default_factory=list)
    # The network each asset moves on between the hot wallet and the venues.
    networks: dict[str, str] = Field(default_factory=lambda: {"BTC": "BTC", "ETH": "ETH", "USDT": "ETH"})
    # Hot wallet address per network that venue withdrawals go to; empty: derived from the custody public keys.
    hot_addresses: dict[str, str] = Field(default_factory=dict)
    # Kraken withdraws only to named keys set up in the account: hot wallet address -> key name.
    kraken_withdraw_keys: dict[str, str] = Field(default_factory=dict)
    # Smallest transfer worth making, per asset (smaller imbalances are left alone).
    min_transfer: dict[str, Decimal] = Field(default_factory=dict)
