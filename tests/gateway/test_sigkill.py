"""SIGKILL the whole server under order load, start it again on the same data: every acknowledged order is
there with at least what it was told, the ledger balances to zero, locked funds equal what the open orders
reserve, and the open orders work again (they can be canceled, releasing everything)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path

import aiohttp
import pytest

from connectors.binance.auth import signature
from tests.support import eventually

ROOT = Path(__file__).resolve().parents[2]


def start(data_dir: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.gateway.kill_server", data_dir],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line.startswith("READY"), line
    _, port, restored = line.split()
    return proc, int(port), int(restored)


def signed(secret: str, params: str) -> str:
    body = f"{params}&timestamp={int(time.time() * 1000)}"
    return f"{body}&signature={signature(secret, body)}"


async def flood(port: int, creds: list, acked: dict, stop: asyncio.Event) -> None:
    async def one_client(i: int) -> None:
        acct, key, secret = creds[i % len(creds)]
        async with aiohttp.ClientSession(headers={"X-MBX-APIKEY": key}) as http:
            n = 0
            while not stop.is_set():
                n += 1
                side = "BUY" if (i + n) % 2 else "SELL"
                price = "99.90" if n % 3 else ("98.50" if side == "BUY" else "101.50")  # match internally, or rest
                kind = (
                    "type=MARKET&quantity=0.01"
                    if n % 7 == 0
                    else f"type=LIMIT&timeInForce=GTC&quantity=0.02&price={price}"
                )
                try:
                    async with http.post(
                        f"http://127.0.0.1:{port}/api/v3/order",
                        data=signed(secret, f"symbol=BTCUSDT&side={side}&{kind}"),
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                    ) as r:
                        body = await r.json()
                except (TimeoutError, aiohttp.ClientError, ConnectionError):
                    return  # the server is gone
                if "orderId" in body:
                    acked[body["orderId"]] = (acct, body)

    await asyncio.gather(*(one_client(i) for i in range(16)), return_exceptions=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """(env for the server, SQLAlchemy engine for the final ledger check) on SQLite or a fresh PostgreSQL schema."""
    from sqlalchemy import create_engine

    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path}/braid.db")
        yield {}, engine
        engine.dispose()
        return
    import uuid

    from tests.wallets.conftest import PG_URL
    from wallets import drop_schema

    try:
        probe = create_engine(PG_URL)
        with probe.connect():
            pass
        probe.dispose()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} not reachable: {exc}")
    schema = f"braid_kill_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(PG_URL).execution_options(schema_translate_map={None: schema})
    yield {"BRAID_KILL_DB_URL": PG_URL, "BRAID_KILL_SCHEMA": schema}, engine
    engine.dispose()
    drop_schema(PG_URL, schema)


@pytest.mark.slow
def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path, database):
    data = str(tmp_path)
    env, engine = database
    proc, port, _ = start(data, env)
    creds = json.loads(Path(data, "creds.json").read_text())
    acked: dict[int, tuple[int, dict]] = {}

    async def load_then_kill() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(flood(port, creds, acked, stop))
        await eventually(lambda: len(acked) >= 200, timeout=30, what="the flood has acknowledged orders")
        os.kill(proc.pid, signal.SIGKILL)  # mid-flight: requests are in the air
        stop.set()
        await asyncio.wait_for(task, 10)

    try:
        asyncio.run(load_then_kill())
    finally:
        proc.kill()
        proc.wait(10)
    assert len(acked) > 50

    proc, port, restored = start(data, env)
    try:

        async def check() -> None:
            by_key = {c[0]: c for c in creds}
            async with aiohttp.ClientSession() as http:
                open_orders: dict[int, list] = {}
                for acct, key, secret in creds:
                    hdr = {"X-MBX-APIKEY": key}
                    async with http.get(
                        f"http://127.0.0.1:{port}/api/v3/allOrders?" + signed(secret, "symbol=BTCUSDT&limit=1000"),
                        headers=hdr,
                    ) as r:
                        stored = {o["orderId"]: o for o in await r.json()}
                    async with http.get(
                        f"http://127.0.0.1:{port}/api/v3/openOrders?" + signed(secret, "symbol=BTCUSDT"), headers=hdr
                    ) as r:
                        open_orders[acct] = await r.json()
                    mine = {oid: body for oid, (a, body) in acked.items() if a == acct}
                    for oid, told in mine.items():
                        assert oid in stored, f"acknowledged order {oid} lost"
                        assert D(stored[oid]["executedQty"]) >= D(told["executedQty"])
                        if told["status"] in ("FILLED", "EXPIRED", "CANCELED"):
                            assert stored[oid]["status"] == told["status"]
                    async with http.get(
                        f"http://127.0.0.1:{port}/api/v3/account?" + signed(secret, ""), headers=hdr
                    ) as r:
                        bal = {b["asset"]: b for b in (await r.json())["balances"]}
                    want_usdt = sum(
                        (D(o["origQty"]) - D(o["executedQty"])) * D(o["price"])
                        for o in open_orders[acct]
                        if o["side"] == "BUY"
                    )
                    want_btc = sum(
                        D(o["origQty"]) - D(o["executedQty"]) for o in open_orders[acct] if o["side"] == "SELL"
                    )
                    assert D(bal["USDT"]["locked"]) == want_usdt and D(bal["BTC"]["locked"]) == want_btc
                    # the restored orders work: cancel them all, and nothing stays locked
                    async with http.delete(
                        f"http://127.0.0.1:{port}/api/v3/openOrders",
                        data=signed(secret, "symbol=BTCUSDT"),
                        headers={**hdr, "Content-Type": "application/x-www-form-urlencoded"},
                    ) as r:
                        body = await r.json()
                        assert r.status == 200 or body == {"code": -2011, "msg": "Unknown order sent."}, body
                    async with http.get(
                        f"http://127.0.0.1:{port}/api/v3/account?" + signed(secret, ""), headers=hdr
                    ) as r:
                        bal = {b["asset"]: b for b in (await r.json())["balances"]}
                    assert D(bal["USDT"]["locked"]) == 0 and D(bal["BTC"]["locked"]) == 0
                # every open order was restored (some restored remainders may have met each other again)
                assert restored >= sum(len(v) for v in open_orders.values()) > 0
                del by_key

        asyncio.run(check())
    finally:
        proc.terminate()
        proc.wait(10)

    from wallets.ledger import check_sheet

    with engine.connect() as conn:
        sheet = check_sheet(conn)
    assert sheet.ok, sheet.problems
