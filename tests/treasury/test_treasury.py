"""The broker treasury against the fake Binance and Kraken (real signing, real ccxt), on SQLite and PostgreSQL:
exact inventory, plans for a skewed inventory, M-of-N approval, execution, a crash around the venue call, and
destinations that are not Braid's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from config.treasury import VenueTarget
from connectors.binance.capital import BinanceCapital
from connectors.capital import VenueCapital
from connectors.kraken.capital import KrakenCapital
from connectors.simulators.order_entry import FakeVenue
from tests.connectors.trading.venues import FAST, VENUES
from tests.wallets.conftest import Db
from treasury import (
    HOT_TO_VENUE,
    VENUE_TO_HOT,
    ApprovalRefused,
    TableApprovals,
    Treasury,
    TreasuryError,
)
from treasury.models import transfers
from wallets import migrations
from wallets.db import create_db_engine

D = Decimal
HOT = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"  # BIP-173's P2WPKH example program, regtest prefix
ATTACKER = "bcrt1que968zjtjkx890qdggg4pwjxgcmyyfy9a4e04dcgd3mfrnjqprxqwmpgsl"  # a valid regtest P2WSH that is not ours
TARGETS = [
    VenueTarget(venue="binance", asset="BTC", min=D("0.5"), target=D("1"), max=D("1.5")),  # holds 2: too much
    VenueTarget(venue="kraken", asset="BTC", min=D("2.5"), target=D("3"), max=D("4")),  # holds 2: too little
]


@dataclass
class Wallets:
    amounts: dict[str, dict[str, Decimal]]

    async def wallet_balances(self) -> Mapping[str, Mapping[str, Decimal]]:
        return self.amounts


@dataclass
class HotSender:
    sent: dict[str, tuple[str, str, str, Decimal]] = field(
        default_factory=dict
    )  # key -> (network, asset, address, amount)

    async def send(self, network: str, asset: str, address: str, amount: Decimal, idempotency_key: str) -> str:
        self.sent.setdefault(idempotency_key, (network, asset, address, amount))
        return f"tx-{idempotency_key}"


class Crash(BaseException):
    """The process dies here (nothing after it runs, nothing catches it)."""


class CrashAfterWithdraw:
    """The venue takes the withdrawal, then the process dies before Braid records the answer."""

    def __init__(self, inner: VenueCapital) -> None:
        self.inner = inner
        self.venue = inner.venue
        self.supports_client_id = inner.supports_client_id

    async def deposit_address(self, asset: str, network: str) -> str:
        return await self.inner.deposit_address(asset, network)

    async def withdraw(self, asset: str, network: str, amount: Decimal, address: str, client_id: str) -> str:
        await self.inner.withdraw(asset, network, amount, address, client_id)
        raise Crash

    async def withdrawals(self, asset: str) -> list[Any]:
        return await self.inner.withdrawals(asset)


@pytest.fixture
def engine(db: Db) -> Iterator[Engine]:
    migrations.upgrade(db.url, schema=db.schema)
    eng = create_db_engine(db.url, schema=db.schema)
    yield eng
    eng.dispose()


@dataclass
class Setup:
    fakes: dict[str, FakeVenue]
    adapters: dict[str, Any]
    capital: dict[str, VenueCapital]
    sender: HotSender
    engine: Engine

    def treasury(self, **kw: Any) -> Treasury:
        """A fresh Treasury on the same database: what a restarted process builds."""
        args: dict[str, Any] = dict(
            balances=self.adapters,
            capital=self.capital,
            hot_addresses={"BTC": HOT},
            wallets=Wallets({"hot": {"BTC": D("3")}, "cold": {"BTC": D("10")}, "deposit": {"BTC": D("0.5")}}),
            approvals=TableApprovals(self.engine),
            required_approvals=2,
            targets=TARGETS,
            hot_sender=self.sender,
        )
        args.update(kw)
        return Treasury(self.engine, **args)


@pytest.fixture
async def setup(engine: Engine) -> AsyncIterator[Setup]:
    fakes: dict[str, FakeVenue] = {}
    adapters: dict[str, Any] = {}
    for name in ("binance", "kraken"):
        row = VENUES[name]
        fakes[name] = row.make_fake({row.key: row.secret})
        await fakes[name].start()
        adapters[name] = row.make_adapter(row.key, row.secret, fakes[name].url, **FAST)
    fakes["kraken"].wallet.withdraw_keys["braid-hot"] = HOT
    capital: dict[str, VenueCapital] = {
        "binance": BinanceCapital(adapters["binance"]),
        "kraken": KrakenCapital(adapters["kraken"], {HOT: "braid-hot"}),
    }
    try:
        yield Setup(fakes, adapters, capital, HotSender(), engine)
    finally:
        for name in fakes:
            await adapters[name].close()
            await fakes[name].stop()


async def approved(tr: Treasury, transfer_id: int) -> None:
    tr.approve(transfer_id, "alice")
    tr.approve(transfer_id, "bob")


async def test_inventory_per_venue_and_wallet_is_exact(setup: Setup) -> None:
    inv = await setup.treasury().inventory()
    assert inv.at("binance", "BTC") == D("2") and inv.at("kraken", "BTC") == D("2")
    assert inv.at("binance", "USDT") == D("100000") and inv.at("kraken", "USDT") == D("100000")
    assert (inv.at("hot", "BTC"), inv.at("cold", "BTC"), inv.at("deposit", "BTC")) == (D("3"), D("10"), D("0.5"))
    assert inv.total("BTC") == D("17.5") and inv.unavailable == ()


async def test_plan_for_a_skewed_inventory_proposes_the_two_transfers_once(setup: Setup) -> None:
    tr = setup.treasury()
    planned = await tr.plan("carol")
    by_venue = {t.venue: t for t in planned}
    assert set(by_venue) == {"binance", "kraken"}
    out, refill = by_venue["binance"], by_venue["kraken"]
    assert (out.kind, out.asset, out.network, out.amount, out.address) == (VENUE_TO_HOT, "BTC", "BTC", D("1"), HOT)
    assert (refill.kind, refill.amount) == (HOT_TO_VENUE, D("1"))
    assert refill.address == setup.fakes["kraken"].wallet.deposit_address("XXBT", "BTC")  # as the venue gave it
    assert {t.state for t in planned} == {"proposed"} and out.client_id != refill.client_id
    assert await tr.plan("carol") == []  # open transfers are not proposed twice
    assert [t.id for t in tr.list_transfers()] == [t.id for t in planned]


async def test_refill_is_capped_by_the_hot_wallet(setup: Setup) -> None:
    tr = setup.treasury(wallets=Wallets({"hot": {"BTC": D("0.25")}}), targets=TARGETS[1:])
    [refill] = await tr.plan("carol")
    assert refill.amount == D("0.25")


async def test_execution_needs_two_other_operators_then_moves_the_venue_balance(setup: Setup) -> None:
    tr = setup.treasury(targets=TARGETS[:1])
    [t] = await tr.plan("carol")
    with pytest.raises(ApprovalRefused):
        tr.approve(t.id, "carol")  # the proposer never approves
    tr.approve(t.id, "alice")
    with pytest.raises(ApprovalRefused):
        tr.approve(t.id, "alice")  # one operator counts once
    with pytest.raises(TreasuryError, match="approvals"):
        await tr.execute(t.id)
    assert setup.fakes["binance"].wallet.withdraw_requests == 0
    assert tr.approve(t.id, "bob").state == "approved"

    sent = await tr.execute(t.id)
    wallet = setup.fakes["binance"].wallet
    assert sent.state == "sent" and sent.venue_ref and sent.approvers == ("alice", "bob")
    assert setup.fakes["binance"].engine.free["BTC"] == D("1")
    [w] = wallet.withdrawals
    assert (w.client_id, w.address, w.amount) == (t.client_id, HOT, D("1"))  # withdrawOrderId = our client id
    [done] = await tr.reconcile()
    assert done.state == "completed" and done.tx_id == w.tx_id
    with pytest.raises(TreasuryError):
        await tr.execute(t.id)  # done is done
    assert wallet.withdraw_requests == 1


@pytest.mark.parametrize("venue", ["binance", "kraken"])
async def test_crash_after_the_venue_accepted_does_not_withdraw_twice(setup: Setup, venue: str) -> None:
    target = VenueTarget(venue=venue, asset="BTC", min=D("0"), target=D("1.25"), max=D("1.5"))
    crashing = dict(setup.capital, **{venue: CrashAfterWithdraw(setup.capital[venue])})
    tr = setup.treasury(targets=[target], capital=crashing)
    [t] = await tr.plan("carol")
    await approved(tr, t.id)
    with pytest.raises(Crash):
        await tr.execute(t.id)
    assert tr.get(t.id).state == "sending"  # recorded before the venue was called

    restarted = setup.treasury(targets=[target])
    settled = await restarted.execute(t.id)  # asks the venue's history first (Kraken: by address, amount, time)
    wallet = setup.fakes[venue].wallet
    assert settled.state == "completed" and settled.venue_ref  # found at the venue, already paid out
    assert wallet.withdraw_requests == 1 and len(wallet.withdrawals) == 1
    assert setup.fakes[venue].engine.free["BTC" if venue == "binance" else "XXBT"] == D("1.25")
    assert await restarted.reconcile() == []


async def test_crash_before_the_venue_call_sends_once_on_restart(setup: Setup) -> None:
    tr = setup.treasury(targets=TARGETS[:1])
    [t] = await tr.plan("carol")
    await approved(tr, t.id)
    with setup.engine.begin() as conn:  # the process died right after marking it sending
        conn.execute(update(transfers).where(transfers.c.id == t.id).values(state="sending", sending_at=1))
    settled = await setup.treasury(targets=TARGETS[:1]).execute(t.id)
    assert settled.state == "sent" and setup.fakes["binance"].wallet.withdraw_requests == 1
    assert setup.fakes["binance"].engine.free["BTC"] == D("1")


async def test_a_destination_that_is_not_braids_is_refused(setup: Setup) -> None:
    tr = setup.treasury()
    with pytest.raises(TreasuryError, match="not Braid's hot wallet"):
        await tr.propose(VENUE_TO_HOT, "binance", "BTC", D("1"), "carol", address=ATTACKER)
    with pytest.raises(TreasuryError, match="deposit address"):
        await tr.propose(HOT_TO_VENUE, "kraken", "BTC", D("1"), "carol", address=HOT)
    with pytest.raises(TreasuryError, match="destination refused"):
        await tr.propose(VENUE_TO_HOT, "binance", "BTC", D("1"), "carol", address="bc1-not-an-address")
    assert tr.list_transfers() == []

    t = await tr.propose(VENUE_TO_HOT, "binance", "BTC", D("1"), "carol")
    await approved(tr, t.id)
    with setup.engine.begin() as conn:  # someone edits the stored destination after approval
        conn.execute(update(transfers).where(transfers.c.id == t.id).values(address=ATTACKER))
    with pytest.raises(TreasuryError, match="not Braid's hot wallet"):
        await tr.execute(t.id)
    assert setup.fakes["binance"].wallet.withdraw_requests == 0 and setup.fakes["binance"].engine.free["BTC"] == D("2")
    with setup.engine.connect() as conn:
        assert conn.execute(select(transfers.c.state).where(transfers.c.id == t.id)).scalar_one() == "approved"


async def test_hot_to_venue_pays_the_venues_deposit_address(setup: Setup) -> None:
    tr = setup.treasury(targets=TARGETS[1:])
    [t] = await tr.plan("carol")
    await approved(tr, t.id)
    sent = await tr.execute(t.id)
    assert sent.state == "sent" and sent.venue_ref == f"tx-{t.client_id}"
    deposit = setup.fakes["kraken"].wallet.deposit_address("XXBT", "BTC")
    assert setup.sender.sent == {t.client_id: ("BTC", "BTC", deposit, D("1"))}


async def test_hot_to_venue_without_a_sender_is_refused_and_nothing_moves(setup: Setup) -> None:
    tr = setup.treasury(targets=TARGETS[1:], hot_sender=None)
    [t] = await tr.plan("carol")
    await approved(tr, t.id)
    with pytest.raises(TreasuryError, match="no hot wallet sender"):
        await tr.execute(t.id)
    assert tr.get(t.id).state == "approved"


async def test_the_proposer_is_refused_whatever_the_case_of_the_name(setup: Setup) -> None:
    tr = setup.treasury(targets=TARGETS[:1])
    [t] = await tr.plan("Carol")
    with pytest.raises(ApprovalRefused):
        tr.approve(t.id, "carol")
    assert tr.get(t.id).approvers == ()
