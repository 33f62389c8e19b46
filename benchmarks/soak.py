"""Soak: a mixed load for a long time against a Braid API server in its own process, watching for leaks.

The server is the one ``api_load.py`` runs (``braid serve``'s stack: aiohttp, signed requests, rate limits,
filters, the router with the internal engine and paper venues on fixed books, the wallets ledger and order
store on SQLite with ``synchronous=FULL``). The load, on loopback, all at once:

- order clients: signed REST new orders (resting far from the market, or crossing inside the spread so they
  match each other internally), cancels of their own resting orders (each keeps at most a few open), order
  queries, openOrders and account reads;
- market subscribers on ``/stream`` (depth diffs, partial depth, trades, bookTicker), each reconnecting now
  and then, so a descriptor or buffer leaked per connection shows;
- user-data subscribers: a listenKey per account (POST /api/v3/userDataStream) on ``/ws/<listenKey>``,
  receiving the orders' executionReports and balance updates.

Every interval it prints throughput per kind, REST p99 latency, WebSocket messages, errors so far, and the
server's resident memory (VmRSS of the server and its writer process, from /proc) and open descriptors.
At the end: the figures at the start (after the warm-up) and the end, and the verdict. It exits non-zero if
any request failed (a transport error, a non-2xx answer, a non-JSON body, an unexpected WebSocket close), or
if memory grew by more than ``--max-rss-growth-mb`` (default 64 MiB) or descriptors by more than
``--max-fd-growth`` (default 32) between the start and the end.

    .venv/bin/python benchmarks/soak.py [--seconds 600] [--interval 10] [--clients 8] [--market-subs 4]
                                        [--user-subs 4] [--warmup 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SYMBOL = "BTCUSDT"
MARKET_STREAMS = ("btcusdt@depth@100ms", "btcusdt@depth5", "btcusdt@trade", "btcusdt@bookTicker")
KINDS = ("new", "cancel", "query", "open", "account")


# ---------------------------------------------------------------------------------------------- figures
@dataclass
class Interval:
    count: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    lat_ms: list[float] = field(default_factory=list)
    ws_messages: int = 0


@dataclass
class Soak:
    now: Interval = field(default_factory=Interval)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    ws_total: int = 0
    ws_connects: int = 0
    stopping: bool = False

    def error(self, what: str) -> None:
        if self.stopping:
            return
        self.errors += 1
        if len(self.first_errors) < 10:
            self.first_errors.append(what)

    def done(self, kind: str, ms: float) -> None:
        self.now.count[kind] += 1
        self.totals[kind] += 1
        self.now.lat_ms.append(ms)

    def take(self) -> Interval:
        got, self.now = self.now, Interval()
        return got


def proc_figures(pid: int) -> tuple[int, int]:
    """(resident KiB, open descriptors) of ``pid`` and its children (the writer process), from /proc."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    rss = fds = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            fds += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            continue
    return rss, fds


def p99(values: list[float]) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))]


# ----------------------------------------------------------------------------------------------- load
def sign(secret: str, params: str) -> str:
    body = f"{params}&timestamp={int(time.time() * 1000)}" if params else f"timestamp={int(time.time() * 1000)}"
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}&signature={sig}"


async def call(http: Any, soak: Soak, kind: str, method: str, url: str, key: str, body: str = "") -> Any:
    t0 = time.perf_counter()
    headers = {"X-MBX-APIKEY": key}
    try:
        if method == "GET":
            req = http.get(f"{url}?{body}", headers=headers)
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            req = http.request(method, url, data=body, headers=headers)
        async with req as r:
            text = await r.text()
            status = r.status
    except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
        soak.error(f"{kind}: {exc!r}")
        return None
    ms = (time.perf_counter() - t0) * 1000
    try:
        answer = json.loads(text)
    except ValueError:
        soak.error(f"{kind}: {status} not JSON: {text[:120]}")
        return None
    if status != 200:
        soak.error(f"{kind}: {status} {text[:160]}")
        return None
    soak.done(kind, ms)
    return answer


