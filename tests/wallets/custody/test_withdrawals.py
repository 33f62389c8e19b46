"""Withdrawals on the real ledger (SQLite and PostgreSQL) with real hot EVM signing and a test double of the
node: approvals, refusals that move nothing, crash between signing/broadcast/recording, exactly one tx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from tests.wallets.conftest import Db
from tests.wallets.custody.conftest import PASSPHRASE
from tests.wallets.custody.flow_helpers import Crash, FakeEvmNode, flow_settings
from wallets.custody import PublicWallets
from wallets.custody.ceremony import CeremonyResult
from wallets.custody.coins import Coins
from wallets.custody.evm import decode_signed_evm
from wallets.custody.hot_signers import EvmHotSigner
from wallets.custody.keyfile import Sealer
from wallets.custody.withdrawals import WithdrawalRefused, Withdrawals

DEST = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000_000

    def __call__(self) -> int:
        return self.t


@pytest_asyncio.fixture
async def env(db: Db, ceremony: CeremonyResult, public: PublicWallets) -> AsyncIterator[dict[str, Any]]:
    w = db.open()
    await w.start()
    t = await w.accounts.create_tenant("t")
    a = (await w.accounts.create_account(t.tenant_id, "a@x")).account_id
    await w.ledger.credit(a, "ETH", Decimal(100), "seed")
    flow = flow_settings(whitelist_cooloff_s=3600)
    node = FakeEvmNode()
    clock = Clock()
    sealer = Sealer(passphrase=PASSPHRASE)

    def make() -> Withdrawals:
        signer = EvmHotSigner(
            node, public, Coins.from_settings(flow), ceremony.hot_file, sealer, {"ETH": 31337, "BSC": 56}
        )
        return Withdrawals(w.store, w.ledger, flow, chains={"ETH": node}, signers={"ETH": signer}, clock=clock)

    wd = make()
    await wd.whitelist(a, "ETH", DEST)
    clock.t += 3_600_000
    try:
        yield {"w": w, "a": a, "wd": wd, "make": make, "node": node, "clock": clock, "public": public}
    finally:
        await w.close()


def _eth(w: Any, a: int) -> tuple[Decimal, Decimal]:
    b = w.ledger.balance(a, "ETH")
    return b.free, b.locked


@pytest.mark.asyncio
async def test_end_to_end_with_approval(env: dict[str, Any]) -> None:
    w, a, wd, node = env["w"], env["a"], env["wd"], env["node"]
    req = await wd.request(a, "ETH", "ETH", DEST, Decimal("1.5"), client_id="c1")
    assert req.status == "pending_approval" and "first withdrawal" in req.reason  # new address
    assert _eth(w, a) == (Decimal("98.498"), Decimal("1.502"))  # amount + 0.002 fee locked at request
    with pytest.raises(WithdrawalRefused, match="cannot approve"):
        await wd.approve(req.id, f"account:{a}")  # the requester never approves
    assert (await wd.approve(req.id, "op1")).status == "pending_approval"
    with pytest.raises(WithdrawalRefused, match="already approved"):
        await wd.approve(req.id, "op1")
    assert (await wd.approve(req.id, "op2")).status == "approved"
    changed = await wd.process()
    assert [c.status for c in changed] == ["broadcast"]
    stored = await wd.get(req.id)
    assert stored.raw_tx and len(node.sent) == 1 and node.sent[0].hex() == stored.raw_tx
    tx = decode_signed_evm(node.sent[0])
    assert (
        tx.to.lower() == DEST
        and tx.value == 1_500_000_000_000_000_000
        and tx.sender == env["public"].hot_address("ETH")
    )
    node.mine(1)
    await wd.process()
    assert (await wd.get(req.id)).status == "confirming" and _eth(w, a)[1] == Decimal("1.502")
    node.mine(11)
    await wd.process()
    assert (await wd.get(req.id)).status == "completed"
    assert _eth(w, a) == (Decimal("98.498"), Decimal(0))
    assert (await w.ledger.balance_sheet()).ok
    fees = w.ledger.balance(w.accounts.system_account("house:fees"), "ETH").free
    assert fees == Decimal("0.002")
    # the same address again, small: no approval needed now
    again = await wd.request(a, "ETH", "ETH", DEST, Decimal(1))
    assert again.status == "approved"
    with pytest.raises(WithdrawalRefused, match="used before"):
        await wd.request(a, "ETH", "ETH", DEST, Decimal(1), client_id="c1")


@pytest.mark.parametrize("where", ["before_send", "after_send"])
@pytest.mark.asyncio
async def test_crash_between_signing_broadcast_and_recording(env: dict[str, Any], where: str) -> None:
    w, a, wd, node = env["w"], env["a"], env["wd"], env["node"]
    req = await wd.request(a, "ETH", "ETH", DEST, Decimal(2))
    await wd.approve(req.id, "op1")
    await wd.approve(req.id, "op2")
    node.crash = where
    with pytest.raises(Crash):
        await wd.process()
    stored = await wd.get(req.id)
    assert stored.status == "signed" and stored.raw_tx  # stored before the broadcast
    # restart: a new state machine from the database
    fresh = env["make"]()
    await fresh.recover()
    await fresh.process()
    assert len(set(node.sent)) == 1 and node.sent[-1].hex() == stored.raw_tx  # the same bytes, never rebuilt
    assert len(node.pool) == 1
    assert (await fresh.get(req.id)).status == "broadcast"
    node.mine(12)
    await fresh.process()
    await fresh.process()
    assert (await fresh.get(req.id)).status == "completed"
    assert _eth(w, a) == (Decimal("97.998"), Decimal(0))
    assert (await w.ledger.balance_sheet()).ok


@pytest.mark.asyncio
async def test_refusals_move_nothing(env: dict[str, Any]) -> None:
    w, a, wd, clock = env["w"], env["a"], env["wd"], env["clock"]
    before = _eth(w, a)
    cases = [
        ("bcrt1qw508d6qejxtdg4y504ex5se4akqr3", "invalid ETH address", {}),  # a BTC address on ETH
        ("0x123", "invalid ETH address", {}),
        (OTHER, "not on this account's withdrawal whitelist", {}),
        (DEST, "over the daily withdrawal limit", {"amount": Decimal(250)}),
        (DEST, "insufficient withdrawable", {"amount": Decimal(150)}),
        (DEST, "more than 18 decimals", {"amount": Decimal("1.0000000000000000001")}),
    ]
    for address, message, kw in cases:
        with pytest.raises(WithdrawalRefused, match=message):
            await wd.request(a, "ETH", "ETH", address, kw.get("amount", Decimal(1)))
    with pytest.raises(WithdrawalRefused, match="cannot be withdrawn on network"):
        await wd.request(a, "ETH", "BTC", DEST, Decimal(1))
    await wd.whitelist(a, "ETH", OTHER)
    clock.t += 60_000
    with pytest.raises(WithdrawalRefused, match="whitelisted recently"):
        await wd.request(a, "ETH", "ETH", OTHER, Decimal(1))
    await wd.freeze("ETH", "op1", "incident")
    with pytest.raises(WithdrawalRefused, match="frozen"):
        await wd.request(a, "ETH", "ETH", DEST, Decimal(1))
    assert await env["make"]().freezes() == {"ETH": "incident"}  # persisted
    assert await wd.unfreeze("ETH", "op1")
    assert _eth(w, a) == before
    assert await wd.query(account_id=a) == []
    # rejected and cancelled give the funds back
    r1 = await wd.request(a, "ETH", "ETH", DEST, Decimal(1))
    r2 = await wd.request(a, "ETH", "ETH", DEST, Decimal(1))
    await wd.reject(r1.id, "op1", "looks odd")
    await wd.cancel(r2.id, f"account:{a}")
    assert _eth(w, a) == before
    assert (await w.ledger.balance_sheet()).ok


@pytest.mark.asyncio
async def test_above_hot_capacity_waits_for_cold(env: dict[str, Any]) -> None:
    a, wd, node = env["a"], env["wd"], env["node"]
    node.hot_balance = 10**18  # 1 ETH in the hot wallet
    req = await wd.request(a, "ETH", "ETH", DEST, Decimal(5))
    await wd.approve(req.id, "op1")
    await wd.approve(req.id, "op2")
    await wd.process()
    assert (await wd.get(req.id)).status == "waiting_cold" and node.sent == []


@pytest.mark.asyncio
async def test_anomaly_and_compliance_hold_need_approval(env: dict[str, Any]) -> None:
    a, wd, node = env["a"], env["wd"], env["node"]
    first = await wd.request(a, "ETH", "ETH", DEST, Decimal("0.5"))
    await wd.approve(first.id, "op1")
    await wd.approve(first.id, "op2")
    await wd.process()
    node.mine(12)
    await wd.process()
    small = await wd.request(a, "ETH", "ETH", DEST, Decimal(2))
    assert small.status == "approved"  # known address, within 5x the largest so far
    big = await wd.request(a, "ETH", "ETH", DEST, Decimal("10.5"))
    assert big.status == "pending_approval" and "5x" in big.reason  # over 5x the largest so far (2)
    for _ in range(2):
        await wd.request(a, "ETH", "ETH", DEST, Decimal("0.1"))
    fast = await wd.request(a, "ETH", "ETH", DEST, Decimal("0.1"))
    assert fast.status == "pending_approval" and "within an hour" in fast.reason

    async def hold(w: Any) -> str | None:
        return "travel rule data missing" if w.amount >= 1 else None

    held = Withdrawals(
        wd.store,
        wd.ledger,
        wd.flow,
        chains=wd.chains,
        signers=wd.signers,
        hold=hold,
        clock=wd.clock,
        scorer=lambda w, h: _none(),
    )
    assert (await held.request(a, "ETH", "ETH", DEST, Decimal(1))).reason == "travel rule data missing"


async def _none() -> None:
    return None
