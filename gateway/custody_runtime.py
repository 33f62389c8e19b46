"""``braid serve``'s custody: the dev chains (on the embedded default), the deposit watchers feeding the deposit
state machine, and the withdrawal loop (recover in-flight transactions, sign, broadcast, confirm).

On dev chains (``BRAID_CHAINS__DEV__ENABLED``, development only) the Bitcoin regtest simulator and one anvil
per EVM network start first; their URLs and the test token's contract replace the configured nodes and the
USDT contracts, a dev key ceremony runs if no custody keys exist yet, and the hot wallets are funded once.
Otherwise the nodes at ``BRAID_CHAINS__<C>__RPC_URL`` are followed (custody keys from ``braid wallet init``).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import structlog
from pydantic import SecretStr
from sqlalchemy import Engine

from config.custody import custody_dir
from config.settings import Settings
from gateway.api.capital import Custody, balance_events
from wallets import Wallets
from wallets.chains import BitcoinRPC, ChainConsumer, ChainWatcher, create_chain_tables
from wallets.chains.devnet import INFO_FILE, TOKEN_DECIMALS, TOKEN_SYMBOL, DevChainInfo, DevChains
from wallets.chains.factory import build_watcher
from wallets.chains.nodes import BitcoinNode, EvmNode
from wallets.custody import CustodyAddresses, PublicWallets, run_ceremony
from wallets.custody.ceremony import HOT_FILE
from wallets.custody.coins import Coins
from wallets.custody.deposit_flow import DepositFlow
from wallets.custody.hot_signers import BtcHotSigner, EvmHotSigner
from wallets.custody.public import FILE_NAME
from wallets.custody.sweeps import Sweeper
from wallets.custody.withdrawals import ChainClient, Signer, Withdrawals
from wallets.db import create_db_engine

log = structlog.get_logger(__name__)

DEVCHAINS_DIR = "devchains"


def devchains_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / DEVCHAINS_DIR


def dev_settings(settings: Settings, info: DevChainInfo) -> Settings:
    """``settings`` pointed at the running dev chains: node URLs, chain ids, the test token as USDT."""
    chains = settings.chains
    block = float(chains.dev.block_time_s)
    btc = chains.btc.model_copy(
        update={
            "rpc_url": info.btc_url or chains.btc.rpc_url,
            "rpc_user": info.btc_user,
            "rpc_password": SecretStr(info.btc_password),
            "poll_interval_s": min(chains.btc.poll_interval_s, block),
        }
    )
    evm: dict[str, Any] = {}
    for net, node in (("ETH", chains.eth), ("BSC", chains.bsc)):
        dev = info.evm.get(net)
        if dev is not None:
            evm[net.lower()] = node.model_copy(
                update={
                    "rpc_url": dev.url,
                    "chain_id": dev.chain_id,
                    "tokens": {TOKEN_SYMBOL: dev.token},
                    "poll_interval_s": min(node.poll_interval_s, block),
                }
            )
    coins = []
    for c in settings.custody.flow.coins:
        dev = info.evm.get(c.network)
        if c.coin == TOKEN_SYMBOL and dev is not None:
            c = c.model_copy(update={"contract": dev.token, "decimals": TOKEN_DECIMALS})
        coins.append(c)
    flow = settings.custody.flow.model_copy(update={"coins": coins})
    custody = settings.custody.model_copy(update={"flow": flow})
    running = [n for n in chains.networks if (n == "BTC" and info.btc_url) or n in info.evm]  # started ones
    update = {"btc": btc, "networks": running, **evm}
    return settings.model_copy(update={"chains": chains.model_copy(update=update), "custody": custody})


def dev_chains_on(settings: Settings) -> bool:
    return settings.chains.dev.enabled and settings.env == "development"


def running_chain_settings(settings: Settings) -> Settings:
    """For commands run beside ``braid serve``: ``settings`` pointed at its dev chains when they are on and
    have been started (``<data_dir>/devchains/devchains.json``), else unchanged (the configured nodes)."""
    info_file = devchains_dir(settings) / INFO_FILE
    if not dev_chains_on(settings) or not info_file.exists():
        return settings
    return dev_settings(settings, DevChainInfo.load(info_file))


def chain_nodes(settings: Settings) -> dict[str, BitcoinNode | EvmNode]:
    """Clients of the followed networks' nodes (``settings.chains``)."""
    nodes: dict[str, BitcoinNode | EvmNode] = {}
    for net in settings.chains.networks:
        if net == "BTC":
            b = settings.chains.btc
            rpc = BitcoinRPC(b.rpc_url, b.rpc_user, b.rpc_password.get_secret_value(), timeout_s=b.rpc_timeout_s)
            nodes[net] = BitcoinNode(rpc)
        else:
            e = settings.chains.eth if net == "ETH" else settings.chains.bsc
            nodes[net] = EvmNode(e.rpc_url, timeout_s=e.rpc_timeout_s)
    return nodes


