"""The hot wallet's band on the Bitcoin regtest simulator: above the ceiling one hot -> cold proposal of exactly
balance - target, approved by two operators (never the proposer), signed by the hot key, stored before its
broadcast and paid once even when the process dies after the node got it; below the floor a cold -> hot refill
drafted as a 2-of-3 PSBT that two cold cosigners sign, a tampered one refused, the genuine one broadcast;
inside the band nothing. On anvil: an ETH refill offline-signed by the cold key (a changed amount refused), then
the excess back to cold signed by the hot key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from embit.psbt import PSBT

from config.custody import HotLimit
from tests.wallets.custody.flow_helpers import Crash, coins
from treasury import COLD_TO_HOT, HOT_TO_COLD, ApprovalRefused, HotCold, NodeHotBalances, TableApprovals, Treasury
from treasury import bands as make_bands
from treasury.hotcold import CUSTODY
from wallets import migrations
from wallets.chains import BitcoinRPC
from wallets.chains.devnet import BTC_PASSWORD, BTC_USER, DevChainInfo, dev_send, faucet_address
from wallets.chains.nodes import BitcoinNode
from wallets.chains.simulators import BitcoinSimulator
from wallets.custody import PublicWallets, Sealer
from wallets.custody.btc import sign_cold_psbt
from wallets.custody.ceremony import CeremonyResult
from wallets.custody.errors import SpendMismatch
from wallets.custody.hot_signers import BtcHotSigner, EvmHotSigner
from wallets.db import create_db_engine

D = Decimal
BAND = {"BTC": HotLimit(floor=D("0.5"), target=D(1), ceiling=D(2))}


class CrashAfterSend:
    """The node takes the transaction, then the process dies before Braid records the broadcast."""

    def __init__(self, node: BitcoinNode) -> None:
        self.node = node

    async def broadcast(self, network: str, raw: bytes) -> str:
        await self.node.broadcast(network, raw)
        raise Crash

    async def lookup(self, network: str, txid: str) -> int | None:
        return await self.node.lookup(network, txid)


@pytest_asyncio.fixture
async def chain(public: PublicWallets) -> AsyncIterator[dict[str, Any]]:
    sim = BitcoinSimulator(BTC_USER, BTC_PASSWORD)
    await sim.start()
    sim.mine(101, faucet_address())
    node = BitcoinNode(BitcoinRPC(sim.url, BTC_USER, BTC_PASSWORD))

    async def fund(address: str, amount: Decimal) -> None:
        await dev_send(DevChainInfo(btc_url=sim.url), "BTC", address, amount)

    yield {"sim": sim, "node": node, "fund": fund}
    await node.close()
    await sim.stop()


def _treasury(
    tmp_path: Path,
    node: BitcoinNode,
    ceremony: CeremonyResult,
    public: PublicWallets,
    sealer: Sealer,
    client: Any = None,
) -> Treasury:
    url = f"sqlite:///{tmp_path}/braid.db"
    migrations.upgrade(url)
    engine = create_db_engine(url)
    c = coins()
    hot_cold = HotCold(
        make_bands(BAND, c),
        public,
        c,
        balances=NodeHotBalances(public, c, node, {}),
        chains={"BTC": client or node},
        signers={"BTC": BtcHotSigner(node, public, ceremony.hot_file, sealer)},
        btc_node=node,
    )
    return Treasury(
        engine,
        balances={},
        capital={},
        wallets=None,
        hot_addresses={},
        approvals=TableApprovals(engine),
        btc=public.btc,
        hot_cold=hot_cold,
    )


def _approve(tr: Treasury, tid: int) -> None:
    with pytest.raises(ApprovalRefused):
        tr.approve(tid, "alice")  # the proposer never approves
    assert tr.approve(tid, "bob").state == "proposed"
    assert tr.approve(tid, "carol").state == "approved"


async def _sat(node: BitcoinNode, address: str) -> int:
    return (await node.balances([address])).get(address, 0)


async def test_above_ceiling_moves_exactly_the_excess_to_cold_once(
    tmp_path: Path, chain: dict[str, Any], ceremony: CeremonyResult, public: PublicWallets, sealer: Sealer
) -> None:
    sim, node = chain["sim"], chain["node"]
    hot, cold = public.hot_address("BTC"), public.cold_address(0, 0)
    await chain["fund"](hot, D(2))
    await chain["fund"](hot, D("1.25"))
    sim.mine(1, faucet_address())
    tr = _treasury(tmp_path, node, ceremony, public, sealer, client=CrashAfterSend(node))

    [t] = await tr.plan("alice")
    assert (t.kind, t.venue, t.asset, t.network, t.amount, t.address) == (
        HOT_TO_COLD,
        CUSTODY,
        "BTC",
        "BTC",
        D("2.25"),
        cold,
    )
    assert t.state == "proposed" and await tr.plan("alice") == []  # one open proposal per band
    with pytest.raises(Exception, match="approvals"):
        await tr.execute(t.id)
    _approve(tr, t.id)

    with pytest.raises(Crash):  # the node got it; the process died before recording the broadcast
        await tr.execute(t.id)
    stored = tr.get(t.id)
    assert stored.state == "signed" and stored.raw_tx and stored.tx_id in sim.node.mempool

    restarted = _treasury(tmp_path, node, ceremony, public, sealer)
    [settled] = await restarted.reconcile()
    assert settled.state == "sent" and len(sim.node.mempool) == 1  # found by txid, not sent again
    sim.mine(1, faucet_address())
    assert (await restarted.execute(t.id)).state == "completed"
    assert await _sat(node, cold) == 225_000_000
    left = await _sat(node, hot)
    assert 99_990_000 < left < 100_000_000  # 3.25 - 2.25, less the network fee
    assert await restarted.plan("alice") == []  # back inside the band


async def test_below_floor_drafts_a_cold_psbt_two_cosigners_sign(
    tmp_path: Path, chain: dict[str, Any], ceremony: CeremonyResult, public: PublicWallets, sealer: Sealer
) -> None:
    sim, node = chain["sim"], chain["node"]
    hot, cold = public.hot_address("BTC"), public.cold_address(0, 0)
    await chain["fund"](hot, D("0.2"))
    await chain["fund"](cold, D(5))
    sim.mine(1, faucet_address())
    tr = _treasury(tmp_path, node, ceremony, public, sealer)

    [t] = await tr.plan("alice")
    assert (t.kind, t.amount, t.address, t.state) == (COLD_TO_HOT, D("0.8"), hot, "proposed")
    _approve(tr, t.id)
    waiting = await tr.execute(t.id)
    assert waiting.state == "waiting_cold" and waiting.artefact
    assert not sim.node.mempool  # nothing moves without the cold signers
    base = json.loads(waiting.artefact)["psbt"]
    cosigners = [f for f in sorted(ceremony.cold_files) if f.name.startswith("cosigner-")][1:]

    tampered = PSBT.from_string(base)  # an attacker sends the refill elsewhere before the cosigners sign
    tampered.outputs[0].script_pubkey = PSBT.from_string(base).outputs[1].script_pubkey
    bad = [sign_cold_psbt(tampered.to_string(), f, sealer)[0] for f in cosigners]
    with pytest.raises(SpendMismatch):
        await tr.attach_cold(t.id, bad)
    assert tr.get(t.id).state == "waiting_cold" and not sim.node.mempool
    with pytest.raises(Exception, match="2 signatures"):
        await tr.attach_cold(t.id, [sign_cold_psbt(base, cosigners[0], sealer)[0]])

    signed = [sign_cold_psbt(base, f, sealer)[0] for f in cosigners]
    sent = await tr.attach_cold(t.id, signed)
    assert sent.state == "sent" and sent.tx_id in sim.node.mempool
    sim.mine(1, faucet_address())
    assert (await tr.execute(t.id)).state == "completed"
    assert await _sat(node, hot) == 100_000_000  # 0.2 + 0.8: exactly the target
    assert await tr.plan("alice") == []


async def test_inside_the_band_nothing_is_proposed(
    tmp_path: Path, chain: dict[str, Any], ceremony: CeremonyResult, public: PublicWallets, sealer: Sealer
) -> None:
    await chain["fund"](public.hot_address("BTC"), D("1.5"))
    chain["sim"].mine(1, faucet_address())
    tr = _treasury(tmp_path, chain["node"], ceremony, public, sealer)
    assert await tr.plan("alice") == [] and tr.list_transfers() == []


async def test_eth_refill_offline_signed_by_the_cold_key_then_excess_back_to_cold(
    tmp_path: Path, anvil_eth: Any, ceremony: CeremonyResult, public: PublicWallets, sealer: Sealer
) -> None:
    from web3 import AsyncHTTPProvider, AsyncWeb3

    from wallets.chains.nodes import EvmNode
    from wallets.custody.evm import sign_cold_evm

    w3 = AsyncWeb3(AsyncHTTPProvider(anvil_eth.url))
    funder = (await w3.eth.accounts)[0]
    hot, cold = public.hot_address("ETH"), public.cold_evm_address
    assert cold is not None
    await w3.eth.send_transaction({"from": funder, "to": hot, "value": w3.to_wei("0.5", "ether")})
    await w3.eth.send_transaction({"from": funder, "to": cold, "value": w3.to_wei(10, "ether")})
    node = EvmNode(anvil_eth.url)
    url = f"sqlite:///{tmp_path}/braid.db"
    migrations.upgrade(url)
    engine = create_db_engine(url)
    c = coins()
    hot_cold = HotCold(
        make_bands({"ETH": HotLimit(floor=D(1), target=D(2), ceiling=D(3))}, c),
        public,
        c,
        balances=NodeHotBalances(public, c, None, {"ETH": node}),
        chains={"ETH": node},
        signers={"ETH": EvmHotSigner(node, public, c, ceremony.hot_file, sealer, {"ETH": 31337})},
        evm_nodes={"ETH": node},
        chain_ids={"ETH": 31337},
    )
    tr = Treasury(
        engine, balances={}, capital={}, wallets=None, hot_addresses={}, approvals=TableApprovals(engine),
        hot_cold=hot_cold,
    )  # fmt: skip
    try:
        [t] = await tr.plan("alice")
        assert (t.kind, t.amount, t.address) == (COLD_TO_HOT, D("1.5"), hot)
        _approve(tr, t.id)
        waiting = await tr.execute(t.id)
        assert waiting.state == "waiting_cold" and waiting.artefact
        unsigned = json.loads(waiting.artefact)["unsigned"]
        key = next(f for f in ceremony.cold_files if f.name.startswith("cold-evm"))
        more = sign_cold_evm({**unsigned, "value": str(int(unsigned["value"]) * 2)}, key, sealer)
        with pytest.raises(SpendMismatch):
            await tr.attach_cold(t.id, ["0x" + more.hex()])
        sent = await tr.attach_cold(t.id, ["0x" + sign_cold_evm(unsigned, key, sealer).hex()])
        assert sent.state == "sent" and await node.succeeded(str(sent.tx_id)) is True
        assert (await tr.execute(t.id)).state == "completed"
        assert await w3.eth.get_balance(hot) == w3.to_wei(2, "ether")  # exactly the target

        # then the hot wallet fills up above the ceiling: the excess goes to the cold address, signed by the hot key
        await w3.eth.send_transaction({"from": funder, "to": hot, "value": w3.to_wei(5, "ether")})
        cold_before = await w3.eth.get_balance(cold)
        [up] = await tr.plan("alice")
        assert (up.kind, up.amount, up.address) == (HOT_TO_COLD, D(5), cold)
        _approve(tr, up.id)
        assert (await tr.execute(up.id)).state == "sent"
        assert (await tr.execute(up.id)).state == "completed"
        assert await w3.eth.get_balance(cold) == cold_before + w3.to_wei(5, "ether")
        assert w3.to_wei("1.99", "ether") < await w3.eth.get_balance(hot) < w3.to_wei(2, "ether")  # less the gas
    finally:
        await node.close()
        await w3.provider.disconnect()
        engine.dispose()


def test_the_band_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from config.settings import Settings

    monkeypatch.setenv(
        "BRAID_CUSTODY__HOT_LIMITS",
        '{"BTC": {"floor": "0.5", "target": "1", "ceiling": "2"}, "usdt@eth": {"floor": 1, "target": 5, "ceiling": 9}}',
    )
    limits = Settings().custody.hot_limits
    assert [(b.coin, b.network, b.floor, b.target, b.ceiling) for b in make_bands(limits, coins())] == [
        ("BTC", "BTC", D("0.5"), D(1), D(2)),
        ("USDT", "ETH", D(1), D(5), D(9)),
    ]
    with pytest.raises(Exception, match="COIN@NETWORK"):
        make_bands({"USDT": HotLimit(floor=D(1), target=D(2), ceiling=D(3))}, coins())  # on ETH and on BSC
    with pytest.raises(ValidationError, match="floor <= target <= ceiling"):
        HotLimit(floor=D(2), target=D(1), ceiling=D(3))