async def order_client(base: str, i: int, key: str, secret: str, soak: Soak, stop: asyncio.Event) -> None:
    import aiohttp

    resting: deque[int] = deque()
    n = 0
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            n += 1
            step = n % 10
            if step in (0, 5) and resting:  # cancel the oldest of its own resting orders (nobody else can fill it)
                oid = resting.popleft()
                await call(
                    http,
                    soak,
                    "cancel",
                    "DELETE",
                    f"{base}/api/v3/order",
                    key,
                    sign(secret, f"symbol={SYMBOL}&orderId={oid}"),
                )
            elif step == 3 and resting:
                await call(
                    http,
                    soak,
                    "query",
                    "GET",
                    f"{base}/api/v3/order",
                    key,
                    sign(secret, f"symbol={SYMBOL}&orderId={resting[-1]}"),
                )
            elif step == 7:
                await call(
                    http, soak, "open", "GET", f"{base}/api/v3/openOrders", key, sign(secret, f"symbol={SYMBOL}")
                )
            elif step == 9:
                await call(http, soak, "account", "GET", f"{base}/api/v3/account", key, sign(secret, ""))
            elif step in (1, 4, 8) or len(resting) >= 6:
                # inside the spread (the venues quote 99 / 101): a GTC sell rests at 100, an IOC buy takes one
                side, tif = ("SELL", "GTC") if (n + i) % 2 else ("BUY", "IOC")
                await call(
                    http,
                    soak,
                    "new",
                    "POST",
                    f"{base}/api/v3/order",
                    key,
                    sign(
                        secret,
                        f"symbol={SYMBOL}&side={side}&type=LIMIT&timeInForce={tif}&quantity=0.01"
                        f"&price=100.00&newOrderRespType=RESULT",
                    ),
                )
            else:  # far from the market: rests until this client cancels it
                side, price = ("BUY", f"{90 + n % 5}.00") if n % 2 else ("SELL", f"{106 + n % 5}.00")
                answer = await call(
                    http,
                    soak,
                    "new",
                    "POST",
                    f"{base}/api/v3/order",
                    key,
                    sign(
                        secret,
                        f"symbol={SYMBOL}&side={side}&type=LIMIT&timeInForce=GTC"
                        f"&quantity=0.01&price={price}&newOrderRespType=ACK",
                    ),
                )
                if answer is not None:
                    resting.append(int(answer["orderId"]))
        for oid in resting:  # leave nothing behind
            await call(
                http,
                soak,
                "cancel",
                "DELETE",
                f"{base}/api/v3/order",
                key,
                sign(secret, f"symbol={SYMBOL}&orderId={oid}"),
            )


async def read_ws(ws: Any, soak: Soak, until: float, stop: asyncio.Event) -> bool:
    """Count messages until ``until`` (monotonic) or stop; False if the server closed it first."""
    import aiohttp

    while not stop.is_set():
        left = until - time.monotonic()
        if left <= 0:
            return True
        try:
            msg = await ws.receive(timeout=min(left, 0.5))
        except TimeoutError:
            continue
        if msg.type == aiohttp.WSMsgType.TEXT:
            soak.now.ws_messages += 1
            soak.ws_total += 1
        elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            return False
    return True


async def market_subscriber(base: str, i: int, soak: Soak, stop: asyncio.Event, reconnect_s: float) -> None:
    import aiohttp

    url = base.replace("http", "ws", 1) + "/stream?streams=" + "/".join(MARKET_STREAMS)
    async with aiohttp.ClientSession() as http:
        first = True
        while not stop.is_set():
            try:
                async with http.ws_connect(url, heartbeat=30) as ws:
                    soak.ws_connects += 1
                    # the first connection of each lives a little shorter, so the reconnects are spread out
                    life = reconnect_s * (0.5 + i / 8 if first else 1)
                    first = False
                    if not await read_ws(ws, soak, time.monotonic() + life, stop):
                        soak.error(f"market stream {i} closed by the server")
            except Exception as exc:  # noqa: BLE001
                soak.error(f"market stream {i}: {exc!r}")
                await asyncio.sleep(0.5)


async def user_subscriber(base: str, key: str, soak: Soak, stop: asyncio.Event) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        answer = await call(http, soak, "account", "POST", f"{base}/api/v3/userDataStream", key)
        if answer is None:
            return
        url = base.replace("http", "ws", 1) + f"/ws/{answer['listenKey']}"
        try:
            async with http.ws_connect(url, heartbeat=30) as ws:
                soak.ws_connects += 1
                if not await read_ws(ws, soak, float("inf"), stop):
                    soak.error("user data stream closed by the server")
        except Exception as exc:  # noqa: BLE001
            soak.error(f"user data stream: {exc!r}")


# ------------------------------------------------------------------------------------------------ run
async def open_orders(base: str, creds: list[list[str]]) -> int:
    """How many orders rest, over every account (state the server rightly holds, unlike a leak)."""
    import aiohttp

    n = 0
    async with aiohttp.ClientSession() as http:
        for key, secret in creds:
            answer = await call(
                http, Soak(), "open", "GET", f"{base}/api/v3/openOrders", key, sign(secret, f"symbol={SYMBOL}")
            )
            n += len(answer or [])
    return n


def start_server(tmp: str, accounts: int) -> tuple[subprocess.Popen[str], int, list[list[str]]]:
    keys = os.path.join(tmp, "keys.json")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--dir", tmp, "--keys", keys, "--accounts", str(accounts)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line.startswith("READY"):
        proc.kill()
        raise SystemExit(f"soak: the server did not start: {line!r}")
    return proc, int(line.split()[1]), json.loads(Path(keys).read_text())


