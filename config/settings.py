"""Braid's settings: every knob has a default, an environment variable and a line in the README.

Sources, strongest first: constructor arguments, environment (``BRAID_*``, nested with ``__``),
the TOML file named by ``BRAID_CONFIG_FILE`` (default ``braid.toml`` in the working directory, if present).
"""

from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config.backoffice import BackOfficeSettings
from config.chains import ChainsSettings
from config.custody import CustodySettings
from config.kyc import KycSettings
from config.screening import ScreeningSettings
from config.treasury import TreasurySettings

VenueName = Literal["binance", "kraken", "htx"]
VENUES: tuple[VenueName, ...] = ("binance", "kraken", "htx")


class VenueSettings(BaseModel):
    """One venue's market-data and fee settings."""

    enabled: bool = True
    taker_fee: Decimal = Decimal("0.001")
    maker_fee: Decimal = Decimal("0.001")
    # A venue whose last frame is older than this is stale and leaves the consolidated book.
    stale_after_s: float = 10.0
    ws_url: str | None = None  # override, e.g. a simulator's ws://127.0.0.1:port/...
    rest_url: str | None = None
    testnet: bool = False  # Binance only: use the testnet endpoints
    depth: int = 1000  # subscribed / snapshot depth
    priority: int = 0  # tie-break between venues at equal effective price: lower wins
    trades: bool = True  # also mirror the venue's public trade stream, on the book's connection


# Per-venue defaults live on subclasses so that overriding one field keeps the venue's other defaults.
class BinanceSettings(VenueSettings):
    pass


class KrakenSettings(VenueSettings):
    taker_fee: Decimal = Decimal("0.0026")
    maker_fee: Decimal = Decimal("0.0016")
    priority: int = 1
    depth: int = 100


class HtxSettings(VenueSettings):
    taker_fee: Decimal = Decimal("0.002")
    maker_fee: Decimal = Decimal("0.002")
    priority: int = 2
    depth: int = 150


