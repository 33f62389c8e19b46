"""The treasury as the gateway opens it, for the command line and the operators' HTTP API alike: the venue
accounts from settings, the hot addresses, the approvals table, and every action checked against the acting
operator's role from the address they act from, then written to the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from compliance import BackOffice
from compliance.operators import APPROVE_WITHDRAWAL, REQUEST_WITHDRAWAL, OperatorError
from config.custody import custody_dir
from config.settings import Settings
from connectors.binance.capital import BinanceCapital
from connectors.binance.trading import BinanceTrading
from connectors.capital import VenueCapital
from connectors.htx.capital import HtxCapital
from connectors.htx.trading import HtxTrading
from connectors.kraken.capital import KrakenCapital
from connectors.kraken.trading import KrakenTrading
from connectors.trading import TradingVenue
from connectors.trading import decimal_text as _s
from treasury import AuditSink, Authorizer, TableApprovals, Transfer, Treasury, TreasuryError
from wallets import WalletError, migrations
from wallets.custody import PublicWallets
from wallets.custody.networks import BTC_PARAMS, NETWORKS
from wallets.db import create_db_engine


def _adapters(settings: Settings) -> tuple[dict[str, TradingVenue], dict[str, VenueCapital]]:
    trading: dict[str, TradingVenue] = {}
    capital: dict[str, VenueCapital] = {}
    keys = settings.treasury.kraken_withdraw_keys
    for name, account in settings.treasury.accounts.items():
        secret = account.secret.get_secret_value()
        url, timeout = account.rest_url, settings.http_timeout_s
        if name == "binance":
            b = BinanceTrading(account.api_key, secret, [], base_url=url, timeout_s=timeout)
            trading[name], capital[name] = b, BinanceCapital(b)
        elif name == "kraken":
            k = KrakenTrading(account.api_key, secret, [], base_url=url, timeout_s=timeout)
            trading[name], capital[name] = k, KrakenCapital(k, keys)
        elif name == "htx":
            h = HtxTrading(account.api_key, secret, [], base_url=url, timeout_s=timeout)
            trading[name], capital[name] = h, HtxCapital(h)
        else:
            raise WalletError(f"treasury.accounts names an unknown venue {name!r} (binance, kraken or htx)")
    return trading, capital


def _hot_addresses(settings: Settings) -> dict[str, str]:
    """Configured hot addresses, else the hot wallet's first address per network from the custody public keys."""
    if settings.treasury.hot_addresses:
        return dict(settings.treasury.hot_addresses)
    path = custody_dir(settings.custody, settings.data_dir) / "api"
    if not path.exists():
        return {}
    public = PublicWallets.load(path)
    return {network: public.hot_address(network) for network in NETWORKS}


# What each treasury action needs from the operator's role (the same permissions as client withdrawals).
PERMISSIONS = {"propose": REQUEST_WITHDRAWAL, "approve": APPROVE_WITHDRAWAL, "reject": APPROVE_WITHDRAWAL}
CLI_IP = "127.0.0.1"  # actions at this machine's command line


def operator_check(bo: BackOffice, ip: str = CLI_IP) -> Authorizer:
    """Only an enabled operator whose role carries the permission, acting from an allowed address, may act (a
    refusal is audited)."""

    def check(actor: str, action: str, target: str) -> None:
        try:
            bo.operators.authorize(bo.operators.get(actor), PERMISSIONS[action], ip)
        except OperatorError as exc:
            raise TreasuryError(f"treasury {action} refused: {exc}") from None

    return check


def audit_to(bo: BackOffice, ip: str = CLI_IP) -> AuditSink:
    """Each treasury action that took effect goes to the back office's audit log."""

    def record(actor: str, action: str, target: str, details: Mapping[str, str]) -> None:
        bo.audit.record(actor, ip, action, target, details)

    return record


@asynccontextmanager
async def open_treasury(settings: Settings, ip: str = CLI_IP) -> AsyncIterator[Treasury]:
    """The treasury on the configured database and venue accounts (closed again on exit); ``ip`` is where the
    acting operator is (the allow-list is checked and the audit log records it)."""
    migrations.upgrade(
        settings.database_url, schema=settings.database_schema, sqlite_synchronous=settings.sqlite_synchronous
    )
    engine = create_db_engine(
        settings.database_url, schema=settings.database_schema, sqlite_synchronous=settings.sqlite_synchronous
    )
    trading, capital = _adapters(settings)
    t = settings.treasury
    bo = BackOffice.from_settings(settings)
    try:
        # No chain-balance source is wired to the command line yet: wallets=None shows venues only, and refills
        # from the hot wallet are not planned; no hot wallet sender either, so hot -> venue transfers are refused.
        yield Treasury(
            engine,
            balances=trading,
            capital=capital,
            wallets=None,
            hot_addresses=_hot_addresses(settings),
            approvals=TableApprovals(engine),
            required_approvals=t.required_approvals,
            targets=t.targets,
            networks=t.networks,
            min_transfer=t.min_transfer,
            btc=BTC_PARAMS[settings.custody.btc_network],
            authorize=operator_check(bo, ip),
            audit=audit_to(bo, ip),
        )
    finally:
        bo.close()
        for venue in trading.values():
            await venue.close()
        engine.dispose()


def transfer_json(t: Transfer) -> dict[str, Any]:
    return {
        "id": t.id,
        "kind": t.kind,
        "venue": t.venue,
        "asset": t.asset,
        "network": t.network,
        "amount": _s(t.amount),
        "address": t.address,
        "state": t.state,
        "proposer": t.proposer,
        "approvers": list(t.approvers),
        "reason": t.reason,
        "clientId": t.client_id,
        "venueRef": t.venue_ref,
        "txId": t.tx_id,
        "error": t.error,
        "created": t.created,
        "updated": t.updated,
    }
