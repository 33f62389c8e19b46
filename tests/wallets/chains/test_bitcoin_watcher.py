"""The Bitcoin watcher against the simulator over HTTP: confirmations, reorgs before and after confirmations,
two outputs in one transaction, and a restart in the middle of a block range (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from tests.wallets.chains.btc import Key, coinbase_of, spend
from wallets.chains import (
    BitcoinRPC,
    BitcoinSource,
    ChainWatcher,
    MemoryConsumer,
    WatchedAddresses,
    WatcherStore,
)

COIN = 100_000_000


def make_watcher(
    rpc: BitcoinRPC, engine: Engine, book: WatchedAddresses, consumer: MemoryConsumer, **kw: Any
) -> ChainWatcher:
    return ChainWatcher(
        BitcoinSource(rpc, book.lookup_for("BTC")),
        WatcherStore(engine, "BTC"),
        consumer,
        start_height=kw.pop("start_height", 1),
        confirmations_window=kw.pop("window", 10),
        **kw,
    )


async def fund_two(rpc: BitcoinRPC, miner: Key, a: Key, b: Key) -> str:
    """Mature a coinbase, then pay 1 BTC to ``a`` and 2 BTC to ``b`` in one transaction (in the mempool)."""
    await rpc.call("generatetoaddress", 101, miner.address)
    prevout = coinbase_of(await rpc.getblock(await rpc.getblockhash(1)))
    tx = spend(miner, [prevout], [(a.address, COIN), (b.address, 2 * COIN), (miner.address, 47 * COIN - 1000)])
    return await rpc.sendrawtransaction(tx.serialize().hex())


async def test_two_outputs_seen_with_confirmations(rpc: BitcoinRPC, chain_engine: Engine) -> None:
    miner, a, b = Key("miner"), Key("a"), Key("b")
    book = WatchedAddresses()
    book.add("BTC", a.address, "acct-a")
    book.add("BTC", b.address, "acct-b")
    consumer = MemoryConsumer()
    watcher = make_watcher(rpc, chain_engine, book, consumer, start_height=100)
    txid = await fund_two(rpc, miner, a, b)
    assert await watcher.poll_once() == 2  # blocks 100, 101: nothing for us yet
    assert consumer.observed == []
    [bhash] = await rpc.call("generatetoaddress", 1, miner.address)
    await watcher.poll_once()
    got = {(o.account, o.amount, o.index) for o in consumer.observed}
    assert got == {("acct-a", COIN, "0"), ("acct-b", 2 * COIN, "1")}
    assert all(o.txid == txid and o.block_height == 102 and o.block_hash == bhash for o in consumer.observed)
    assert all(o.sources == (miner.address,) for o in consumer.observed)  # the spent prevout's address
    assert consumer.confirmations == {("BTC", txid, "0"): 1, ("BTC", txid, "1"): 1}
    await rpc.call("generatetoaddress", 2, miner.address)
    await watcher.poll_once()
    assert consumer.confirmations == {("BTC", txid, "0"): 3, ("BTC", txid, "1"): 3}
    assert len(consumer.observed) == 2


async def test_reorg_after_confirmations_orphans_then_replays(rpc: BitcoinRPC, chain_engine: Engine) -> None:
    """The deposit's block (3 confirmations deep) is invalidated; the transaction returns to the mempool and is
    mined again in the longer replacement branch: orphaned first, then observed in its new block."""
    miner, a, b = Key("miner"), Key("a"), Key("b")
    book = WatchedAddresses()
    book.add_many("BTC", [(a.address, "acct-a"), (b.address, "acct-b")])
    consumer = MemoryConsumer()
    watcher = make_watcher(rpc, chain_engine, book, consumer, start_height=100)
    txid = await fund_two(rpc, miner, a, b)
    [deposit_block] = await rpc.call("generatetoaddress", 1, miner.address)
    await rpc.call("generatetoaddress", 2, miner.address)
    await watcher.poll_once()
    assert consumer.confirmations[("BTC", txid, "0")] == 3

    await rpc.call("invalidateblock", deposit_block)
    assert txid in await rpc.getrawmempool()
    await rpc.call("generatetoaddress", 4, Key("other").address)
    await watcher.poll_once()
    assert {(o.index, o.block_hash) for o in consumer.orphaned} == {("0", deposit_block), ("1", deposit_block)}
    live = consumer.live()
    assert {k: (o.amount, o.block_height) for k, o in live.items()} == {
        ("BTC", txid, "0"): (COIN, 102),
        ("BTC", txid, "1"): (2 * COIN, 102),
    }
    assert all(o.block_hash != deposit_block for o in live.values())
    assert consumer.confirmations[("BTC", txid, "0")] == 4
    assert watcher.reorgs == 1


async def test_reorg_before_confirmation_by_a_longer_competing_branch(rpc: BitcoinRPC, chain_engine: Engine) -> None:
    """A competing branch from below the deposit's block wins; it holds a different payment to a watched
    address (its coinbase) and not the deposit, which goes back to the mempool."""
    miner, a, b, c = Key("miner"), Key("a"), Key("b"), Key("c")
    book = WatchedAddresses()
    book.add_many("BTC", [(a.address, "acct-a"), (b.address, "acct-b"), (c.address, "acct-c")])
    consumer = MemoryConsumer()
    watcher = make_watcher(rpc, chain_engine, book, consumer, start_height=100)
    txid = await fund_two(rpc, miner, a, b)
    [deposit_block] = await rpc.call("generatetoaddress", 1, miner.address)
    await watcher.poll_once()
    assert consumer.confirmations[("BTC", txid, "0")] == 1
    fork_parent = await rpc.getblockhash(101)
    branch = await rpc.call("simminebranch", fork_parent, 2, c.address)
    assert await rpc.getblockhash(103) == branch[-1]
    await watcher.poll_once()
    assert {o.block_hash for o in consumer.orphaned} == {deposit_block}
    assert set(consumer.live()) == {
        ("BTC", await _coinbase_txid(rpc, branch[0]), "0"),
        ("BTC", await _coinbase_txid(rpc, branch[1]), "0"),
    }
    assert txid in await rpc.getrawmempool()
    assert ("BTC", txid, "0") not in consumer.confirmations


async def _coinbase_txid(rpc: BitcoinRPC, bhash: str) -> str:
    return str((await rpc.getblock(bhash, 1))["tx"][0])


async def test_restart_in_the_middle_of_a_range_observes_each_once(rpc: BitcoinRPC, chain_engine: Engine) -> None:
    c = Key("c")
    book = WatchedAddresses()
    book.add("BTC", c.address, "acct-c")
    hashes = await rpc.call("generatetoaddress", 20, c.address)  # 20 coinbases to a watched address
    first = MemoryConsumer()
    assert await make_watcher(rpc, chain_engine, book, first).poll_once(max_blocks=7) == 7
    assert len(first.observed) == 7
    # A crash after a block was committed but before its observations were handed over: the outbox keeps them.
    store = WatcherStore(chain_engine, "BTC")
    half = BitcoinSource(rpc, book.lookup_for("BTC"))
    [block8] = await half.fetch(8, 8)
    store.apply_block(block8.ref, block8.observations)
    second = MemoryConsumer()
    restarted = make_watcher(rpc, chain_engine, book, second)
    await restarted.poll_once()
    assert restarted.tip is not None and restarted.tip.height == 20
    seen = [o.block_hash for o in first.observed + second.observed]
    assert sorted(seen) == sorted(hashes) and len(set(seen)) == 20
    third = MemoryConsumer()
    await make_watcher(rpc, chain_engine, book, third).poll_once()
    assert third.observed == [] and third.orphaned == []


async def test_reorg_deeper_than_the_window_and_the_batch(rpc: BitcoinRPC, chain_engine: Engine) -> None:
    """A replaced block 25 deep (beyond the 10-block confirmation window and the 5-block batch) is found."""
    miner, a, b = Key("miner"), Key("a"), Key("b")
    book = WatchedAddresses()
    book.add_many("BTC", [(a.address, "acct-a"), (b.address, "acct-b")])
    consumer = MemoryConsumer()
    watcher = make_watcher(rpc, chain_engine, book, consumer, start_height=100, batch_blocks=5)
    txid = await fund_two(rpc, miner, a, b)
    [deposit_block] = await rpc.call("generatetoaddress", 1, miner.address)
    await rpc.call("generatetoaddress", 24, miner.address)
    await watcher.poll_once()
    assert len(consumer.observed) == 2
    assert consumer.confirmations[("BTC", txid, "0")] == 10  # reports stop at the window (10); it is 25 deep
    await rpc.call("simminebranch", await rpc.getblockhash(101), 26, miner.address)
    await watcher.poll_once()
    assert {o.block_hash for o in consumer.orphaned} == {deposit_block}
    assert consumer.live() == {} and txid in await rpc.getrawmempool()
    assert watcher.tip is not None and watcher.tip.hash == await rpc.call("getbestblockhash")


async def test_run_loop_survives_an_unreachable_node_and_follows_new_blocks(
    btc_sim: object, chain_engine: Engine
) -> None:
    import asyncio
    import time

    c = Key("c")
    book = WatchedAddresses()
    book.add("BTC", c.address, "acct-c")
    dead = BitcoinRPC("http://127.0.0.1:9/", "alice", "secret", timeout_s=1)  # nothing listens on port 9
    consumer = MemoryConsumer()
    stop = asyncio.Event()
    down = make_watcher(dead, chain_engine, book, consumer, poll_interval_s=0.05)
    task = asyncio.create_task(down.run(stop))
    await asyncio.sleep(0.3)
    assert not task.done()  # errors are logged and retried, not raised
    stop.set()
    await task
    await down.close()

    live = BitcoinRPC(btc_sim.url, "alice", "secret")  # type: ignore[attr-defined]
    watcher = make_watcher(live, chain_engine, book, consumer, poll_interval_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    await live.call("generatetoaddress", 3, c.address)
    deadline = time.monotonic() + 10
    while len(consumer.observed) < 3 and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the watcher's output
        await asyncio.sleep(0.02)
    stop.set()
    await task
    await watcher.close()
    assert [o.block_height for o in consumer.observed] == [1, 2, 3]


class PendingConsumer(MemoryConsumer):
    def __init__(self) -> None:
        super().__init__()
        self.pending: list[Any] = []

    async def on_pending(self, observation: Any) -> None:
        self.pending.append(observation)


async def test_mempool_payment_reported_pending_once_then_mined(rpc: BitcoinRPC, chain_engine: Engine) -> None:
    miner, a, b = Key("miner"), Key("a"), Key("b")
    book = WatchedAddresses()
    book.add("BTC", a.address, "acct-a")
    consumer = PendingConsumer()
    watcher = make_watcher(rpc, chain_engine, book, consumer, start_height=100, watch_mempool=True)
    txid = await fund_two(rpc, miner, a, b)
    await watcher.poll_once()
    await watcher.poll_once()  # still in the mempool: not reported twice
    assert [(o.txid, o.account, o.amount, o.block_hash, o.sources) for o in consumer.pending] == [
        (txid, "acct-a", COIN, "", (miner.address,))
    ]
    assert consumer.observed == []  # nothing durable until it is in a block
    await rpc.call("generatetoaddress", 1, miner.address)
    await watcher.poll_once()
    assert [o.txid for o in consumer.observed] == [txid] and len(consumer.pending) == 1


class FailingOnce(MemoryConsumer):
    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def on_observed(self, observation: Any) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("consumer down")
        await super().on_observed(observation)


async def test_consumer_failure_then_reload_redelivers_from_the_outbox(rpc: BitcoinRPC, chain_engine: Engine) -> None:
    miner, a, b = Key("miner"), Key("a"), Key("b")
    book = WatchedAddresses()
    book.add("BTC", a.address, "acct-a")
    consumer = FailingOnce()
    watcher = make_watcher(rpc, chain_engine, book, consumer, start_height=100)
    txid = await fund_two(rpc, miner, a, b)
    await rpc.call("generatetoaddress", 1, miner.address)
    try:
        await watcher.poll_once()
    except RuntimeError:
        pass
    else:
        raise AssertionError("the consumer's failure did not stop the poll")
    watcher.reload()  # what `braid serve`'s supervisor does before polling again
    await watcher.poll_once()
    assert [(o.txid, o.account) for o in consumer.observed] == [(txid, "acct-a")]  # delivered once, after all
