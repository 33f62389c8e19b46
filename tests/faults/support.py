"""Helpers of the fault suite: the server subprocess, signed requests, an order flood that records every
acknowledgement, and the checks every fault test ends with (`braid accounts check`, every acknowledged order
present with at least its acknowledged state)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr

from config.settings import Settings
from connectors.binance.auth import signature

ROOT = Path(__file__).resolve().parents[2]
FINAL = ("FILLED", "EXPIRED", "CANCELED", "REJECTED")


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    restored: int
    data_dir: str
    creds: list[list[Any]]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start(data_dir: str, env: dict[str, str] | None = None, preexec_fn: Callable[[], None] | None = None) -> Server:
    """``tests.faults.server`` on ``data_dir``, once it says READY."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.server", data_dir],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec_fn,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line.startswith("READY"), line
    _, port, restored = line.split()
    creds = json.loads(Path(data_dir, "creds.json").read_text())
    return Server(proc, int(port), int(restored), data_dir, creds)


def signed(secret: str, params: str) -> str:
    body = f"{params}&timestamp={int(time.time() * 1000)}" if params else f"timestamp={int(time.time() * 1000)}"
    return f"{body}&signature={signature(secret, body)}"


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def order_params(i: int, n: int) -> str:
    """The flood's n-th order of client i: LIMIT orders that match each other or rest, a MARKET now and then."""
    side = "BUY" if (i + n) % 2 else "SELL"
    price = "99.90" if n % 3 else ("98.50" if side == "BUY" else "101.50")
    kind = "type=MARKET&quantity=0.01" if n % 7 == 0 else f"type=LIMIT&timeInForce=GTC&quantity=0.02&price={price}"
    return f"symbol=BTCUSDT&side={side}&{kind}&recvWindow={5000 + i}"  # two clients never sign the same text


@dataclass
class Tally:
    """What the flood was told: acknowledged orders (id -> (account, answer)), refusals by (status, code)."""

    acked: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    refused: dict[tuple[int, int | None], int] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)  # answers that are neither an order nor a Binance error
    slowest_s: float = 0.0


async def post_order(
    http: aiohttp.ClientSession, server: Server, account: int, key: str, secret: str, params: str, tally: Tally
) -> dict[str, Any] | None:
    """One signed new order; the answer is recorded in ``tally``. None if the connection failed."""
    t0 = time.monotonic()
    try:
        async with http.post(
            f"{server.base}/api/v3/order", data=signed(secret, params), headers={**FORM, "X-MBX-APIKEY": key}
        ) as r:
            text = await r.text()
            status = r.status
    except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
        tally.bad.append(f"transport: {exc!r}")
        return None
    finally:
        tally.slowest_s = max(tally.slowest_s, time.monotonic() - t0)
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        tally.bad.append(f"{status} not JSON: {text[:200]}")
        return None
    if isinstance(body, dict) and "orderId" in body and status == 200:
        tally.acked[body["orderId"]] = (account, body)
    elif isinstance(body, dict) and isinstance(body.get("code"), int) and isinstance(body.get("msg"), str):
        tally.refused[(status, body["code"])] = tally.refused.get((status, body["code"]), 0) + 1
    else:
        tally.bad.append(f"{status} {text[:200]}")
    return body  # type: ignore[no-any-return]


async def flood(server: Server, tally: Tally, stop: asyncio.Event, clients: int = 8, timeout_s: float = 10) -> None:
    """``clients`` concurrent signed order streams until ``stop``."""

    async def one(i: int) -> None:
        acct, key, secret = server.creds[i % len(server.creds)]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http:
            n = 0
            while not stop.is_set():
                n += 1
                await post_order(http, server, acct, key, secret, order_params(i, n), tally)

    await asyncio.gather(*(one(i) for i in range(clients)))


async def get(http: aiohttp.ClientSession, server: Server, path: str, key: str, secret: str, params: str = "") -> Any:
    async with http.get(f"{server.base}{path}?{signed(secret, params)}", headers={"X-MBX-APIKEY": key}) as r:
        body = await r.json(content_type=None)
        assert r.status == 200, (path, r.status, body)
        return body


async def check_acknowledged(server: Server, tally: Tally, locks: bool = True) -> None:
    """Every acknowledged order is stored with at least what it was told; final states are kept as told; with
    ``locks``, what is locked is exactly what the open orders reserve (nothing half-written)."""
    async with aiohttp.ClientSession() as http:
        for acct, key, secret in server.creds:
            stored = {
                o["orderId"]: o
                for o in await get(http, server, "/api/v3/allOrders", key, secret, "symbol=BTCUSDT&limit=1000")
            }
            for oid, (a, told) in tally.acked.items():
                if a != acct:
                    continue
                assert oid in stored, f"acknowledged order {oid} lost"
                assert D(stored[oid]["executedQty"]) >= D(told["executedQty"]), (told, stored[oid])
                if told["status"] in FINAL:
                    assert stored[oid]["status"] == told["status"], (told, stored[oid])
            if locks:
                await check_locks(http, server, acct, key, secret)


async def check_locks(http: aiohttp.ClientSession, server: Server, acct: int, key: str, secret: str) -> None:
    """Nothing half-written: what the account has locked is exactly what its open orders reserve."""
    open_orders = await get(http, server, "/api/v3/openOrders", key, secret, "symbol=BTCUSDT")
    bal = {b["asset"]: b for b in (await get(http, server, "/api/v3/account", key, secret))["balances"]}
    want_usdt = sum((D(o["origQty"]) - D(o["executedQty"])) * D(o["price"]) for o in open_orders if o["side"] == "BUY")
    want_btc = sum(D(o["origQty"]) - D(o["executedQty"]) for o in open_orders if o["side"] == "SELL")
    assert D(bal["USDT"]["locked"]) == want_usdt and D(bal["BTC"]["locked"]) == want_btc, (
        f"account {acct}: locked {bal}, open orders reserve {want_usdt} USDT and {want_btc} BTC: "
        f"{[(o['orderId'], o['side'], o['price'], o['status']) for o in open_orders]}"
    )


async def all_locks(server: Server) -> list[str]:
    """``check_locks`` for every account: the accounts where it fails, with why."""
    problems = []
    async with aiohttp.ClientSession() as http:
        for acct, key, secret in server.creds:
            try:
                await check_locks(http, server, acct, key, secret)
            except AssertionError as exc:
                problems.append(str(exc))
    return problems


def accounts_check(data_dir: str, db_url: str = "", schema: str | None = None) -> dict[str, Any]:
    """`braid accounts check` on the server's database (the command's own function, without importing every
    other command); its JSON answer, asserted ok."""
    import argparse

    from gateway.accounts_commands import check

    settings = Settings(
        database_url=db_url or f"sqlite:///{data_dir}/braid.db",
        database_schema=schema,
        data_dir=data_dir,
        master_key=SecretStr(base64.b64encode(base64.b64decode(Path(data_dir, "master.b64").read_text())).decode()),
    )
    out = io.StringIO()
    code = check(argparse.Namespace(), settings, out)
    [sheet] = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert code == 0 and sheet["ok"], sheet
    assert sheet["transfers"] > 0
    return sheet  # type: ignore[no-any-return]
