"""Wire the API over a market: paper venues on the mirrored books, the internal engine, the router,
the orders service over wallets, and the API context. Used by ``braid serve``, the tests and the benchmark.
"""

from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable, Mapping
from decimal import Decimal

from compliance import BackOffice, Kyc, KycStore
from compliance.providers import KycWebhooks
from config.instruments import Instrument
from config.settings import Settings
from connectors.book import VenueBook
from domain import now_ms
from gateway.api.auth import Authenticator, WalletKeys
from gateway.api.context import ApiContext
from gateway.api.marketdata import MarketPublisher
from gateway.api.ratelimit import Limits, RateLimiter
from gateway.orders_service import OrdersService
from gateway.treasury_access import open_treasury
from internal_book import MatchingEngine
from router.consolidated import ConsolidatedMarket
from router.killswitch import KillSwitch, Scope
from router.paper import PaperVenue
from router.risk import PreTradeRisk, RiskLimits
from router.sor import SmartOrderRouter
from wallets import Wallets, load_master_key

BookLookup = Callable[[str], VenueBook | None]


def internal_instrument(symbol: str, like: Instrument | None = None) -> Instrument:
    """The rules Braid publishes for a symbol: a venue's (Binance's if known) or sensible defaults."""
    base, _, quote = symbol.partition("/")
    if like is not None and like.tick_size and like.step_size:
        return Instrument(
            symbol,
            base,
            quote,
            "internal",
            base + quote,
            like.tick_size,
            like.step_size,
            min_qty=like.min_qty,
            max_qty=like.max_qty,
            min_price=like.min_price,
            max_price=like.max_price,
            min_notional=like.min_notional,
            max_notional=like.max_notional,
        )
    return Instrument(
        symbol,
        base,
        quote,
        "internal",
        base + quote,
        Decimal("0.01"),
        Decimal("0.00001"),
        min_qty=Decimal("0.00001"),
        max_qty=Decimal("9000"),
        min_notional=Decimal("1"),
    )


def limits_from(settings: Settings) -> Limits:
    return Limits(
        weight_1m=settings.api_weight_limit_1m,
        orders_10s=settings.api_orders_limit_10s,
        orders_1d=settings.api_orders_limit_1d,
        ban_after=settings.api_ban_after,
        ban_s=settings.api_ban_s,
        ws_connections_5m=settings.api_ws_connections_5m,
    )


def build_context(
    settings: Settings,
    market: ConsolidatedMarket,
    books: Mapping[str, BookLookup],
    instruments: Mapping[tuple[str, str], Instrument],
    wallets: Wallets,
    published: Mapping[str, Instrument],
    clock_ms: Callable[[], int] | None = None,
) -> ApiContext:
    """The API context over ``market``: ``books`` maps a venue to its mirrored-book lookup (paper execution),
    ``instruments`` the venues' rules, ``published`` the rules clients see per canonical symbol. ``clock_ms``
    is the wall clock of the service (orders' times, the engine's, signatures' windows, rate-limit windows,
    serverTime; None: the system clock): the fault suite steps it backwards."""
    clock = clock_ms or now_ms
    venues = {v: PaperVenue(v, lookup, taker_fee=settings.venue(v).taker_fee) for v, lookup in books.items()}
    internal = {sym: inst for sym, inst in published.items()}
    engine = MatchingEngine(list(internal.values()))
    router = SmartOrderRouter(
        market,
        venues,
        {**instruments, **{("internal", s): i for s, i in internal.items()}},
        engine=engine,
        settings=settings,
        compare_venues=False,
        clock=time.time_ns if clock_ms is None else (lambda: clock() * 1_000_000),
    )
    backoffice = BackOffice.open(
        wallets.store.url, master_key=wallets.keys.master_key, schema=wallets.store.schema, settings=settings.backoffice
    )
    audit_halts(router.killswitch, backoffice)
    kyc = build_kyc(settings, market, wallets, backoffice)
    account_limits = kyc.limits if kyc is not None and settings.kyc.enforce else None
    service = OrdersService(
        router,
        wallets,
        dict(internal),
        commission_rate=settings.api_commission_rate,
        risk=PreTradeRisk(RiskLimits.from_settings(settings), account_limits=account_limits),
        clock_ms=clock,
    )
    publisher = MarketPublisher(
        {i.base + i.quote: market.book(s) for s, i in internal.items()},
        levels=settings.api_depth_levels,
        interval_s=settings.api_depth_interval_s,
        internal=service.resting_levels,
        mode=settings.api_published_book,
        trades_kept=settings.api_trades_kept,
        seconds_kept=settings.api_candle_seconds_kept,
        minutes_kept=settings.api_candle_minutes_kept,
    )
    return ApiContext(
        service=service,
        auth=Authenticator(WalletKeys(wallets.keys), clock_ms=clock),
        limiter=RateLimiter(limits_from(settings), clock_ms=clock),
        publisher=publisher,
        backoffice=backoffice,
        kyc=None if kyc is None else KycWebhooks(kyc),
        # the operators' treasury API, where venue accounts are configured (opened per action, as the CLI does)
        treasury=functools.partial(open_treasury, settings) if settings.treasury.accounts else None,
        read_timeout_s=settings.api_read_timeout_s,
    )


def audit_halts(killswitch: KillSwitch, backoffice: BackOffice) -> None:
    """Every kill-switch halt (by hand or by the anomaly rule) goes into the audit log."""

    async def record(scope: Scope) -> None:
        halt = next((h for h in killswitch.halts() if h.scope == scope), None)
        by, reason = (halt.by, halt.reason) if halt is not None else ("?", "")
        await backoffice.audit.arecord(by, "local", "killswitch.halt", str(scope), {"reason": reason})

    killswitch.on_halt(record)


def build_kyc(
    settings: Settings, market: ConsolidatedMarket, wallets: Wallets, backoffice: BackOffice | None = None
) -> Kyc | None:
    """KYC over the ledger's database when it is enforced or a provider's webhook is configured, else None.
    Prices for the limits: the consolidated mid of ``<asset>/<quote asset>``; tier changes go into the back
    office's audit log."""
    k = settings.kyc
    if not (k.enforce or k.sumsub_webhook_secret or k.onfido_webhook_token):
        return None
    master = load_master_key(
        settings.master_key.get_secret_value() if settings.master_key else None, settings.master_key_file
    )
    store = KycStore(wallets.store.url, master, schema=wallets.store.schema)

    def price_of(asset: str) -> Decimal | None:
        return market.book(f"{asset}/{k.quote_asset}").mid()

    if backoffice is None:
        return Kyc(k, store, price_of)
    return Kyc(k, store, price_of, audit=backoffice.audit.record)


def freeze_start_up_heap() -> None:
    """Move everything alive after start-up (imported libraries such as ccxt: ~200k objects) out of the
    collector's reach. Without it every full collection rescans them: a ~150 ms stall about once a second under
    order load, which was the whole p99. Call once, when the service is built."""
    gc.collect()
    gc.freeze()
