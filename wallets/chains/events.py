"""What a chain watcher tells its consumer, and how it asks which addresses are watched.

The consumer (the deposit state machine) implements ``ChainConsumer``. Every observation carries its
idempotency key ``(chain, txid, index)``: ``index`` is the output number for Bitcoin and the log index (or
``"native"`` for the transaction's own value) for Ethereum and BSC. A key seen again after an ``on_orphaned``
is the same payment mined again in the replacement branch, with its new block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

NATIVE = "native"  # the index of an EVM transaction's own value transfer


@dataclass(frozen=True, slots=True)
class BlockRef:
    height: int
    hash: str


@dataclass(frozen=True, slots=True)
class Observation:
    """A payment to a watched address, seen in one block of the best chain."""

    chain: str  # "BTC", "ETH", "BSC" (Binance's network names)
    txid: str
    index: str  # Bitcoin: the output number; EVM: the log index, or "native"
    address: str  # as the chain writes it (bech32 lower case; EVM EIP-55 checksummed)
    asset: str  # "BTC", "ETH", "BNB", or the configured symbol of the token (e.g. "USDT")
    amount: int  # base units (satoshi, wei, token units), never a float
    block_height: int
    block_hash: str
    account: str | None = None  # what the address book answered for the address
    token: str | None = None  # the token contract (EVM logs only)
    # Where the money came from, for screening the deposit's source: Bitcoin, the addresses of the spent
    # outputs (the inputs' prevouts; empty when the node gives no prevout data); EVM, the transaction's
    # ``from`` (native) or the Transfer's ``from`` (tokens).
    sources: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        """The idempotency key: one payment, whichever block it ends up in."""
        return (self.chain, self.txid, self.index)

    def confirmations(self, tip_height: int) -> int:
        """Bitcoin Core's definition: the including block counts as one."""
        return tip_height - self.block_height + 1


@runtime_checkable
class ChainConsumer(Protocol):
    """What the deposit state machine implements. A call that raises stops the watcher; whatever was not
    acknowledged is delivered again when it starts (so a consumer must accept a key it already holds)."""

    async def on_observed(self, observation: Observation) -> None: ...

    async def on_confirmations(self, chain: str, tip: BlockRef, pending: list[tuple[Observation, int]]) -> None:
        """Called on each new best block with every observation still within the confirmation window, and
        its confirmations (tip height - block height + 1)."""

    async def on_orphaned(self, observation: Observation) -> None: ...

    # Optional: ``async def on_pending(observation)`` for a payment seen in the mempool (block_height 0, block_hash
    # ""), before any block; the watcher calls it when the consumer has it.


class AddressBook(Protocol):
    """Which account a deposit address belongs to (custody implements ``account_for``)."""

    def account_for(self, network: str, address: str) -> str | None: ...


Lookup = Callable[[str], "str | None"]


def normalise(network: str, address: str) -> str:
    """The form lookups use: EVM addresses and bech32 in lower case; base58 is case-sensitive and kept."""
    if network != "BTC" or address[:3].lower() in ("bc1", "tb1") or address[:5].lower() == "bcrt1":
        return address.lower()
    return address


class WatchedAddresses:
    """An in-memory address book: one dict per network, so a lookup per output is one hash probe however many
    addresses are watched. Custody fills it at start (and adds each new deposit address) or wraps its own."""

    def __init__(self) -> None:
        self._by_network: dict[str, dict[str, str]] = {}

    def add(self, network: str, address: str, account: str) -> None:
        self._by_network.setdefault(network, {})[normalise(network, address)] = account

    def add_many(self, network: str, pairs: Iterable[tuple[str, str]]) -> None:
        book = self._by_network.setdefault(network, {})
        for address, account in pairs:
            book[normalise(network, address)] = account

    def account_for(self, network: str, address: str) -> str | None:
        return self._by_network.get(network, {}).get(normalise(network, address))

    def lookup_for(self, network: str) -> Lookup:
        """The fast path watchers use: the network's dict ``get`` (addresses already normalised)."""
        return self._by_network.setdefault(network, {}).get

    def __len__(self) -> int:
        return sum(len(d) for d in self._by_network.values())


def lookup_for(book: AddressBook, network: str) -> Lookup:
    """A one-argument lookup of normalised addresses for ``network`` from any address book."""
    fast = getattr(book, "lookup_for", None)
    if fast is not None:
        return fast(network)  # type: ignore[no-any-return]
    return lambda address: book.account_for(network, address)


@dataclass
class MemoryConsumer:
    """Records everything it is told (tests, demos)."""

    observed: list[Observation] = field(default_factory=list)
    orphaned: list[Observation] = field(default_factory=list)
    confirmations: dict[tuple[str, str, str], int] = field(default_factory=dict)
    tips: list[BlockRef] = field(default_factory=list)

    async def on_observed(self, observation: Observation) -> None:
        self.observed.append(observation)

    async def on_confirmations(self, chain: str, tip: BlockRef, pending: list[tuple[Observation, int]]) -> None:
        self.tips.append(tip)
        for observation, confirmations in pending:
            self.confirmations[observation.key] = confirmations

    async def on_orphaned(self, observation: Observation) -> None:
        self.orphaned.append(observation)
        self.confirmations.pop(observation.key, None)

    def live(self) -> dict[tuple[str, str, str], Observation]:
        """Observations not orphaned since (latest block for each key)."""
        gone = {(o.key, o.block_hash) for o in self.orphaned}
        return {o.key: o for o in self.observed if (o.key, o.block_hash) not in gone}
