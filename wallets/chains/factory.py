"""Watchers built from settings (``config.chains``)."""

from __future__ import annotations

from sqlalchemy import Engine

from config.chains import ChainNodeSettings, ChainsSettings, EvmNodeSettings
from wallets.chains.bitcoin import BitcoinRPC, BitcoinSource
from wallets.chains.events import AddressBook, ChainConsumer, lookup_for
from wallets.chains.evm import EvmSource
from wallets.chains.store import WatcherStore
from wallets.chains.watcher import ChainSource, ChainWatcher

CHAINS = ("BTC", "ETH", "BSC")


def build_watcher(
    chain: str, settings: ChainsSettings, engine: Engine, book: AddressBook, consumer: ChainConsumer
) -> ChainWatcher:
    """A watcher of ``chain`` ("BTC", "ETH" or "BSC") on the configured node; tables must exist
    (``create_chain_tables``)."""
    source: ChainSource
    common: ChainNodeSettings
    if chain == "BTC":
        node = settings.btc
        rpc = BitcoinRPC(
            node.rpc_url, node.rpc_user, node.rpc_password.get_secret_value(), timeout_s=node.rpc_timeout_s
        )
        source = BitcoinSource(rpc, lookup_for(book, chain), chain, verbosity=node.block_verbosity)
        common = node
    elif chain in ("ETH", "BSC"):
        evm: EvmNodeSettings = settings.eth if chain == "ETH" else settings.bsc
        source = EvmSource(
            evm.rpc_url,
            lookup_for(book, chain),
            chain=chain,
            native_asset=evm.native_asset,
            tokens={address: symbol for symbol, address in evm.tokens.items()},
            expected_chain_id=evm.chain_id,
            timeout_s=evm.rpc_timeout_s,
        )
        common = evm
    else:
        raise ValueError(f"unknown chain {chain!r}; one of {', '.join(CHAINS)}")
    return ChainWatcher(
        source,
        WatcherStore(engine, chain),
        consumer,
        start_height=common.start_height,
        confirmations_window=common.confirmations_window,
        batch_blocks=common.batch_blocks,
        poll_interval_s=common.poll_interval_s,
        watch_mempool=chain == "BTC" and settings.btc.watch_mempool,
    )
