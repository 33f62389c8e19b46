"""Withdrawals end to end on real nodes: ETH and the repo's ERC-20 on anvil, BTC on the regtest simulator.
Request -> approvals -> hot-signed -> stored -> broadcast -> confirmed -> ledger final; above the hot wallet's
balance -> waiting for the cold path; and a crash after the signed transaction was stored (before or after
the node got it): the restarted state machine finds it by txid and rebroadcasts only if the node lacks it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from embit import ec
from embit.networks import NETWORKS
from embit.script import p2wpkh
from web3 import AsyncHTTPProvider, AsyncWeb3

from config.custody import CustodyFlowSettings
from tests.wallets.conftest import Db
from tests.wallets.custody.conftest import PASSPHRASE
from tests.wallets.custody.flow_helpers import Crash, flow_settings
from wallets import Wallets
from wallets.chains import BitcoinRPC
from wallets.chains.devchain import Anvil, deploy_token
from wallets.chains.devnet import BTC_PASSWORD, BTC_USER, DevChainInfo, dev_send, faucet_address
from wallets.chains.nodes import BitcoinNode, EvmNode
from wallets.chains.simulators import BitcoinSimulator
from wallets.custody import PublicWallets
from wallets.custody.ceremony import CeremonyResult
from wallets.custody.coins import Coins
from wallets.custody.hot_signers import BtcHotSigner, EvmHotSigner
from wallets.custody.keyfile import Sealer
from wallets.custody.withdrawals import Withdrawals

OPS = ("op1", "op2")
ROOT = Path(__file__).resolve().parents[3]


class CrashingNode:
    """The real node, but the process 'dies' around the next broadcast: before the node gets the bytes, or
    after it got them and before Braid recorded the broadcast."""

    def __init__(self, node: Any, where: str) -> None:
        self.node, self.where, self.sends = node, where, 0

    async def broadcast(self, network: str, raw: bytes) -> str:
        if self.where == "before_send":
            raise Crash("died before sending")
        txid: str = await self.node.broadcast(network, raw)
        self.sends += 1
        raise Crash("died after sending, before recording")
        return txid  # pragma: no cover

    async def lookup(self, network: str, txid: str) -> int | None:
        return await self.node.lookup(network, txid)  # type: ignore[no-any-return]


@pytest_asyncio.fixture
async def wallet(tmp_path: Any) -> AsyncIterator[Wallets]:
    w = Db(f"sqlite:///{tmp_path}/braid.db", None).open()
    await w.start()
    yield w
    await w.close()


async def _account(w: Wallets, coin: str, amount: Decimal) -> int:
    t = await w.accounts.create_tenant(f"t{os.urandom(3).hex()}")
    a = (await w.accounts.create_account(t.tenant_id, "a@x")).account_id
    await w.ledger.credit(a, coin, amount, "seed")
    return a


async def _approve(wd: Withdrawals, wid: str) -> None:
    for op in OPS:
        await wd.approve(wid, op)


# ---- EVM on anvil ------------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def evm(anvil_eth: Anvil, public: PublicWallets) -> AsyncIterator[dict[str, Any]]:
    w3 = AsyncWeb3(AsyncHTTPProvider(anvil_eth.url))
    funder = (await w3.eth.accounts)[0]
    token = await deploy_token(w3, funder)
    hot = public.hot_address("ETH")
    await w3.eth.send_transaction({"from": funder, "to": hot, "value": w3.to_wei(5, "ether")})
    await token.functions.transfer(hot, 1_000 * 10**6).transact({"from": funder})
    node = EvmNode(anvil_eth.url)
    yield {"w3": w3, "token": token, "node": node, "hot": hot}
    await node.close()
    await w3.provider.disconnect()


def _evm_flow(token: str) -> Any:
    coins = [
        c.model_copy(update={"credit_confirmations": 3, "unlock_confirmations": 3})
        for c in flow_settings().coins
        if c.network == "ETH"
    ]
    coins = [c.model_copy(update={"contract": token}) if c.coin == "USDT" else c for c in coins]
    return CustodyFlowSettings(coins=coins, whitelist_cooloff_s=0)


def _evm_withdrawals(w: Wallets, flow: Any, chain: Any, node: EvmNode, ceremony: CeremonyResult, public: Any) -> Any:
    signer = EvmHotSigner(
        node, public, Coins.from_settings(flow), ceremony.hot_file, Sealer(passphrase=PASSPHRASE), {"ETH": 31337}
    )
    return Withdrawals(w.store, w.ledger, flow, chains={"ETH": chain}, signers={"ETH": signer})


async def test_eth_and_erc20_withdrawals_end_to_end_on_anvil(
    wallet: Wallets, evm: dict[str, Any], ceremony: CeremonyResult, public: PublicWallets
) -> None:
    w3, token, node = evm["w3"], evm["token"], evm["node"]
    flow = _evm_flow(token.address)
    wd = _evm_withdrawals(wallet, flow, node, node, ceremony, public)
    a = await _account(wallet, "ETH", Decimal(10))
    await wallet.ledger.credit(a, "USDT", Decimal(500), "seed")
    dest = AsyncWeb3.to_checksum_address("0x" + os.urandom(20).hex())
    await wd.whitelist(a, "ETH", dest)

    eth_req = await wd.request(a, "ETH", "ETH", dest, Decimal("1.25"))
    usdt_req = await wd.request(a, "USDT", "ETH", dest, Decimal(100))
    assert eth_req.status == "pending_approval"  # the first withdrawal to this address
    assert usdt_req.status == "approved"  # the address is in use by the account's live request
    await _approve(wd, eth_req.id)
    await wd.process()
    for req in (eth_req, usdt_req):
        sent = await wd.get(req.id)
        assert sent.status in ("broadcast", "confirming") and sent.txid and sent.raw_tx
        assert await node.succeeded(sent.txid) is True  # anvil mined it at once; the transfer did not revert
    await w3.provider.make_request("anvil_mine", [3])  # type: ignore[arg-type]
    await wd.process()
    assert [(await wd.get(r.id)).status for r in (eth_req, usdt_req)] == ["completed", "completed"]
    assert await w3.eth.get_balance(dest) == 1_250_000_000_000_000_000
    assert await token.functions.balanceOf(dest).call() == 100 * 10**6
    eth, usdt = wallet.ledger.balance(a, "ETH"), wallet.ledger.balance(a, "USDT")
    assert (eth.free, eth.locked) == (Decimal("8.748"), 0)  # 10 - 1.25 - 0.002 fee
    assert (usdt.free, usdt.locked) == (Decimal(395), 0)  # 500 - 100 - 5 fee
    assert (await wallet.ledger.balance_sheet()).ok


@pytest.mark.parametrize("where", ["before_send", "after_send"])
async def test_evm_crash_around_broadcast_sends_exactly_once(
    wallet: Wallets, evm: dict[str, Any], ceremony: CeremonyResult, public: PublicWallets, where: str
) -> None:
    w3, node, hot = evm["w3"], evm["node"], evm["hot"]
    flow = _evm_flow(evm["token"].address)
    a = await _account(wallet, "ETH", Decimal(5))
    dest = AsyncWeb3.to_checksum_address("0x" + os.urandom(20).hex())
    crashing = CrashingNode(node, where)
    wd = _evm_withdrawals(wallet, flow, crashing, node, ceremony, public)
    await wd.whitelist(a, "ETH", dest)
    req = await wd.request(a, "ETH", "ETH", dest, Decimal("0.5"))
    await _approve(wd, req.id)
    nonce_before = await w3.eth.get_transaction_count(hot)
    with pytest.raises(Crash):
        await wd.process()
    stored = await wd.get(req.id)
    assert stored.status == "signed" and stored.raw_tx and stored.txid  # recorded before the broadcast
    assert (await node.lookup("ETH", stored.txid) is None) == (where == "before_send")

    restarted = _evm_withdrawals(wallet, flow, node, node, ceremony, public)
    recovered = await restarted.recover()
    assert [r.status for r in recovered] == ["broadcast"]
    await w3.provider.make_request("anvil_mine", [3])  # type: ignore[arg-type]
    await restarted.process()
    assert (await restarted.get(req.id)).status == "completed"
    assert await w3.eth.get_transaction_count(hot) == nonce_before + 1  # exactly one transaction from the hot wallet
    assert await w3.eth.get_balance(dest) == 500_000_000_000_000_000
    assert wallet.ledger.balance(a, "ETH").free == Decimal("4.498")


# ---- BTC on the regtest simulator --------------------------------------------------------------------------


def _regtest_address() -> str:
    key = ec.PrivateKey(hashlib.sha256(os.urandom(16)).digest())
    return str(p2wpkh(key.get_public_key()).address(NETWORKS["regtest"]))


@pytest_asyncio.fixture
async def btc(public: PublicWallets) -> AsyncIterator[dict[str, Any]]:
    sim = BitcoinSimulator(BTC_USER, BTC_PASSWORD)
    await sim.start()
    sim.mine(101, faucet_address())
    await dev_send(DevChainInfo(btc_url=sim.url), "BTC", public.hot_address("BTC"), Decimal(2))
    await dev_send(DevChainInfo(btc_url=sim.url), "BTC", public.hot_address("BTC"), Decimal(1))
    sim.mine(1, faucet_address())
    node = BitcoinNode(BitcoinRPC(sim.url, BTC_USER, BTC_PASSWORD))
    yield {"sim": sim, "node": node}
    await node.close()
    await sim.stop()


def _btc_withdrawals(w: Wallets, chain: Any, node: BitcoinNode, ceremony: CeremonyResult, public: Any) -> Any:
    coins = [
        c.model_copy(update={"credit_confirmations": 3, "unlock_confirmations": 3})
        for c in flow_settings().coins
        if c.network == "BTC"
    ]
    flow = CustodyFlowSettings(coins=coins, whitelist_cooloff_s=0)
    signer = BtcHotSigner(node, public, ceremony.hot_file, Sealer(passphrase=PASSPHRASE))
    return Withdrawals(w.store, w.ledger, flow, btc=public.btc, chains={"BTC": chain}, signers={"BTC": signer})


async def test_btc_withdrawal_end_to_end_and_cold_above_hot_balance(
    wallet: Wallets, btc: dict[str, Any], ceremony: CeremonyResult, public: PublicWallets
) -> None:
    sim, node = btc["sim"], btc["node"]
    wd = _btc_withdrawals(wallet, node, node, ceremony, public)
    a = await _account(wallet, "BTC", Decimal(10))
    dest = _regtest_address()
    await wd.whitelist(a, "BTC", dest)
    assert await wd.signers["BTC"].capacity("BTC", "BTC") > Decimal("2.99")

    req = await wd.request(a, "BTC", "BTC", dest, Decimal("2.5"))  # needs both hot coins
    big = await wd.request(a, "BTC", "BTC", dest, Decimal(4))  # more than the hot wallet holds
    await _approve(wd, req.id)
    await _approve(wd, big.id)
    await wd.process()
    sent = await wd.get(req.id)
    assert sent.status == "broadcast" and sent.txid in sim.node.mempool
    assert (await wd.get(big.id)).status == "waiting_cold"  # the cold 2-of-3 PSBT path takes it from here
    assert await node.lookup("BTC", sent.txid) == 0
    sim.mine(3, faucet_address())
    await wd.process()
    assert (await wd.get(req.id)).status == "completed"
    assert (await node.balances([dest])) == {dest: 250_000_000}
    hot_left = (await node.balances([public.hot_address("BTC")]))[public.hot_address("BTC")]
    assert 49_990_000 < hot_left < 50_000_000  # the change came back; the node's fee went out
    bal = wallet.ledger.balance(a, "BTC")
    assert (bal.free, bal.locked) == (Decimal("3.4996"), Decimal("4.0002"))  # the cold one still locked
    assert (await wallet.ledger.balance_sheet()).ok


@pytest.mark.parametrize("where", ["before_send", "after_send"])
async def test_btc_crash_around_broadcast_sends_exactly_once(
    wallet: Wallets, btc: dict[str, Any], ceremony: CeremonyResult, public: PublicWallets, where: str
) -> None:
    sim, node = btc["sim"], btc["node"]
    crashing = CrashingNode(node, where)
    wd = _btc_withdrawals(wallet, crashing, node, ceremony, public)
    a = await _account(wallet, "BTC", Decimal(1))
    dest = _regtest_address()
    await wd.whitelist(a, "BTC", dest)
    req = await wd.request(a, "BTC", "BTC", dest, Decimal("0.5"))
    await _approve(wd, req.id)
    with pytest.raises(Crash):
        await wd.process()
    stored = await wd.get(req.id)
    assert stored.status == "signed" and stored.txid  # recorded before the broadcast
    assert len(sim.node.mempool) == crashing.sends == (where == "after_send")
    restarted = _btc_withdrawals(wallet, node, node, ceremony, public)
    assert [r.status for r in await restarted.recover()] == ["broadcast"]
    sim.mine(3, faucet_address())
    await restarted.process()
    assert (await restarted.get(req.id)).status == "completed"
    assert (await node.balances([dest])) == {dest: 50_000_000}  # paid once
    assert len(sim.node.blocks[sim.node.best[-3]].txs) == 2  # coinbase + the one withdrawal


async def test_reverted_token_transfer_never_counts_as_confirmed(evm: dict[str, Any]) -> None:
    w3, token, node = evm["w3"], evm["token"], evm["node"]
    poor = (await w3.eth.accounts)[1]  # holds no tokens: the transfer reverts once mined
    tx = await token.functions.transfer(evm["hot"], 1).transact({"from": poor, "gas": 100_000})
    txid = "0x" + bytes(tx).hex()
    await w3.provider.make_request("anvil_mine", [5])  # type: ignore[arg-type]
    assert await node.succeeded(txid) is False
    assert await node.lookup("ETH", txid) == 0  # never completes a withdrawal, never resent (the node knows it)


async def test_btc_second_withdrawal_in_one_block_spends_the_first_ones_change(
    wallet: Wallets, btc: dict[str, Any], ceremony: CeremonyResult, public: PublicWallets
) -> None:
    sim, node = btc["sim"], btc["node"]
    wd = _btc_withdrawals(wallet, node, node, ceremony, public)
    a = await _account(wallet, "BTC", Decimal(5))
    dest = _regtest_address()
    await wd.whitelist(a, "BTC", dest)
    first = await wd.request(a, "BTC", "BTC", dest, Decimal("1.5"))  # from the 2 BTC coin: 0.5 change
    second = await wd.request(a, "BTC", "BTC", dest, Decimal("1.2"), client_id="second")
    await _approve(wd, first.id)
    await _approve(wd, second.id)  # above 1 BTC: approved too
    await wd.process()  # one round, no block between: the 1 BTC coin alone cannot pay 1.2, with the change it can
    assert [(await wd.get(r.id)).status for r in (first, second)] == ["broadcast", "broadcast"]
    assert len(sim.node.mempool) == 2
    sim.mine(3, faucet_address())
    await wd.process()
    assert [(await wd.get(r.id)).status for r in (first, second)] == ["completed", "completed"]
    assert await node.balances([dest]) == {dest: 270_000_000}


async def test_btc_sigkill_after_the_node_got_it_pays_once(
    tmp_path: Any, btc: dict[str, Any], ceremony: CeremonyResult, public: PublicWallets
) -> None:
    """A real SIGKILL of the process that signed, stored and sent the withdrawal, before it recorded the broadcast
    (the child also dies ``before_send`` on request; that case is the exception-based test above, to save the
    second child's start-up)."""
    where = "after_send"
    sim, node = btc["sim"], btc["node"]
    db_url = f"sqlite:///{tmp_path}/braid.db"
    w = Db(db_url, None).open()
    await w.start()
    try:
        wd = _btc_withdrawals(w, node, node, ceremony, public)
        a = await _account(w, "BTC", Decimal(1))
        dest = _regtest_address()
        await wd.whitelist(a, "BTC", dest)
        req = await wd.request(a, "BTC", "BTC", dest, Decimal("0.4"))
        await _approve(wd, req.id)
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).with_name("withdraw_child.py")),
            db_url,
            sim.url,
            str(ceremony.public_file),
            str(ceremony.hot_file),
            PASSPHRASE,
            wd.flow.model_dump_json(),
            where,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
        )
        assert await asyncio.wait_for(child.wait(), 60) == -signal.SIGKILL
        stored = await wd.get(req.id)
        assert stored.status == "signed" and stored.txid  # stored before the broadcast; the broadcast never recorded
        assert (stored.txid in sim.node.mempool) == (where == "after_send")
        restarted = _btc_withdrawals(w, node, node, ceremony, public)
        assert [r.status for r in await restarted.recover()] == ["broadcast"]
        sim.mine(3, faucet_address())
        await restarted.process()
        assert (await restarted.get(req.id)).status == "completed"
        assert await node.balances([dest]) == {dest: 40_000_000}  # exactly one payment
        assert w.ledger.balance(a, "BTC").free == Decimal("0.5998")
        assert (await w.ledger.balance_sheet()).ok
    finally:
        await w.close()
