"""The deposit state machine on the real ledger (SQLite and PostgreSQL): thresholds, reorgs, exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from tests.wallets.conftest import Db
from tests.wallets.custody.flow_helpers import USDT_ETH, Obs, Tip, coins
from wallets import Wallets
from wallets.custody import models
from wallets.custody.deposit_flow import DepositFlow, credited_not_unlocked, deposit_history

BTC_CREDIT = 30  # the default thresholds (BTC 30/30, ETH 12/12)


class Book:
    """Deposit addresses -> accounts (what ``CustodyAddresses.account_for`` answers)."""

    def __init__(self) -> None:
        self.map: dict[tuple[str, str], int] = {}

    def account_for(self, network: str, address: str) -> int | None:
        return self.map.get((network, address.lower()))


@pytest_asyncio.fixture
async def env(db: Db) -> AsyncIterator[dict[str, Any]]:
    w = db.open()
    await w.start()
    t = await w.accounts.create_tenant("t")
    a = await w.accounts.create_account(t.tenant_id, "a@x")
    b = await w.accounts.create_account(t.tenant_id, "b@x")
    book = Book()
    book.map[("BTC", "bcrt1qa")] = a.account_id
    book.map[("BTC", "bcrt1qb")] = b.account_id
    book.map[("ETH", "0xaa")] = a.account_id
    cases: list[tuple[int, str, dict[str, Any]]] = []

    async def case(account: int, reason: str, details: dict[str, Any]) -> None:
        cases.append((account, reason, details))

    def make() -> DepositFlow:
        return DepositFlow(w.store, w.ledger, book, coins(), open_case=case)

    flow = make()
    await flow.load()
    try:
        yield {"w": w, "a": a.account_id, "b": b.account_id, "flow": flow, "make": make, "cases": cases, "db": db}
    finally:
        await w.close()


def _o(
    address: str = "bcrt1qa",
    amount: int = 150_000_000,
    *,
    txid: str = "t1",
    index: str = "0",
    height: int = 100,
    block: str = "h100",
    chain: str = "BTC",
    asset: str = "BTC",
    token: str | None = None,
) -> Obs:
    return Obs(chain, txid, index, address, asset, amount, height, block, token=token)


async def _confirm(flow: DepositFlow, o: Obs, n: int) -> None:
    await flow.on_confirmations(o.chain, Tip(o.block_height + n - 1, f"tip{n}"), [(o, n)])


async def _status(w: Wallets, o: Obs) -> str:
    t = models.deposits
    return str(
        await w.store.read(
            lambda c: c.execute(select(t.c.status).where(t.c.txid == o.txid, t.c.idx == o.index)).scalar_one()
        )
    )


async def _withheld(w: Wallets, account: int, coin: str) -> Decimal:
    return await w.store.read(lambda c: credited_not_unlocked(c, account, coin))


@pytest.mark.asyncio
async def test_credit_at_threshold_not_before(env: dict[str, Any]) -> None:
    w, flow, a = env["w"], env["flow"], env["a"]
    o = _o()
    await flow.on_observed(o)
    assert await _status(w, o) == "detected"
    await _confirm(flow, o, BTC_CREDIT - 1)
    assert await _status(w, o) == "confirming"
    assert w.ledger.balance(a, "BTC").free == 0
    await _confirm(flow, o, BTC_CREDIT)  # N: credited and (30/30) unlocked at once
    assert w.ledger.balance(a, "BTC").free == Decimal("1.5")
    assert await _status(w, o) == "unlocked"
    await _confirm(flow, o, BTC_CREDIT + 1)  # N+1: nothing more
    await flow.on_observed(o)
    assert w.ledger.balance(a, "BTC").free == Decimal("1.5")
    assert (await w.ledger.balance_sheet()).ok


@pytest.mark.asyncio
async def test_unlock_threshold_separate_from_credit(env: dict[str, Any]) -> None:
    w, a = env["w"], env["a"]
    c = coins()
    btc = c.require("BTC", "BTC")
    c = type(c)(
        [x.model_copy(update={"credit_confirmations": 2, "unlock_confirmations": 6}) if x is btc else x for x in c.all]
    )
    flow = DepositFlow(w.store, w.ledger, env["flow"].addresses, c)
    o = _o()
    await flow.on_observed(o)
    await _confirm(flow, o, 1)
    assert w.ledger.balance(a, "BTC").free == 0
    await _confirm(flow, o, 2)
    assert w.ledger.balance(a, "BTC").free == Decimal("1.5")  # tradeable
    assert await _withheld(w, a, "BTC") == Decimal("1.5")  # not withdrawable
    for n in (3, 4, 5):
        await _confirm(flow, o, n)
    assert await _status(w, o) == "credited" and await _withheld(w, a, "BTC") == Decimal("1.5")
    t = models.deposits
    shown = await w.store.read(lambda c: c.execute(select(t.c.confirmations).where(t.c.txid == o.txid)).scalar_one())
    assert shown == 5  # counts are kept between transitions (the deposit history shows them)
    await _confirm(flow, o, 6)
    assert await _status(w, o) == "unlocked" and await _withheld(w, a, "BTC") == 0
    await _confirm(flow, o, 7)
    assert w.ledger.balance(a, "BTC").free == Decimal("1.5")

    # orphaned between credit and unlock: the credit is taken back, in the ledger
    o2 = _o(txid="t2", amount=50_000_000)
    await flow.on_observed(o2)
    await _confirm(flow, o2, 3)
    assert w.ledger.balance(a, "BTC").free == Decimal("2.0")
    await flow.on_orphaned(o2)
    assert await _status(w, o2) == "reversed"
    assert w.ledger.balance(a, "BTC").free == Decimal("1.5")
    assert env["cases"] == []
    # mined again in the replacement branch: credited again, once
    o2b = _o(txid="t2", amount=50_000_000, height=101, block="h101b")
    await flow.on_observed(o2b)
    await _confirm(flow, o2b, 2)
    await _confirm(flow, o2b, 2)
    assert w.ledger.balance(a, "BTC").free == Decimal("2.0")
    assert (await w.ledger.balance_sheet()).ok


@pytest.mark.asyncio
async def test_reorg_before_credit_disappears(env: dict[str, Any]) -> None:
    w, flow, a = env["w"], env["flow"], env["a"]
    o = _o()
    await flow.on_observed(o)
    await _confirm(flow, o, BTC_CREDIT - 1)
    await flow.on_orphaned(o)
    assert await _status(w, o) == "orphaned"
    await _confirm(flow, o, BTC_CREDIT)  # a late report about the orphaned block changes nothing
    assert w.ledger.balance(a, "BTC").free == 0
    again = _o(height=101, block="h101b")  # mined again in the replacement branch
    await flow.on_observed(again)
    await _confirm(flow, again, BTC_CREDIT)
    assert w.ledger.balance(a, "BTC").free == Decimal("1.5")
    assert (await w.ledger.balance_sheet()).ok


@pytest.mark.asyncio
async def test_reversal_of_spent_deposit_freezes_and_opens_case(env: dict[str, Any]) -> None:
    w, a = env["w"], env["a"]
    c = coins()
    c = type(c)(
        [
            x.model_copy(update={"credit_confirmations": 1, "unlock_confirmations": 3}) if x.coin == "BTC" else x
            for x in c.all
        ]
    )
    flow = DepositFlow(w.store, w.ledger, env["flow"].addresses, c, open_case=env["flow"].open_case)
    o = _o()
    await flow.on_observed(o)
    await _confirm(flow, o, 1)
    await w.ledger.debit(a, "BTC", Decimal("1.2"), "spent")  # traded away / moved
    await flow.on_orphaned(o)
    assert w.ledger.balance(a, "BTC").free == 0
    assert env["cases"] and env["cases"][0][0] == a and env["cases"][0][2]["shortfall"] == "1.2"
    frozen = await w.store.read(lambda conn: conn.execute(select(models.freezes.c.scope)).scalars().all())
    assert f"account:{a}" in frozen
    assert (await w.ledger.balance_sheet()).ok


@pytest.mark.asyncio
async def test_two_outputs_two_accounts_and_dust(env: dict[str, Any]) -> None:
    w, flow, a, b = env["w"], env["flow"], env["a"], env["b"]
    o1 = _o("bcrt1qa", 10_000_000, index="0")
    o2 = _o("bcrt1qb", 20_000_000, index="1")
    dust = _o("bcrt1qb", 9_999, index="2")  # below the 0.0001 BTC minimum
    stranger = _o("bcrt1qzzz", 5_000_000, index="3")
    for o in (o1, o2, dust, stranger):
        await flow.on_observed(o)
    await flow.on_confirmations("BTC", Tip(129, "x"), [(o1, 30), (o2, 30), (dust, 30), (stranger, 30)])
    assert w.ledger.balance(a, "BTC").free == Decimal("0.1")
    assert w.ledger.balance(b, "BTC").free == Decimal("0.2")
    assert await _status(w, dust) == "dust"


@pytest.mark.asyncio
async def test_usdt_token_from_configured_contract_only(env: dict[str, Any]) -> None:
    w, flow, a = env["w"], env["flow"], env["a"]
    good = _o("0xAA", 12_345_678, chain="ETH", asset="USDT", token=USDT_ETH.upper().replace("0X", "0x"), index="5")
    fake = _o("0xAA", 99_000_000, chain="ETH", asset="USDT", token="0x" + "22" * 20, index="6")
    eth = _o("0xaa", 10**18 + 1, chain="ETH", asset="ETH", index="native")
    for o in (good, fake, eth):
        await flow.on_observed(o)
    await flow.on_confirmations("ETH", Tip(111, "x"), [(good, 12), (fake, 12), (eth, 12)])
    assert w.ledger.balance(a, "USDT").free == Decimal("12.345678")
    assert w.ledger.balance(a, "ETH").free == Decimal("1.000000000000000001")


@pytest.mark.asyncio
async def test_restart_mid_range_credits_once(env: dict[str, Any]) -> None:
    w, a = env["w"], env["a"]
    o = _o()
    flow = env["flow"]
    await flow.on_observed(o)
    await _confirm(flow, o, 10)
    # a new process (same database): the watcher redelivers everything not acknowledged
    again = env["make"]()
    await again.load()
    await again.on_observed(o)
    for n in range(10, 35):
        await _confirm(again, o, n)
    # and the old instance, which does not know the new one credited, replays the threshold: refused
    await _confirm(flow, o, BTC_CREDIT)
    assert w.ledger.balance(a, "BTC").free == Decimal("1.5")
    t = models.deposit_steps
    steps = await w.store.read(lambda c: c.execute(select(t.c.step)).scalars().all())
    assert sorted(steps) == ["credit:0", "unlock:0"]
    sheet = await w.ledger.balance_sheet()
    assert sheet.ok and sheet.transfers == 1


@pytest.mark.asyncio
async def test_mempool_sighting_is_pending_then_its_block_takes_over(env: dict[str, Any]) -> None:
    w, flow, a = env["w"], env["flow"], env["a"]
    pending = _o(height=0, block="")
    await flow.on_pending(pending)
    await flow.on_pending(pending)  # told again: still one deposit
    [dep] = await w.store.read(lambda c: deposit_history(c, a))
    assert (dep.status, dep.confirmations, dep.block_hash) == ("detected", 0, "")  # shown as pending
    mined = _o()
    await flow.on_observed(mined)
    await flow.on_pending(pending)  # a late mempool report never replaces the block
    await _confirm(flow, mined, BTC_CREDIT)
    [dep] = await w.store.read(lambda c: deposit_history(c, a))
    assert (dep.status, dep.block_hash) == ("unlocked", "h100")
    assert w.ledger.balance(a, "BTC").free == Decimal("1.5")
