"""Deposit addresses: stable per account, never shared between accounts, also when two processes allocate."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from tests.wallets.conftest import Db
from wallets.custody import CustodyAddresses, CustodyError, PublicWallets, models
from wallets.custody.addresses import validate_address


def _open(db: Db, public: PublicWallets) -> CustodyAddresses:
    return CustodyAddresses.open(db.url, public, schema=db.schema)


def test_stable_and_unique(db: Db, public: PublicWallets) -> None:
    a = _open(db, public)
    try:
        first = {(acct, net): a.deposit_address(acct, net) for acct in (1, 2, 3) for net in ("BTC", "ETH", "BSC")}
        for (acct, net), d in first.items():
            assert a.deposit_address(acct, net.lower()) == d  # same account -> same address, every time
            assert d.address == public.deposit_address(d.network, d.derivation_index)
            assert a.account_for(net, d.address) == acct
            validate_address(net, d.address, public.btc)
        assert first[(1, "BTC")].address.startswith("bcrt1q")
        assert first[(1, "BTC")].path == "m/84'/1'/0'/0/0"
        for net in ("BTC", "ETH", "BSC"):
            addrs = [first[(acct, net)].address for acct in (1, 2, 3)]
            assert len(set(addrs)) == 3
            assert [first[(acct, net)].derivation_index for acct in (1, 2, 3)] == [0, 1, 2]
        # EVM lookups ignore case; unknown addresses are not anyone's
        eth = first[(2, "ETH")].address
        assert a.account_for("ETH", eth.lower()) == 2 and a.account_for("eth", eth.upper().replace("0X", "0x")) == 2
        assert a.account_for("BSC", eth) is None
        assert a.account_for("BTC", public.hot_address("BTC")) is None
    finally:
        a.close()
    # a new process sees the same addresses from the table
    b = _open(db, public)
    try:
        assert b.account_for("BTC", first[(3, "BTC")].address) == 3
        assert b.deposit_address(3, "BTC") == first[(3, "BTC")]
        assert b.deposit_address(4, "BTC").derivation_index == 3
    finally:
        b.close()


def test_refuses_bad_input_and_foreign_keys(db: Db, public: PublicWallets, tmp_path: object) -> None:
    a = _open(db, public)
    try:
        with pytest.raises(ValueError, match="unknown network"):
            a.deposit_address(1, "DOGE")
        with pytest.raises(CustodyError, match="positive"):
            a.deposit_address(0, "BTC")
        a.deposit_address(1, "ETH")
    finally:
        a.close()
    # the same table with another installation's public keys is refused, not silently mixed
    other = PublicWallets(
        public.btc_network, {**public.deposit, "ETH": public.hot["ETH"]}, public.hot, public.cold_descriptor
    )
    with pytest.raises(CustodyError, match="other keys"):
        _open(db, other)


def test_two_processes_allocating_at_once_never_share_an_index(db: Db, public: PublicWallets) -> None:
    # two independent connections pools (as two API processes would have), racing on new and on the same accounts
    a, b = _open(db, public), _open(db, public)
    try:
        start = threading.Barrier(2)

        def run(addrs: CustodyAddresses, accounts: list[int]) -> list[tuple[int, str, int]]:
            start.wait()
            return [
                (acct, d.address, d.derivation_index) for acct in accounts for d in [addrs.deposit_address(acct, "BTC")]
            ]

        accounts = list(range(1, 31))
        with ThreadPoolExecutor(2) as pool:
            fa = pool.submit(run, a, accounts)
            fb = pool.submit(run, b, accounts[::-1])
            ra, rb = fa.result(timeout=120), fb.result(timeout=120)
        assert {x[0]: x[1:] for x in ra} == {x[0]: x[1:] for x in rb}  # both saw the same address per account
        with a._engine.connect() as conn:
            rows = conn.execute(
                select(models.deposit_addresses).where(models.deposit_addresses.c.network == "BTC")
            ).all()
        assert len(rows) == 30
        assert len({r.address for r in rows}) == 30
        assert len({r.derivation_index for r in rows}) == 30
        for r in rows:
            assert public.deposit_address("BTC", r.derivation_index) == r.address
        b.refresh()
        assert all(b.account_for("BTC", r.address) == r.account_id for r in rows)
    finally:
        a.close()
        b.close()


async def test_async_lookup_from_an_event_loop(db: Db, public: PublicWallets) -> None:
    a = _open(db, public)
    try:
        d = await a.deposit_address_async(41, "BSC")
        assert d == await a.deposit_address_async(41, "bsc") == a.deposit_address(41, "BSC")
        assert a.account_for("BSC", d.address.lower()) == 41
        assert d.address.lower() in a.watched("BSC")
    finally:
        a.close()
