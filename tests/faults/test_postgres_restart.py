"""PostgreSQL stopped dead under order load, then started again, with Braid left running throughout.

While the database is down every new order is refused with a Binance-shaped ``{"code","msg"}`` error within a
bound (no hang, no bare 500), nothing is half-written, and once the database is back new orders are accepted
again without restarting Braid. Afterwards the ledger balances (`braid accounts check`) and every acknowledged
order is there with at least its acknowledged state.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.faults.conftest import PrivatePostgres
from tests.faults.support import (
    Tally,
    accounts_check,
    all_locks,
    check_acknowledged,
    flood,
    order_params,
    post_order,
    start,
)
from tests.support import eventually

REFUSAL_BOUND_S = 10.0  # no order waits longer than this for its answer while the database is down


def test_postgres_stopped_under_load_refuses_cleanly_and_resumes_by_itself(tmp_path, private_postgres: PrivatePostgres):
    pg = private_postgres
    server = start(str(tmp_path), {"BRAID_FAULT_DB_URL": pg.url})
    before, down, after = Tally(), Tally(), Tally()
    everything = Tally()
    diverged: list[str] = []
    try:

        async def scenario() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(flood(server, before, stop, timeout_s=REFUSAL_BOUND_S + 5))
            await eventually(lambda: len(before.acked) >= 40, timeout=20, what="orders acknowledged under load")
            pg.stop_now()  # mid-flight: commits are in the air
            stop.set()
            await asyncio.wait_for(task, REFUSAL_BOUND_S + 10)

            # down: every order is refused the Binance way, within the bound
            stop = asyncio.Event()
            task = asyncio.create_task(flood(server, down, stop, clients=4, timeout_s=REFUSAL_BOUND_S + 5))
            try:
                await eventually(lambda: sum(down.refused.values()) >= 20 or down.bad, timeout=20)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; answers: {down}") from None
            stop.set()
            await asyncio.wait_for(task, REFUSAL_BOUND_S + 10)
            assert not down.bad, down.bad[:5]
            assert not down.acked, "an order was acknowledged while the database was down"
            assert down.slowest_s < REFUSAL_BOUND_S
            # a 5xx with -1000/-1001: "status unknown, nothing acknowledged", never blamed on the client's request
            assert all(500 <= status < 600 and code in (-1000, -1001) for status, code in down.refused), down.refused

            # back: new orders are accepted again by the same Braid process
            pg.start()
            acct, key, secret = server.creds[0]
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:

                async def accepted() -> bool:
                    await post_order(http, server, acct, key, secret, order_params(0, 1), after)
                    return bool(after.acked)

                try:
                    await eventually(accepted, timeout=20, what="an order accepted after PostgreSQL came back")
                except AssertionError as exc:
                    raise AssertionError(f"{exc}; answers: {after}") from None
            stop = asyncio.Event()
            task = asyncio.create_task(flood(server, after, stop))
            await eventually(lambda: len(after.acked) >= 20, timeout=20, what="load acknowledged again")
            stop.set()
            await asyncio.wait_for(task, 15)
            everything.acked.update({**before.acked, **after.acked})
            assert not before.bad and not after.bad, (before.bad[:5], after.bad[:5])
            await check_acknowledged(server, everything, locks=False)
            diverged.extend(f"live: {p}" for p in await all_locks(server))

        asyncio.run(scenario())
        assert server.proc.poll() is None, "Braid exited"
    finally:
        server.stop()
    accounts_check(str(tmp_path), pg.url)
    # the database is the truth: Braid started again on it has every acknowledged order, locks match orders
    server = start(str(tmp_path), {"BRAID_FAULT_DB_URL": pg.url})
    try:
        asyncio.run(check_acknowledged(server, everything, locks=False))
        diverged.extend(f"restarted: {p}" for p in asyncio.run(all_locks(server)))
    finally:
        server.stop()
    if diverged:
        # Known defect, found by this test (fixed by the journaled sequencer): an order whose commit failed was
        # already executed in memory (it rested, or matched a resting order) and stays so; later batches then
        # write that memory's order rows and lock releases against a database that never had the failed batch,
        # so an open order can end up without its reservation. The ledger's postings still sum to its balances.
        pytest.xfail(f"locks differ from open orders after failed commits: {diverged[0][:600]}")
