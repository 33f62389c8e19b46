"""The EVM watcher against real anvil nodes: native and ERC-20 deposits on an Ethereum chain id, a BEP-20
deposit on BSC's chain id, a reorg (anvil_reorg) replacing the deposit's block, and a restart mid-range."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.types import Wei

from wallets.chains import (
    NATIVE,
    ChainWatcher,
    EvmSource,
    MemoryConsumer,
    WatchedAddresses,
    WatcherStore,
)
from wallets.chains.devchain import Anvil, deploy_token


def fresh_address() -> str:
    return AsyncWeb3.to_checksum_address("0x" + os.urandom(20).hex())


@pytest.fixture
async def eth(anvil_eth: Anvil) -> AsyncIterator[AsyncWeb3]:
    w3 = AsyncWeb3(AsyncHTTPProvider(anvil_eth.url))
    yield w3
    await w3.provider.disconnect()


@pytest.fixture
async def bsc(anvil_bsc: Anvil) -> AsyncIterator[AsyncWeb3]:
    w3 = AsyncWeb3(AsyncHTTPProvider(anvil_bsc.url))
    yield w3
    await w3.provider.disconnect()


OPEN: list[ChainWatcher] = []


@pytest.fixture(autouse=True)
async def _close_watchers() -> AsyncIterator[None]:
    yield
    while OPEN:
        await OPEN.pop().close()


async def watcher_for(
    w3: AsyncWeb3,
    url: str,
    engine: Engine,
    book: WatchedAddresses,
    consumer: MemoryConsumer,
    *,
    chain: str,
    native: str,
    tokens: dict[str, str],
    chain_id: int,
    start: int,
) -> ChainWatcher:
    source = EvmSource(
        url, book.lookup_for(chain), chain=chain, native_asset=native, tokens=tokens, expected_chain_id=chain_id
    )
    watcher = ChainWatcher(
        source, WatcherStore(engine, chain), consumer, start_height=start, confirmations_window=20, batch_blocks=4
    )
    OPEN.append(watcher)
    return watcher


async def test_native_and_erc20_deposits_on_ethereum(eth: AsyncWeb3, anvil_eth: Anvil, chain_engine: Engine) -> None:
    sender = (await eth.eth.accounts)[0]
    token = await deploy_token(eth, sender)
    start = await eth.eth.block_number + 1
    alice, bob = fresh_address(), fresh_address()
    book = WatchedAddresses()
    book.add_many("ETH", [(alice, "acct-alice"), (bob, "acct-bob")])
    consumer = MemoryConsumer()
    watcher = await watcher_for(
        eth,
        anvil_eth.url,
        chain_engine,
        book,
        consumer,
        chain="ETH",
        native="ETH",
        tokens={token.address: "USDT"},
        chain_id=31337,
        start=start,
    )
    native_tx = await eth.eth.send_transaction({"from": sender, "to": alice, "value": Wei(2 * 10**18)})
    token_tx = await token.functions.transfer(bob, 12_345_678).transact({"from": sender})
    await token.functions.transfer(fresh_address(), 1).transact({"from": sender})  # not ours
    await eth.eth.send_transaction({"from": sender, "to": fresh_address(), "value": Wei(1)})  # not ours
    await watcher.poll_once()
    got = {(o.asset, o.address, o.amount, o.account, o.index == NATIVE) for o in consumer.observed}
    assert got == {("ETH", alice, 2 * 10**18, "acct-alice", True), ("USDT", bob, 12_345_678, "acct-bob", False)}
    by_asset = {o.asset: o for o in consumer.observed}
    assert by_asset["ETH"].txid == "0x" + bytes(native_tx).hex()
    assert by_asset["USDT"].txid == "0x" + bytes(token_tx).hex() and by_asset["USDT"].token == token.address
    assert by_asset["ETH"].sources == by_asset["USDT"].sources == (sender,)  # tx from, Transfer from
    tip = await eth.eth.block_number
    assert consumer.confirmations[by_asset["ETH"].key] == tip - by_asset["ETH"].block_height + 1
    await eth.provider.make_request("anvil_mine", [3])  # type: ignore[arg-type]
    await watcher.poll_once()
    assert consumer.confirmations[by_asset["USDT"].key] == tip + 3 - by_asset["USDT"].block_height + 1
    assert len(consumer.observed) == 2


async def test_bep20_deposit_on_bsc_chain_id(bsc: AsyncWeb3, anvil_bsc: Anvil, chain_engine: Engine) -> None:
    assert await bsc.eth.chain_id == 56
    sender = (await bsc.eth.accounts)[0]
    token = await deploy_token(bsc, sender, "Tether USD (BEP-20 test)")
    start = await bsc.eth.block_number + 1
    carol = fresh_address()
    book = WatchedAddresses()
    book.add("BSC", carol.lower(), "acct-carol")  # any case: the book normalises
    consumer = MemoryConsumer()
    watcher = await watcher_for(
        bsc,
        anvil_bsc.url,
        chain_engine,
        book,
        consumer,
        chain="BSC",
        native="BNB",
        tokens={token.address: "USDT"},
        chain_id=56,
        start=start,
    )
    await token.functions.transfer(carol, 500_000_000).transact({"from": sender})
    await bsc.eth.send_transaction({"from": sender, "to": carol, "value": Wei(3)})
    await watcher.poll_once()
    assert sorted((o.chain, o.asset, o.amount, o.address) for o in consumer.observed) == [
        ("BSC", "BNB", 3, carol),
        ("BSC", "USDT", 500_000_000, carol),
    ]


async def test_reorg_replaces_the_deposit_block(eth: AsyncWeb3, anvil_eth: Anvil, chain_engine: Engine) -> None:
    sender = (await eth.eth.accounts)[0]
    start = await eth.eth.block_number + 1
    dave, erin = fresh_address(), fresh_address()
    book = WatchedAddresses()
    book.add_many("ETH", [(dave, "acct-dave"), (erin, "acct-erin")])
    consumer = MemoryConsumer()
    watcher = await watcher_for(
        eth,
        anvil_eth.url,
        chain_engine,
        book,
        consumer,
        chain="ETH",
        native="ETH",
        tokens={},
        chain_id=31337,
        start=start,
    )
    await eth.eth.send_transaction({"from": sender, "to": dave, "value": Wei(10**17)})
    await eth.provider.make_request("anvil_mine", [2])  # type: ignore[arg-type]
    await watcher.poll_once()
    [deposit] = consumer.observed
    assert consumer.confirmations[deposit.key] == 3
    # Replace the last three blocks (the deposit's among them) by a branch paying erin instead.
    await eth.provider.make_request(  # type: ignore[arg-type]
        "anvil_reorg", [3, [[{"from": sender, "to": erin, "value": 7}, 1]]]
    )
    await watcher.poll_once()
    assert consumer.orphaned == [deposit]
    assert [(o.address, o.amount) for o in consumer.live().values()] == [(erin, 7)]
    assert deposit.key not in consumer.confirmations and watcher.reorgs == 1


async def test_restart_mid_range_each_deposit_once(eth: AsyncWeb3, anvil_eth: Anvil, chain_engine: Engine) -> None:
    sender = (await eth.eth.accounts)[0]
    token = await deploy_token(eth, sender)
    start = await eth.eth.block_number + 1
    frank = fresh_address()
    book = WatchedAddresses()
    book.add("ETH", frank, "acct-frank")
    for i in range(6):  # anvil mines one block per transaction: 12 blocks, 12 deposits
        await eth.eth.send_transaction({"from": sender, "to": frank, "value": Wei(1000 + i)})
        await token.functions.transfer(frank, 2000 + i).transact({"from": sender})
    kw = dict(chain="ETH", native="ETH", tokens={token.address: "USDT"}, chain_id=31337, start=start)
    first = MemoryConsumer()
    w1 = await watcher_for(eth, anvil_eth.url, chain_engine, book, first, **kw)  # type: ignore[arg-type]
    assert await w1.poll_once(max_blocks=5) == 5
    second = MemoryConsumer()
    w2 = await watcher_for(eth, anvil_eth.url, chain_engine, book, second, **kw)  # type: ignore[arg-type]
    await w2.poll_once()
    amounts = sorted(o.amount for o in first.observed + second.observed)
    assert amounts == sorted([1000 + i for i in range(6)] + [2000 + i for i in range(6)])
    assert len(first.observed) == 5
