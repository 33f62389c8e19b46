"""The ledger: double entry, free/locked, refusals that change nothing, markup to the broker, exact money."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.wallets.conftest import Db
from wallets import InsufficientBalance, WalletError, Wallets


async def _client(w: Wallets, markup: str = "0") -> tuple[int, int]:
    t = await w.accounts.create_tenant(f"broker-{w.store.next_id('tenant')}", D(markup))
    a = await w.accounts.create_account(t.tenant_id, "alice@example.com")
    return a.account_id, t.broker_account_id


async def _count_postings(w: Wallets) -> int:
    return (await w.ledger.balance_sheet()).postings


async def test_credit_reserve_fill_release_with_markup(db: Db) -> None:
    w = db.open()
    try:
        acc, broker = await _client(w, markup="0.001")
        await w.ledger.credit(acc, "USDT", D("1000"), "fund-1")
        await w.ledger.reserve(acc, "USDT", D("500"), "order-1")
        assert w.ledger.balance(acc, "USDT") == w.ledger.balance(acc, "usdt")
        assert (w.ledger.balance(acc, "USDT").free, w.ledger.balance(acc, "USDT").locked) == (D(500), D(500))
        s = await w.ledger.settle_fill(
            acc,
            base="BTC",
            quote="USDT",
            side="BUY",
            qty=D("0.01"),
            price=D("40000"),
            ref="trade-1",
            commission=D("0.00001"),
            counterparty="venue:binance",
            release=D("100"),
        )
        assert (s.paid, s.received, s.markup) == (D(400), D("0.01"), D("0.00001"))
        assert w.ledger.balance(acc, "BTC").free == D("0.00998")  # 0.01 - fee - markup
        assert (w.ledger.balance(acc, "USDT").free, w.ledger.balance(acc, "USDT").locked) == (D(600), D(0))
        assert w.ledger.balance(broker, "BTC").free == D("0.00001")
        # a seller: locked base out, quote in, commission and markup in quote
        await w.ledger.reserve(acc, "BTC", D("0.005"), "order-2")
        s = await w.ledger.settle_fill(
            acc,
            base="BTC",
            quote="USDT",
            side="SELL",
            qty=D("0.005"),
            price=D("41000"),
            ref="trade-2",
            commission=D("0.205"),
        )
        assert (s.received, s.received_asset, s.markup) == (D("205"), "USDT", D("0.205"))
        assert w.ledger.balance(acc, "USDT").free == D("600") + D("205") - D("0.205") - D("0.205")
        assert w.ledger.balance(acc, "BTC").free == D("0.00498")
        sheet = await w.ledger.balance_sheet()
        assert sheet.ok, sheet.problems
        assert all(v == 0 for v in sheet.totals.values())
    finally:
        await w.close()


async def test_insufficient_balance_is_refused_and_changes_nothing(db: Db) -> None:
    w = db.open()
    try:
        acc, _ = await _client(w)
        await w.ledger.credit(acc, "USDT", D("100"), "fund")
        before, postings = w.ledger.balances(acc), await _count_postings(w)
        with pytest.raises(InsufficientBalance) as err:
            await w.ledger.reserve(acc, "USDT", D("100.000000000000000001"), "too-much")
        assert str(err.value) == "Account has insufficient balance for requested action."
        assert err.value.code == -2010
        with pytest.raises(InsufficientBalance):
            await w.ledger.release(acc, "USDT", D("1"), "nothing-locked")
        with pytest.raises(InsufficientBalance):  # a buy fill needs its quote locked first
            await w.ledger.settle_fill(acc, base="BTC", quote="USDT", side="BUY", qty=D(1), price=D(1), ref="x")
        with pytest.raises(InsufficientBalance):
            await w.ledger.reserve(acc, "ETH", D("0.1"), "no-eth")
        assert w.ledger.balances(acc) == before
        assert await _count_postings(w) == postings
        # and after reopening
        await w.close()
        w = db.open()
        assert w.ledger.balances(acc) == before
    finally:
        await w.close()


async def test_bad_amounts_are_refused(db: Db) -> None:
    w = db.open()
    try:
        acc, _ = await _client(w)
        for bad in (D(0), D(-1), D("1e-19"), D("NaN")):
            with pytest.raises(WalletError):
                await w.ledger.credit(acc, "USDT", bad, "bad")
        with pytest.raises(WalletError):
            await w.ledger.credit(acc, "US-DT", D(1), "bad asset")
        with pytest.raises(WalletError):
            await w.ledger.credit(999_999, "USDT", D(1), "no such account")
        assert w.ledger.balances(acc) == {}
    finally:
        await w.close()


async def test_many_concurrent_reservations_never_overdraw(db: Db) -> None:
    w = db.open()
    try:
        acc, _ = await _client(w)
        await w.ledger.credit(acc, "USDT", D("100"), "fund")
        results = await asyncio.gather(
            *(w.ledger.reserve(acc, "USDT", D("3"), f"o{i}") for i in range(50)), return_exceptions=True
        )
        ok = [r for r in results if r is None]
        assert len(ok) == 33 and all(isinstance(r, InsufficientBalance) for r in results if r is not None)
        assert (w.ledger.balance(acc, "USDT").free, w.ledger.balance(acc, "USDT").locked) == (D(1), D(99))
        assert (await w.ledger.balance_sheet()).ok
    finally:
        await w.close()


async def test_a_credit_by_another_process_is_seen_before_refusing(db: Db) -> None:
    w = db.open()
    try:
        acc, _ = await _client(w)
        await w.store.stop()
        other = db.open()  # e.g. `braid accounts fund` while the server runs
        await other.ledger.credit(acc, "USDT", D("50"), "admin")
        await other.close()
        await w.ledger.reserve(acc, "USDT", D("20"), "order")  # this process had never seen the credit
        await w.ledger.credit(acc, "USDT", D("5"), "again")
        assert (w.ledger.balance(acc, "USDT").free, w.ledger.balance(acc, "USDT").locked) == (D(35), D(20))
        assert (await w.ledger.balance_sheet()).ok
    finally:
        await w.close()


# -- property: random sequences against a plain model ---------------------------------------------------

ASSETS = ("BTC", "USDT")
amounts = st.decimals(min_value=D("0.00000001"), max_value=D("500"), places=8)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("credit"), st.sampled_from(ASSETS), amounts),
        st.tuples(st.just("reserve"), st.sampled_from(ASSETS), amounts),
        st.tuples(st.just("release"), st.sampled_from(ASSETS), amounts),
        st.tuples(
            st.just("fill"),
            st.sampled_from(("BUY", "SELL")),
            amounts,
            st.decimals(min_value=D("0.01"), max_value=D(2), places=2),
        ),
    ),
    min_size=1,
    max_size=25,
)


def test_random_sequences_match_the_model_and_the_sheet_balances(db: Db) -> None:
    w = db.open()

    # every durable write is committed (fsync): 16 sequences of up to 25, with and without a broker markup
    @settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(seq=ops, markup=st.sampled_from(["0", "0.0005"]))
    def run(seq: list[tuple], markup: str) -> None:
        asyncio.run(_run(w, seq, D(markup)))

    try:
        run()
        sheet = asyncio.run(w.ledger.balance_sheet())
        assert sheet.ok, sheet.problems
    finally:
        w.store.dispose()


async def _run(w: Wallets, seq: list[tuple], markup: D) -> None:
    await w.store.start()
    try:
        acc, broker = await _client(w, str(markup))
        model = {a: [D(0), D(0)] for a in ASSETS}
        for op in seq:
            kind = op[0]
            if kind == "credit":
                await w.ledger.credit(acc, op[1], op[2], "c")
                model[op[1]][0] += op[2]
            elif kind in ("reserve", "release"):
                src, dst = (0, 1) if kind == "reserve" else (1, 0)
                ok = model[op[1]][src] >= op[2]
                try:
                    await getattr(w.ledger, kind)(acc, op[1], op[2], "r")
                except InsufficientBalance:
                    assert not ok
                else:
                    assert ok
                    model[op[1]][src] -= op[2]
                    model[op[1]][dst] += op[2]
            else:
                side, qty, price = op[1], op[2], op[3]
                quote = qty * price
                pay, recv, pay_asset, recv_asset = (
                    (quote, qty, "USDT", "BTC") if side == "BUY" else (qty, quote, "BTC", "USDT")
                )
                ok = model[pay_asset][1] >= pay
                try:
                    await w.ledger.settle_fill(acc, base="BTC", quote="USDT", side=side, qty=qty, price=price, ref="f")
                except InsufficientBalance:
                    assert not ok
                else:
                    assert ok
                    model[pay_asset][1] -= pay
                    model[recv_asset][0] += recv - (recv * markup).quantize(D("1e-18"), rounding="ROUND_DOWN")
            for a in ASSETS:
                b = w.ledger.balance(acc, a)
                assert (b.free, b.locked) == tuple(model[a])
                assert b.free >= 0 and b.locked >= 0
        assert w.ledger.balance(broker, "BTC").free >= 0
    finally:
        await w.store.stop()


async def test_refresh_sees_another_process_and_keeps_a_newer_commit_of_its_own(db: Db) -> None:
    w, other = db.open(), db.open()  # two processes' wallets on one database
    try:
        acc, _ = await _client(w)
        await w.ledger.credit(acc, "USDT", D("100"), "fund-1")
        await other.ledger.credit(acc, "USDT", D("50"), "cli-fund")  # `braid accounts fund` elsewhere
        await other.ledger.credit(acc, "BTC", D("2"), "cli-fund")
        assert w.ledger.balances(acc)["USDT"].free == D(100)  # cached: not seen yet
        fresh = await w.ledger.refresh(acc)
        assert {a: b.free for a, b in fresh.items()} == {"USDT": D(150), "BTC": D(2)}
        # a commit of ours lands while the read is under way: the (older) value read does not overwrite it
        read = w.store.read

        async def read_then_commit(fn):  # type: ignore[no-untyped-def]
            rows = await read(fn)
            await w.ledger.credit(acc, "USDT", D("1"), "fund-2")
            return rows

        w.store.read = read_then_commit  # type: ignore[method-assign]
        assert (await w.ledger.refresh(acc))["USDT"].free == D(151)
    finally:
        await w.close()
        await other.close()
