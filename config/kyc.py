"""KYC settings (``BRAID_KYC__<KNOB>``): each verification tier's limits, the Travel Rule threshold, the
identity providers' credentials and the webhook freshness window.

Amounts are in ``quote_asset`` (valued at the consolidated mid). A limit of ``None`` means "no limit";
``0`` means "nothing". In TOML::

    [kyc]
    enforce = true
    [kyc.tier1]
    daily_withdrawal = "2000"
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field, SecretStr


class TierLimits(BaseModel):
    """What an account at one verification tier may do."""

    may_deposit: bool = False
    may_trade: bool = False
    # Largest single deposit credited free; a larger one is credited but locked until reviewed.
    max_deposit: Decimal | None = Field(default=Decimal(0), ge=0)
    daily_withdrawal: Decimal | None = Field(default=Decimal(0), ge=0)  # per UTC day
    monthly_withdrawal: Decimal | None = Field(default=Decimal(0), ge=0)  # per UTC calendar month
    max_order_notional: Decimal | None = Field(default=Decimal(0), ge=0)  # one order's qty * price


def _tier(deposit: str | None, daily: str | None, monthly: str | None, notional: str | None) -> TierLimits:
    def d(x: str | None) -> Decimal | None:
        return None if x is None else Decimal(x)

    return TierLimits(
        may_deposit=True,
        may_trade=True,
        max_deposit=d(deposit),
        daily_withdrawal=d(daily),
        monthly_withdrawal=d(monthly),
        max_order_notional=d(notional),
    )


class KycSettings(BaseModel):
    # Check tiers on the order path of `braid serve` (off: every account trades as before KYC existed).
    enforce: bool = False
    quote_asset: str = "USDT"  # the currency the limits and the Travel Rule threshold are counted in
    # 0 unverified (no deposits, no trading, no withdrawals: Binance's rule since 2021), 1 basic identity,
    # 2 documents verified, 3 enhanced due diligence.
    tier0: TierLimits = Field(default_factory=TierLimits)
    tier1: TierLimits = Field(default_factory=lambda: _tier("10000", "2000", "20000", "10000"))
    tier2: TierLimits = Field(default_factory=lambda: _tier("1000000", "100000", "1000000", "250000"))
    tier3: TierLimits = Field(default_factory=lambda: _tier(None, "2000000", "20000000", "5000000"))
    # Travel Rule: transfers at or above this value (USD, FATF's de minimis) carry IVMS 101 details.
    travel_rule_threshold: Decimal = Field(default=Decimal(1000), ge=0)
    # Webhooks older than this (by the provider's own timestamp) are refused as stale.
    webhook_max_age_s: int = Field(default=2 * 86400, ge=1)
    # Sumsub: API app token and secret (request signing), the webhook secret key, the level applicants get.
    sumsub_url: str = "https://api.sumsub.com"
    sumsub_app_token: SecretStr | None = None
    sumsub_secret_key: SecretStr | None = None
    sumsub_webhook_secret: SecretStr | None = None
    sumsub_level: str = "basic-kyc-level"
    # Onfido: API token (``Authorization: Token token=...``) and the webhook token (X-SHA2-Signature key).
    onfido_url: str = "https://api.eu.onfido.com/v3.6"
    onfido_api_token: SecretStr | None = None
    onfido_webhook_token: SecretStr | None = None

    def limits(self, tier: int) -> TierLimits:
        """The limits of ``tier`` (0..3)."""
        if tier not in TIERS:
            raise ValueError(f"tier must be one of {TIERS}, received {tier!r}")
        limits: TierLimits = getattr(self, f"tier{tier}")
        return limits


TIERS = (0, 1, 2, 3)