class VenuesSettings(BaseModel):
    binance: BinanceSettings = Field(default_factory=BinanceSettings)
    kraken: KrakenSettings = Field(default_factory=KrakenSettings)
    htx: HtxSettings = Field(default_factory=HtxSettings)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BRAID_", env_nested_delimiter="__", extra="ignore", validate_default=True, populate_by_name=True
    )

    env: Literal["development", "production"] = "development"
    log_level: str = "INFO"
    venues: VenuesSettings = Field(default_factory=VenuesSettings)
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USDT", "ETH/USDT"])
    # Reconnect before the venue's own 24 h cut, and back off between attempts.
    ws_max_age_s: float = 23.5 * 3600
    ws_backoff_initial_s: float = 0.5
    ws_backoff_max_s: float = 30.0
    ws_open_timeout_s: float = 10.0
    # Silence on a connection longer than this closes it (the venue's pings keep a healthy one busy).
    ws_silence_timeout_s: float = 60.0
    snapshot_retries: int = 5
    http_timeout_s: float = 10.0
    # Where market data comes from: "live" venues, the shipped "replay" recordings looping at wall-clock time,
    # local "simulated" venues (random walks over real sockets), or "auto" (live if reachable, else replay).
    market_source: Literal["auto", "live", "replay", "simulated"] = "auto"
    # Recordings `braid serve` replays offline (Braid or legacy capture files or folders); empty = the shipped
    # generated market (replay_data/generated/seed1).
    replay_paths: list[str] = Field(default_factory=list)
    replay_speed: float = Field(default=1.0, gt=0)
    host: str = "127.0.0.1"
    port: int = 8080
    # Desk routing policies (config/routing.example.toml); None runs on the built-in defaults.
    routing_file: str | None = None
    # How often the routing file's modification time is checked for a reload; 0 turns watching off.
    routing_reload_s: float = Field(default=2.0, ge=0)
    # Pre-trade risk, per order; None turns a rule off.
    risk_max_order_notional: Decimal | None = Field(default=None, gt=0)
    risk_collar_bps: Decimal | None = Field(default=Decimal(1000), ge=0)
    risk_max_open_orders: int | None = Field(default=200, ge=1)
    # Kill switch price-anomaly rule: halt a symbol whose consolidated mid moves more than
    # this many percent within the window; None turns the rule off.
    kill_anomaly_move_pct: Decimal | None = Field(default=Decimal(10), gt=0)
    kill_anomaly_window_s: float = Field(default=10.0, gt=0)
    # Durable state (wallets/): the ledger, orders, trades, accounts and API keys.
    # Where the embedded default keeps its files (SQLite database, generated master key).
    data_dir: str = "var"
    # SQLAlchemy URL; empty means sqlite:///<data_dir>/braid.db. Also read from plain DATABASE_URL.
    database_url: str = Field(
        default="", validation_alias=AliasChoices("BRAID_DATABASE_URL", "DATABASE_URL", "database_url")
    )
    # PostgreSQL schema holding the tables (None: the connection's default, normally "public").
    database_schema: str | None = None
    # SQLite durability: FULL fsyncs the WAL on every (group) commit, so acknowledged writes survive power loss.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # Most caller writes the group-commit writer puts in one transaction.
    db_max_batch: int = Field(default=4096, ge=1)
    # Base64 of 32 bytes: encrypts API key secrets (AES-256-GCM). Empty: read or create master_key_file.
    master_key: SecretStr | None = None
    # Empty means <data_dir>/master.key (created with mode 0600 on first use).
    master_key_file: str = ""
    # Binance-compatible API (gateway/api): the limits published in exchangeInfo rateLimits.
    api_weight_limit_1m: int = Field(default=6000, ge=1)  # request weight per IP per minute
    api_orders_limit_10s: int = Field(default=100, ge=1)  # new orders per account per 10 s
    api_orders_limit_1d: int = Field(default=200_000, ge=1)  # new orders per account per day
    api_ban_after: int = Field(default=10, ge=0)  # requests refused with 429 in one minute before a 418 ban
    api_ban_s: int = Field(default=120, ge=1)  # length of a 418 ban
    api_ws_connections_5m: int = Field(default=300, ge=1)  # new WebSocket connections per IP per 5 minutes
    api_read_timeout_s: float = Field(default=10.0, gt=0)  # a request's headers, and its body, must arrive within it
    # Braid's commission on each client fill (fraction of the amount received; the broker's markup comes on top).
    api_commission_rate: Decimal = Field(default=Decimal("0.001"), ge=0, lt=Decimal("0.1"))
    api_depth_levels: int = Field(default=200, ge=5, le=5000)  # levels per side the depth book and streams carry
    api_depth_interval_s: float = Field(default=0.1, gt=0)  # how often depth diffs are published
    # The book the API publishes (depth, bookTicker, their streams), never crossed or locked (router/published.py):
    # "netted" (venue prices, the crossed overlap netted out) or "fee_inclusive" (venue taker fees folded in).
    api_published_book: Literal["netted", "fee_inclusive"] = "netted"
    # Public trades (venues' and Braid's own) kept per symbol for trades/historicalTrades/aggTrades, and the
    # 1-second and 1-minute candles kept per symbol for klines and the rolling tickers (gateway/api/market_candles.py).
    api_trades_kept: int = Field(default=10_000, ge=1)
    api_candle_seconds_kept: int = Field(default=3_600, ge=60)
    api_candle_minutes_kept: int = Field(default=10_080, ge=60)
    # `braid serve`: the demo tenant whose URL, key and secret are printed at start ("" turns it off).
    api_demo_tenant: str = "demo"
    # Custody keys and chains (config/custody.py; BRAID_CUSTODY__<KNOB>).
    custody: CustodySettings = Field(default_factory=CustodySettings)
    # Operators, second factors, the audit log and tax reports (config/backoffice.py).
    backoffice: BackOfficeSettings = Field(default_factory=BackOfficeSettings)
    # Sanctions screening and AML monitoring (config/screening.py).
    screening: ScreeningSettings = Field(default_factory=ScreeningSettings)
    # Chain nodes the custody watchers follow (config/chains.py).
    chains: ChainsSettings = Field(default_factory=ChainsSettings)
    # KYC tiers and limits, Travel Rule, identity providers (config/kyc.py; BRAID_KYC__<KNOB>).
    kyc: KycSettings = Field(default_factory=KycSettings)
    # The broker's own inventory across venues and wallets, and rebalancing transfers (config/treasury.py).
    treasury: TreasurySettings = Field(default_factory=TreasurySettings)

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir}/braid.db"
        if not self.master_key_file:
            self.master_key_file = os.path.join(self.data_dir, "master.key")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get("BRAID_CONFIG_FILE", "braid.toml")
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=path))

    def with_venue_overrides(self, overrides: dict[str, dict[str, object]]) -> Settings:
        """A copy whose named venues have the given fields replaced (e.g. URLs of local simulators)."""
        venues = self.venues.model_copy(
            update={name: self.venue(name).model_copy(update=fields) for name, fields in overrides.items()}
        )
        return self.model_copy(update={"venues": venues})

    def venue(self, name: str) -> VenueSettings:
        found = getattr(self.venues, name, None)
        if not isinstance(found, VenueSettings):
            raise KeyError(f"unknown venue {name!r}")
        return found


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
