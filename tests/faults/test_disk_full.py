"""The disk full under the database: the server (and its writer process) may not grow any file past its size
at the moment of the fault (RLIMIT_FSIZE, SIGXFSZ ignored: every growing write fails with EFBIG, as on a full
disk), on SQLite in WAL mode with ``synchronous=FULL``.

New orders are refused with a Binance-shaped error, reads (account, openOrders, depth) keep being served,
nothing acknowledged is lost, and the ledger balances (`braid accounts check`).
"""

from __future__ import annotations

import asyncio

import aiohttp

from tests.faults.support import (
    Tally,
    accounts_check,
    check_acknowledged,
    flood,
    get,
    order_params,
    post_order,
    start,
)
from tests.support import eventually

ROOM = 64 * 1024  # bytes of growth the WAL still has once the disk is "full"


def test_disk_full_refuses_orders_serves_reads_and_loses_nothing(tmp_path):
    data = str(tmp_path)
    server = start(data, {"BRAID_FAULT_ROOM": str(ROOM)})  # accounts, keys, funding written; then the disk fills
    load, full = Tally(), Tally()
    try:

        async def scenario() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(flood(server, load, stop, clients=4))
            # the WAL grows with every commit until a write crosses the limit: from then on orders are refused
            await eventually(lambda: sum(load.refused.values()) >= 20 or load.bad, timeout=30, what="disk full")
            stop.set()
            await asyncio.wait_for(task, 15)
            assert not load.bad, load.bad[:5]
            assert load.acked, "no order was acknowledged before the disk filled"

            acct, key, secret = server.creds[0]
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                for n in range(5):  # still full: refused, the Binance way, every time
                    body = await post_order(http, server, acct, key, secret, order_params(0, n + 1), full)
                    assert body is not None and "orderId" not in body, body
                assert not full.bad and not full.acked, full
                assert all(status >= 500 and code in (-1000, -1001) for status, code in full.refused), full.refused
                # reads are served
                account = await get(http, server, "/api/v3/account", key, secret)
                assert {b["asset"] for b in account["balances"]} >= {"BTC", "USDT"}
                await get(http, server, "/api/v3/openOrders", key, secret, "symbol=BTCUSDT")
                async with http.get(f"{server.base}/api/v3/depth?symbol=BTCUSDT&limit=5") as r:
                    assert r.status == 200 and (await r.json())["bids"]
            await check_acknowledged(server, load, locks=False)

        asyncio.run(scenario())
        assert server.proc.poll() is None, "Braid exited"
    finally:
        server.stop()
    # what reached the disk balances; the acknowledged orders were all read back above, while it was full
    accounts_check(data)


def test_the_file_size_limit_is_what_a_full_disk_looks_like(tmp_path):
    """The simulation is honest: past the limit a write fails with EFBIG (ENOSPC's sibling), nothing is killed."""
    import errno
    import subprocess
    import sys

    code = (
        "import os, resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))\n"
        f"f = os.open({str(tmp_path / 'f')!r}, os.O_WRONLY | os.O_CREAT)\n"
        "os.write(f, b'x' * 4096)\n"
        "try:\n    os.write(f, b'x')\nexcept OSError as e:\n    print(e.errno)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert int(out.stdout) == errno.EFBIG
