"""Sweeps on real nodes: deposits at least ``unlock_confirmations`` deep move from the deposit addresses into the
hot wallet (BTC on the regtest simulator; ETH and the repo's ERC-20 on anvil, the token after a gas top-up from
the hot wallet), signed by the deposit keys; shallower ones stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest_asyncio
from web3 import AsyncHTTPProvider, AsyncWeb3

from config.custody import CustodyFlowSettings
from tests.wallets.custody.conftest import PASSPHRASE
from wallets.chains import BitcoinRPC
from wallets.chains.devchain import Anvil, deploy_token
from wallets.chains.devnet import BTC_PASSWORD, BTC_USER, DevChainInfo, dev_send, faucet_address
from wallets.chains.nodes import BitcoinNode, EvmNode
from wallets.chains.simulators import BitcoinSimulator
from wallets.custody import PublicWallets
from wallets.custody.ceremony import CeremonyResult
from wallets.custody.coins import Coins
from wallets.custody.keyfile import Sealer
from wallets.custody.sweeps import Sweeper

UNLOCK = 3


class Indexes:
    def __init__(self, by_network: dict[str, dict[str, int]]) -> None:
        self.by_network = by_network

    def deposit_indexes(self, network: str) -> dict[str, int]:
        return self.by_network.get(network, {})


def _coins() -> Coins:
    return Coins(
        c.model_copy(update={"credit_confirmations": UNLOCK, "unlock_confirmations": UNLOCK})
        for c in CustodyFlowSettings().coins
    )


def _sweeper(ceremony: CeremonyResult, public: PublicWallets, indexes: Indexes, **nodes: Any) -> Sweeper:
    return Sweeper(
        public,
        indexes,
        _coins(),
        ceremony.hot_file,
        Sealer(passphrase=PASSPHRASE),
        chain_ids={"ETH": 31337},
        **nodes,
    )


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[BitcoinSimulator]:
    node = BitcoinSimulator(BTC_USER, BTC_PASSWORD)
    await node.start()
    node.mine(101, faucet_address())
    yield node
    await node.stop()


async def test_btc_deep_deposits_swept_into_the_hot_wallet(
    sim: BitcoinSimulator, ceremony: CeremonyResult, public: PublicWallets
) -> None:
    info = DevChainInfo(btc_url=sim.url)
    deep, shallow = public.deposit_address("BTC", 11), public.deposit_address("BTC", 12)
    await dev_send(info, "BTC", deep, Decimal("0.3"))
    await dev_send(info, "BTC", deep, Decimal("0.2"))
    sim.mine(UNLOCK, faucet_address())
    await dev_send(info, "BTC", shallow, Decimal("0.7"))
    sim.mine(1, faucet_address())
    node = BitcoinNode(BitcoinRPC(sim.url, BTC_USER, BTC_PASSWORD))
    try:
        sweeper = _sweeper(ceremony, public, Indexes({"BTC": {deep: 11, shallow: 12}}), btc=node)
        txid = await sweeper.sweep_btc()
        assert txid in sim.node.mempool  # the simulator checked both deposit-key signatures
        sim.mine(1, faucet_address())
        hot = public.hot_address("BTC")
        balances = await node.balances([deep, shallow, hot])
        assert deep not in balances and balances[shallow] == 70_000_000  # not deep enough yet
        assert 49_990_000 < balances[hot] < 50_000_000  # 0.5 BTC less the fee
        assert await sweeper.sweep_btc() is None  # nothing deep left until the shallow one matures
    finally:
        await node.close()


async def test_eth_deep_deposit_swept_less_gas(
    anvil_eth: Anvil, ceremony: CeremonyResult, public: PublicWallets
) -> None:
    w3 = AsyncWeb3(AsyncHTTPProvider(anvil_eth.url))
    node = EvmNode(anvil_eth.url)
    try:
        funder = (await w3.eth.accounts)[0]
        deposit = public.deposit_address("ETH", 21)
        await w3.eth.send_transaction({"from": funder, "to": deposit, "value": w3.to_wei(1, "ether")})
        sweeper = _sweeper(ceremony, public, Indexes({"ETH": {deposit: 21}}), evm={"ETH": node})
        assert await sweeper.sweep_evm("ETH") == []  # one confirmation: not yet
        hot = public.hot_address("ETH")
        before = await w3.eth.get_balance(hot)
        await w3.provider.make_request("anvil_mine", [UNLOCK])  # type: ignore[arg-type]
        [txid] = await sweeper.sweep_evm("ETH")
        receipt = await w3.eth.get_transaction_receipt(txid)  # type: ignore[arg-type]
        assert receipt["status"] == 1 and receipt["from"] == deposit
        assert await w3.eth.get_balance(deposit) == 0  # everything, the gas included
        gained = await w3.eth.get_balance(hot) - before
        assert 0 < 10**18 - gained == receipt["gasUsed"] * receipt["effectiveGasPrice"]
        assert await sweeper.sweep_evm("ETH") == []
    finally:
        await node.close()
        await w3.provider.disconnect()


async def test_token_deposit_gets_gas_then_is_swept(
    anvil_eth: Anvil, ceremony: CeremonyResult, public: PublicWallets
) -> None:
    w3 = AsyncWeb3(AsyncHTTPProvider(anvil_eth.url))
    node = EvmNode(anvil_eth.url)
    try:
        funder = (await w3.eth.accounts)[0]
        token = await deploy_token(w3, funder)
        hot, deposit = public.hot_address("ETH"), public.deposit_address("ETH", 31)
        await w3.eth.send_transaction({"from": funder, "to": hot, "value": w3.to_wei(1, "ether")})
        await token.functions.transfer(deposit, 55 * 10**6).transact({"from": funder})
        coins = Coins(
            c.model_copy(update={"contract": token.address}) if c.coin == "USDT" and c.network == "ETH" else c
            for c in _coins().all
        )
        sweeper = Sweeper(
            public,
            Indexes({"ETH": {deposit: 31}}),
            coins,
            ceremony.hot_file,
            Sealer(passphrase=PASSPHRASE),
            evm={"ETH": node},
            chain_ids={"ETH": 31337},
        )
        assert await sweeper.sweep_evm("ETH") == []  # not deep enough yet
        await w3.provider.make_request("anvil_mine", [UNLOCK])  # type: ignore[arg-type]
        hot_tokens = await token.functions.balanceOf(hot).call()
        [top_up] = await sweeper.sweep_evm("ETH")
        assert (await w3.eth.get_transaction(top_up))["from"] == hot  # type: ignore[arg-type]
        assert await w3.eth.get_balance(deposit) > 0 and await token.functions.balanceOf(deposit).call() == 55 * 10**6
        [transfer] = await sweeper.sweep_evm("ETH")  # the next round: the gas is there
        assert (await w3.eth.get_transaction_receipt(transfer))["status"] == 1  # type: ignore[arg-type]
        assert await token.functions.balanceOf(deposit).call() == 0
        assert await token.functions.balanceOf(hot).call() == hot_tokens + 55 * 10**6
        assert await sweeper.sweep_evm("ETH") == []
    finally:
        await node.close()
        await w3.provider.disconnect()