class _Book:
    """The watchers' address book over the deposit addresses (accounts as text, as observations carry them)."""

    def __init__(self, addresses: CustodyAddresses) -> None:
        self.addresses = addresses

    def account_for(self, network: str, address: str) -> str | None:
        found = self.addresses.account_for(network, address)
        return None if found is None else str(found)


@dataclass
class CustodyRuntime:
    settings: Settings  # as in effect (pointed at the dev chains when they run)
    custody: Custody
    devchains: DevChains | None = None
    watchers: list[ChainWatcher] = field(default_factory=list)
    nodes: dict[str, BitcoinNode | EvmNode] = field(default_factory=dict)
    engine: Engine | None = None
    deposits: DepositFlow | None = None
    sweeper: Sweeper | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for watcher in self.watchers:
            await watcher.close()
        for node in self.nodes.values():
            await node.close()
        self.custody.addresses.close()
        if self.engine is not None:
            self.engine.dispose()
        if self.devchains is not None:
            await self.devchains.stop()

    async def _watch(self, watcher: ChainWatcher) -> None:
        """Run a watcher; a failure (the consumer's included) is logged and the watcher resumed from its store."""
        while not self._stop.is_set():
            try:
                await watcher.run(self._stop)
            except Exception as exc:  # noqa: BLE001 - keep serving; the outbox re-delivers what was not acknowledged
                log.error("chain watcher failed; resuming", chain=watcher.chain, error=repr(exc))
                watcher.reload()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), watcher.poll_interval_s)

    async def _withdrawals(self, interval_s: float, sweep_interval_s: float) -> None:
        """Withdrawal rounds, and sweeps every ``sweep_interval_s`` in the same loop: a sweep's gas top-up uses
        the hot wallet's nonce, so it never runs between a withdrawal's signing and its broadcast."""
        wd = self.custody.withdrawals
        loop = asyncio.get_running_loop()
        recovered = False
        next_sweep = loop.time() + sweep_interval_s
        while not self._stop.is_set():
            try:
                if not recovered:
                    await wd.recover()  # in-flight transactions first: looked up by txid, resent only if missing
                    recovered = True
                await wd.process()  # held withdrawals whose compliance case was closed move on here too
                if self.deposits is not None:
                    await self.deposits.recheck()  # held and locked deposits: a case closed, a tier changed...
                if sweep_interval_s > 0 and self.sweeper is not None and loop.time() >= next_sweep:
                    next_sweep = loop.time() + sweep_interval_s
                    await self.sweeper.sweep()
            except Exception as exc:  # noqa: BLE001 - a node hiccup: try again next round
                log.error("withdrawal or sweep round failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval_s)


def custody_wanted(settings: Settings) -> bool:
    """Custody will run (or its operator-side state machine exist): keys from ``braid wallet init``, or dev chains."""
    return dev_chains_on(settings) or (_keys_dir(settings) / "api" / FILE_NAME).exists()


def _keys_dir(settings: Settings) -> Path:
    return custody_dir(settings.custody, settings.data_dir)


async def start_custody(
    settings: Settings, wallets: Wallets, ctx: Any, compliance: Any = None
) -> CustodyRuntime | None:
    """Start what custody needs while serving and set ``ctx.custody``; None when custody stays off (no keys
    and no dev chains, or ``BRAID_CHAINS__WATCH=false``: then the capital API only has its operator-side
    state machine, as before). ``compliance``: an object with ``withdrawal_hooks(flow)`` and ``deposit_hooks()``
    (keyword arguments for ``Withdrawals`` and ``DepositFlow``: screening, holds, operator checks). A failure
    to start (a dev chain's port taken, a node refusing the chain id) is logged and serving goes on without
    deposits and withdrawals, which the capital endpoints then say."""
    try:
        return await _start_custody(settings, wallets, ctx, compliance)
    except Exception as exc:
        log.error("custody not started: deposits and withdrawals are off", error=repr(exc), exc_info=True)
        ctx.custody = None
        return None


async def _start_custody(settings: Settings, wallets: Wallets, ctx: Any, compliance: Any) -> CustodyRuntime | None:
    from gateway.api.capital import custody_from_settings

    chains = settings.chains
    dev_on = dev_chains_on(settings)
    if not chains.watch:
        ctx.custody = custody_from_settings(settings, wallets, compliance)
        return None
    devchains: DevChains | None = None
    if dev_on:
        devchains = DevChains(
            devchains_dir(settings),
            list(chains.networks),
            chain_ids={"ETH": settings.custody.eth_chain_id, "BSC": settings.custody.bsc_chain_id},
            block_time_s=chains.dev.block_time_s,
            ports={"BTC": chains.dev.btc_port, "ETH": chains.dev.eth_port, "BSC": chains.dev.bsc_port},
        )
        try:
            settings = dev_settings(settings, await devchains.start())
            return await _start(settings, wallets, ctx, devchains, compliance)
        except BaseException:
            await devchains.stop()
            raise
    return await _start(settings, wallets, ctx, None, compliance)


async def _start(
    settings: Settings, wallets: Wallets, ctx: Any, devchains: DevChains | None, compliance: Any
) -> CustodyRuntime | None:
    from gateway.wallet_commands import sealer_from

    chains = settings.chains
    keys = _keys_dir(settings)
    sealer = sealer_from(settings)
    if not (keys / "api" / FILE_NAME).exists():
        if devchains is None:
            log.warning("no custody keys (`braid wallet init`): deposits and withdrawals are off")
            ctx.custody = None
            return None
        log.warning("dev chains: running a DEV key ceremony (cold keys on this machine; never for real funds)")
        await asyncio.to_thread(run_ceremony, keys, btc_network=settings.custody.btc_network, sealer=sealer, dev=True)
    public = PublicWallets.load(keys / "api")
    addresses = CustodyAddresses.open(settings.database_url, public, schema=settings.database_schema)
    flow = settings.custody.flow
    coins = Coins.from_settings(flow)
    hot_file = keys / "hot-signer" / HOT_FILE
    networks = list(chains.networks)
    nodes = chain_nodes(settings)
    chain_ids = {"ETH": settings.custody.eth_chain_id, "BSC": settings.custody.bsc_chain_id}
    signers: dict[str, Signer] = {}
    for net, node in nodes.items():
        if isinstance(node, BitcoinNode):
            signers[net] = BtcHotSigner(node, public, hot_file, sealer)
        else:
            signers[net] = EvmHotSigner(node, public, coins, hot_file, sealer, chain_ids)
    on_deposit, on_withdrawal = balance_events(ctx)
    clients: dict[str, ChainClient] = dict(nodes)
    hooks: dict[str, Any] = compliance.withdrawal_hooks(flow) if compliance is not None else {}
    withdrawals = Withdrawals(
        wallets.store,
        wallets.ledger,
        flow,
        btc=public.btc,
        chains=clients,
        signers=signers,
        on_balance=on_withdrawal,
        **hooks,
    )
    custody = Custody(addresses, withdrawals, compliance)
    runtime = CustodyRuntime(settings, custody, devchains, nodes=nodes)
    btc_node = nodes.get("BTC")
    runtime.sweeper = Sweeper(
        public,
        addresses,
        coins,
        hot_file,
        sealer,
        btc=btc_node if isinstance(btc_node, BitcoinNode) else None,
        evm={n: node for n, node in nodes.items() if isinstance(node, EvmNode)},
        chain_ids=chain_ids,
    )
    try:
        deposit_hooks: dict[str, Any] = compliance.deposit_hooks() if compliance is not None else {}
        deposits = DepositFlow(wallets.store, wallets.ledger, addresses, coins, on_step=on_deposit, **deposit_hooks)
        await deposits.load()
        runtime.deposits = deposits
        engine = create_db_engine(settings.database_url, schema=settings.database_schema)
        runtime.engine = engine
        await asyncio.to_thread(create_chain_tables, engine, settings.database_schema)
        book = _Book(addresses)
        consumer = cast(ChainConsumer, deposits)  # its ObservationLike is what Observation provides
        runtime.watchers = [build_watcher(net, settings.chains, engine, book, consumer) for net in networks]
        if devchains is not None:
            await devchains.fund_hot({n: public.hot_address(n) for n in networks}, chains.dev.hot_funding)
    except BaseException:
        runtime.devchains = None  # the caller stops them
        await runtime.stop()
        raise
    loop = asyncio.get_running_loop()
    runtime._tasks = [loop.create_task(runtime._watch(w)) for w in runtime.watchers]
    runtime._tasks.append(
        loop.create_task(runtime._withdrawals(chains.withdrawals_interval_s, chains.sweep_interval_s))
    )
    ctx.custody = custody
    log.info("custody running", networks=networks, dev_chains=devchains is not None)
    return runtime
