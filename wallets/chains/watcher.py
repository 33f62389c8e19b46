"""The chain-independent watcher: follow the best chain, survive reorgs at any depth, resume without repeats.

Per block, in order: the block hash and its observations are committed in one transaction (the outbox), then
handed to the consumer, then marked delivered. Each new block's parent must be the stored tip; when it is not,
or the node's hash at the stored tip height differs, the watcher walks back comparing its stored hashes with
the node's until they agree (any depth), tells the consumer ``on_orphaned`` for what it had reported above that
point, newest first, and then applies the new branch. After a restart it first delivers whatever the outbox
holds undelivered, then goes on from its stored tip.

With ``watch_mempool`` (and a source that has ``pending``, Bitcoin's), each poll also reports payments still in
the node's mempool through the consumer's optional ``on_pending``: not durable, not an observation of any
block (height 0, no hash), only so a deposit shows as pending before its first confirmation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from wallets.chains.events import BlockRef, ChainConsumer, Observation
from wallets.chains.store import WatcherStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ScannedBlock:
    """One block as the watcher needs it: where it is, what it extends, and the payments it holds."""

    ref: BlockRef
    parent_hash: str
    observations: list[Observation] = field(default_factory=list)


class ChainSource(Protocol):
    """A node seen through the one question set the watcher asks (Bitcoin Core RPC, EVM JSON-RPC)."""

    chain: str
    # Node failures the polling loop logs and retries (connection errors and timeouts always are).
    transient_errors: tuple[type[Exception], ...]

    async def tip_height(self) -> int: ...

    async def close(self) -> None: ...

    async def block_hash(self, height: int) -> str | None:
        """The best chain's block hash at ``height``, or None above the node's tip."""

    async def fetch(self, start: int, end: int) -> list[ScannedBlock]:
        """Blocks ``start..end`` (inclusive) of the best chain, in order, scanned for watched addresses. May
        return fewer (a reorg under way); each block's parent is checked by the watcher."""


class ChainWatcher:
    def __init__(
        self,
        source: ChainSource,
        store: WatcherStore,
        consumer: ChainConsumer,
        *,
        start_height: int = 0,
        confirmations_window: int = 64,
        batch_blocks: int = 50,
        poll_interval_s: float = 1.0,
        watch_mempool: bool = False,
    ) -> None:
        self.source = source
        self.store = store
        self.consumer = consumer
        self.chain = source.chain
        self.start_height = start_height
        self.window = confirmations_window
        self.batch_blocks = batch_blocks
        self.poll_interval_s = poll_interval_s
        self.tip: BlockRef | None = None
        self.reorgs = 0
        self._active: list[Observation] = []
        self._resumed = False
        self.watch_mempool = watch_mempool
        self._mempool: set[str] = set()  # txids of the node's mempool already scanned

    @property
    def next_height(self) -> int:
        return self.start_height if self.tip is None else self.tip.height + 1

    async def resume(self) -> None:
        """Load the stored tip, deliver what the outbox holds undelivered, report confirmations once."""
        self.tip = await asyncio.to_thread(self.store.tip)
        for observation, orphaned in await asyncio.to_thread(self.store.undelivered):
            if orphaned:
                await self.consumer.on_orphaned(observation)
            else:
                await self.consumer.on_observed(observation)
            await asyncio.to_thread(self.store.mark_delivered, [observation])
        if self.tip is not None:
            self._active = await asyncio.to_thread(self.store.active_since, self.tip.height - self.window + 1)
            await self._report()
        self._resumed = True
        log.info("chain watcher resumed", chain=self.chain, tip=self.tip and self.tip.height)

    def reload(self) -> None:
        """After a failure (the consumer raised): the next poll resumes from the store, re-delivering what the
        consumer did not acknowledge, as after a restart."""
        self._resumed = False

    async def poll_once(self, max_blocks: int | None = None) -> int:
        """Catch up with the node (at most ``max_blocks`` blocks); returns the number of blocks applied."""
        if not self._resumed:
            await self.resume()
        node_tip = await self.source.tip_height()
        if self.tip is not None:
            at_tip = await self.source.block_hash(self.tip.height) if self.tip.height <= node_tip else None
            if at_tip != self.tip.hash:
                await self._reorg()
        applied = 0
        while self.next_height <= node_tip and (max_blocks is None or applied < max_blocks):
            end = min(node_tip, self.next_height + self.batch_blocks - 1)
            if max_blocks is not None:
                end = min(end, self.next_height + max_blocks - applied - 1)
            blocks = await self.source.fetch(self.next_height, end)
            if not blocks:
                break
            for block in blocks:
                if self.tip is not None and block.parent_hash != self.tip.hash:
                    await self._reorg()
                    break
                await self._apply(block)
                applied += 1
        if self.watch_mempool:
            await self._pending()
        return applied

    async def _pending(self) -> None:
        """Tell the consumer about unconfirmed payments (``on_pending``), once each, if both sides support it."""
        scan = getattr(self.source, "pending", None)
        tell = getattr(self.consumer, "on_pending", None)
        if scan is None or tell is None:
            return
        found, self._mempool = await scan(self._mempool)
        for observation in found:
            await tell(observation)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; node errors are logged and retried at the next poll."""
        retry: tuple[type[Exception], ...] = (OSError, asyncio.TimeoutError, *self.source.transient_errors)
        while not stop.is_set():
            try:
                await self.poll_once()
            except retry as exc:
                log.warning("chain node unreachable", chain=self.chain, error=repr(exc))
            try:
                await asyncio.wait_for(stop.wait(), self.poll_interval_s)
            except TimeoutError:
                pass

    async def close(self) -> None:
        """Close the source's connections."""
        await self.source.close()

    async def _apply(self, block: ScannedBlock) -> None:
        await asyncio.to_thread(self.store.apply_block, block.ref, block.observations)
        self.tip = block.ref
        for observation in block.observations:
            await self.consumer.on_observed(observation)
        await asyncio.to_thread(self.store.mark_delivered, block.observations)
        self._active.extend(block.observations)
        await self._report()

    async def _report(self) -> None:
        assert self.tip is not None
        tip = self.tip.height
        self._active = [o for o in self._active if o.confirmations(tip) <= self.window]
        await self.consumer.on_confirmations(self.chain, self.tip, [(o, o.confirmations(tip)) for o in self._active])

    async def _reorg(self) -> None:
        """Walk back to the highest block both we and the node hold, and undo everything above it."""
        assert self.tip is not None
        height = self.tip.height - 1
        fork: BlockRef | None = None
        node_tip = await self.source.tip_height()
        while height >= self.start_height:
            ours = await asyncio.to_thread(self.store.hash_at, height)
            theirs = await self.source.block_hash(height) if height <= node_tip else None
            if ours is not None and ours == theirs:
                fork = BlockRef(height, ours)
                break
            height -= 1
        fork_height = fork.height if fork else self.start_height - 1
        orphaned = await asyncio.to_thread(self.store.rollback_to, fork_height)
        log.warning(
            "chain reorganisation",
            chain=self.chain,
            replaced_from=fork_height + 1,
            old_tip=self.tip.height,
            orphaned=len(orphaned),
        )
        self.reorgs += 1
        self._active = [o for o in self._active if o.block_height <= fork_height]
        self.tip = fork
        for observation in orphaned:
            await self.consumer.on_orphaned(observation)
            await asyncio.to_thread(self.store.mark_delivered, [observation])
        if self.tip is not None:
            await self._report()  # the tip went back: confirmations of what remains went down
