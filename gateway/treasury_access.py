"""The treasury as the gateway opens it, for the command line and the operators' HTTP API alike: the venue
accounts from settings, the hot addresses, the approvals table, and every action checked against the acting
operator's role from the address they act from, then written to the audit log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
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
from treasury import (
    AuditSink,
    Authorizer,
    HotCold,
    NodeHotBalances,
    TableApprovals,
    Transfer,
    Treasury,
    TreasuryError,
    bands,
)
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


async def _hot_cold(settings: Settings, stack: AsyncExitStack) -> HotCold | None:
    """The hot wallet's band keeper when ``custody.hot_limits`` is set and the custody keys exist: hot balances,
    the hot signers and broadcasts through the configured nodes (``braid serve``'s dev chains when they run)."""
    from gateway.custody_runtime import chain_nodes, running_chain_settings
    from gateway.wallet_commands import sealer_from
    from wallets.chains.nodes import BitcoinNode, EvmNode
    from wallets.custody.ceremony import HOT_FILE
    from wallets.custody.coins import Coins
    from wallets.custody.hot_signers import BtcHotSigner, EvmHotSigner
    from wallets.custody.withdrawals import Signer

    keys = custody_dir(settings.custody, settings.data_dir)
    if not settings.custody.hot_limits or not (keys / "api").exists():
        return None
    settings = running_chain_settings(settings)
    public = PublicWallets.load(keys / "api")
    coins = Coins.from_settings(settings.custody.flow)
    nodes = chain_nodes(settings)
    for node in nodes.values():
        stack.push_async_callback(node.close)
    sealer = sealer_from(settings)
    hot_file = keys / "hot-signer" / HOT_FILE
    chain_ids = {"ETH": settings.custody.eth_chain_id, "BSC": settings.custody.bsc_chain_id}
    btc = nodes.get("BTC")
    btc_node = btc if isinstance(btc, BitcoinNode) else None
    evm = {n: node for n, node in nodes.items() if isinstance(node, EvmNode)}
    signers: dict[str, Signer] = {
        n: EvmHotSigner(node, public, coins, hot_file, sealer, chain_ids) for n, node in evm.items()
    }
    if btc_node is not None:
        signers["BTC"] = BtcHotSigner(btc_node, public, hot_file, sealer)
    return HotCold(
        bands(settings.custody.hot_limits, coins),
        public,
        coins,
        balances=NodeHotBalances(public, coins, btc_node, evm),
        chains=dict(nodes),
        signers=signers,
        btc_node=btc_node,
        evm_nodes=evm,
        chain_ids=chain_ids,
    )


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
    stack = AsyncExitStack()
    try:
        # No chain-balance source is wired to the command line yet: wallets=None shows venues only, and refills
        # from the hot wallet are not planned; no hot wallet sender either, so hot -> venue transfers are refused.
        # The hot wallet's own band (custody.hot_limits) is kept by ``HotCold`` against the nodes.
        hot_cold = await _hot_cold(settings, stack)
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
            hot_cold=hot_cold,
        )
    finally:
        await stack.aclose()
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
        "coldArtefact": json.loads(t.artefact) if t.artefact else None,  # what the cold signers sign
    }