async def run(args: argparse.Namespace, pid: int, port: int, creds: list[list[str]]) -> int:
    base = f"http://127.0.0.1:{port}"
    soak, stop = Soak(), asyncio.Event()
    tasks = [
        asyncio.create_task(order_client(base, i, *creds[i % len(creds)], soak, stop)) for i in range(args.clients)
    ]
    tasks += [
        asyncio.create_task(market_subscriber(base, i, soak, stop, args.reconnect)) for i in range(args.market_subs)
    ]
    tasks += [
        asyncio.create_task(user_subscriber(base, creds[i % len(creds)][0], soak, stop)) for i in range(args.user_subs)
    ]
    t0 = time.monotonic()
    end = t0 + args.seconds
    warm = min(args.warmup, args.seconds / 2)
    start_fig: tuple[int, int] | None = None
    open_start = 0
    print(
        f"{'t(s)':>6} {'req/s':>8} {'new/s':>7} {'cxl/s':>7} {'read/s':>7} {'p99 ms':>7} "
        f"{'ws msg/s':>9} {'errors':>6} {'RSS MiB':>8} {'FDs':>5}",
        flush=True,
    )
    next_report = t0 + min(args.interval, args.seconds)
    last = t0
    while True:
        now = time.monotonic()
        if start_fig is None and now - t0 >= warm:
            soak.take()  # the warm-up is not measured
            last = now
            start_fig = proc_figures(pid)
            open_start = await open_orders(base, creds)
        if now >= next_report or now >= end:
            iv = soak.take()
            dt = max(now - last, 1e-9)
            last = now
            rss, fds = proc_figures(pid)
            total = sum(iv.count.values())
            reads = iv.count["query"] + iv.count["open"] + iv.count["account"]
            print(
                f"{now - t0:6.0f} {total / dt:8.0f} {iv.count['new'] / dt:7.0f} {iv.count['cancel'] / dt:7.0f} "
                f"{reads / dt:7.0f} {p99(iv.lat_ms):7.1f} {iv.ws_messages / dt:9.0f} {soak.errors:6d} "
                f"{rss / 1024:8.1f} {fds:5d}",
                flush=True,
            )
            next_report += args.interval
        if now >= end:
            break
        await asyncio.sleep(min(0.2, max(0.0, min(next_report, end) - time.monotonic())))
    end_fig = proc_figures(pid)  # before the clients go: the connections are part of the steady state
    open_end = await open_orders(base, creds)
    stop.set()
    soak.stopping = True
    await asyncio.wait(tasks, timeout=10)
    for t in tasks:
        t.cancel()
    start_fig = start_fig or end_fig
    rss_growth = (end_fig[0] - start_fig[0]) / 1024
    fd_growth = end_fig[1] - start_fig[1]
    measured = args.seconds - warm
    print(
        f"\nsoak: {args.seconds:.0f} s ({warm:.0f} s warm-up), {args.clients} order clients, "
        f"{args.market_subs} market and {args.user_subs} user-data subscribers"
    )
    print(
        "  requests: "
        + ", ".join(f"{k} {v}" for k, v in soak.totals.items())
        + f"; {sum(soak.totals.values()) / max(args.seconds, 1e-9):.0f}/s overall"
    )
    print(f"  websocket: {soak.ws_total} messages, {soak.ws_connects} connections opened")
    print(
        f"  server RSS: {start_fig[0] / 1024:.1f} MiB at start, {end_fig[0] / 1024:.1f} MiB at end "
        f"({rss_growth:+.1f} MiB; bound {args.max_rss_growth_mb} MiB)"
    )
    print(f"  server FDs: {start_fig[1]} at start, {end_fig[1]} at end ({fd_growth:+d}; bound {args.max_fd_growth})")
    print(f"  open orders (resting, all accounts): {open_start} at start, {open_end} at end")
    print(f"  errors: {soak.errors}")
    for e in soak.first_errors:
        print(f"    {e}")
    failed = []
    if soak.errors:
        failed.append(f"{soak.errors} errors")
    if rss_growth > args.max_rss_growth_mb:
        failed.append(f"RSS grew {rss_growth:.1f} MiB")
    if fd_growth > args.max_fd_growth:
        failed.append(f"FDs grew by {fd_growth}")
    if measured > 0 and sum(soak.totals.values()) == 0:
        failed.append("no request was answered")
    print("soak: " + ("FAILED: " + "; ".join(failed) if failed else "ok"), flush=True)
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600, help="how long the load runs (default 600)")
    ap.add_argument("--interval", type=float, default=10, help="seconds between reports (default 10)")
    ap.add_argument("--warmup", type=float, default=5, help="seconds before the start figures are taken")
    ap.add_argument("--clients", type=int, default=8, help="REST order clients")
    ap.add_argument("--accounts", type=int, default=8)
    ap.add_argument("--market-subs", type=int, default=4, help="market-stream WebSocket subscribers")
    ap.add_argument("--user-subs", type=int, default=4, help="user-data-stream WebSocket subscribers")
    ap.add_argument("--reconnect", type=float, default=15, help="seconds a market subscriber stays connected")
    ap.add_argument("--max-rss-growth-mb", type=float, default=64)
    ap.add_argument("--max-fd-growth", type=int, default=32)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dir", default="", help=argparse.SUPPRESS)
    ap.add_argument("--keys", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        from api_load import _serve

        asyncio.run(_serve(0, args.dir, args.accounts, args.keys))
        return 0
    with tempfile.TemporaryDirectory(prefix="braid-soak-") as tmp:
        proc, port, creds = start_server(tmp, args.accounts)
        try:
            return asyncio.run(run(args, proc.pid, port, creds))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
