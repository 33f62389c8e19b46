"""Chain-facing custody: node clients, watchers that follow Bitcoin, Ethereum and BSC through reorgs, and the
observation interface the deposit state machine implements.

Public face: ``Observation``/``BlockRef``/``ChainConsumer``/``MemoryConsumer`` (what watchers report),
``AddressBook``/``WatchedAddresses`` (which addresses are watched), ``ChainWatcher``/``WatcherStore`` (the
reorg-safe, restartable loop and its tables), ``BitcoinRPC``/``BitcoinSource`` (Bitcoin Core's JSON-RPC),
``EvmSource`` (Ethereum and BSC through web3.py), and ``create_chain_tables``. Beside them: ``nodes``
(``BitcoinNode``/``EvmNode``: broadcast, look up by txid, hot coins, balances, for withdrawals, sweeps and the
reserves report), ``devnet`` (the local dev chains ``braid serve`` starts, and ``dev_send``), ``devchain``
(anvil and solc-js from npm) and ``simulators`` (the Bitcoin Core regtest simulator).
"""

from wallets.chains.bitcoin import (
    BitcoinRPC,
    BitcoinRPCError,
    BitcoinSource,
    btc_to_sat,
    scan_bitcoin_block,
)
from wallets.chains.events import (
    NATIVE,
    AddressBook,
    BlockRef,
    ChainConsumer,
    MemoryConsumer,
    Observation,
    WatchedAddresses,
    lookup_for,
    normalise,
)
from wallets.chains.evm import TRANSFER_TOPIC, EvmSource, scan_evm_block
from wallets.chains.models import create_chain_tables
from wallets.chains.store import WatcherStore
from wallets.chains.watcher import ChainSource, ChainWatcher, ScannedBlock

__all__ = [
    "NATIVE",
    "TRANSFER_TOPIC",
    "AddressBook",
    "BitcoinRPC",
    "BitcoinRPCError",
    "BitcoinSource",
    "BlockRef",
    "ChainConsumer",
    "ChainSource",
    "ChainWatcher",
    "EvmSource",
    "MemoryConsumer",
    "Observation",
    "ScannedBlock",
    "WatchedAddresses",
    "WatcherStore",
    "btc_to_sat",
    "create_chain_tables",
    "lookup_for",
    "normalise",
    "scan_bitcoin_block",
    "scan_evm_block",
]
