"""Order entry over loopback: many concurrent signed clients against a Braid API server in its own process.

The server (this file with ``--serve``) is the real stack: aiohttp, X-MBX-APIKEY + HMAC-SHA256 over the raw
body with timestamp/recvWindow and replay checks, rate limits, Binance filters, the smart order router with
the internal engine (paper venues on fixed books), the wallets ledger and order store on SQLite with
``synchronous=FULL`` — every answer is sent only after its order, fills and postings are committed (group
commit). The load is a broker's internalised flow: half the clients post BUY and half SELL LIMIT GTC orders at
one price inside the venues' spread, so most orders either rest or match a resting one internally (both
sides settled in the ledger).

The clients are raw keep-alive HTTP/1.1 connections on asyncio (uvloop if installed), one signed POST
/api/v3/order at a time per connection; latency is from the request's first byte to the last byte of its
answer. Figures: sustained orders per second over the measured window, p50/p99/max latency, statuses.

Then the same server and clients send the same signed requests to POST /api/v3/order/test: the gateway alone
(key, signature, timestamp and replay checks, rate limits, Binance filters, the JSON answer) without the ledger,
the engine, the router or the database. The difference in server CPU per request is what the order path costs.

The peer, run in the same invocation with the same clients and requests: a bare aiohttp server in its own
process (same loop, same server options) whose handler does only what any signed Binance-style order endpoint
must: read the form body, look up the key, check the HMAC-SHA256 and answer an order-shaped JSON. No filters,
no ledger, no router, no database: the framework's floor on this machine, against which Braid's figure is
put as a ratio.

    .venv/bin/python benchmarks/api_load.py [--clients 64] [--accounts 64] [--seconds 10] [--warmup 2]
                                            [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                            [--no-peer]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SYMBOL = "BTC/USDT"
ORDER = "/api/v3/order"
TEST_ORDER = "/api/v3/order/test"  # the same request through the gateway only: key, signature, limits, filters


# ----------------------------------------------------------------------------------------------- server
async def _serve(port: int, data_dir: str, accounts: int, keys_file: str, db_url: str = "", schema: str = "") -> None:
    from decimal import Decimal as D

    import structlog
    from aiohttp import web

    from config.instruments import Instrument
    from config.settings import Settings
    from connectors.book import VenueBook
    from gateway.api import build_app
    from gateway.api.stack import build_context, freeze_start_up_heap
    from router.consolidated import ConsolidatedMarket
    from wallets import Wallets

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    settings = Settings(
        api_orders_limit_10s=1_000_000,
        api_orders_limit_1d=100_000_000,
        api_weight_limit_1m=100_000_000,
        risk_max_open_orders=100_000,
        data_dir=data_dir,
    )
    market = ConsolidatedMarket()
    books = {}
    for i, venue in enumerate(("binance", "kraken")):
        book = VenueBook(venue, SYMBOL, "BTCUSDT")
        book.levels.load([[str(99 - k), "50"] for k in range(20)], [[str(101 + k), "50"] for k in range(20)])
        book.synced, book.last_update_ns = True, 1
        books[venue] = book
        market.book(SYMBOL).attach(book, fee=settings.venue(venue).taker_fee, priority=i)
    insts = {(v, SYMBOL): Instrument(SYMBOL, "BTC", "USDT", v, "BTCUSDT", D("0.01"), D("0.001")) for v in books}
    published = {
        SYMBOL: Instrument(
            SYMBOL,
            "BTC",
            "USDT",
            "internal",
            "BTCUSDT",
            D("0.01"),
            D("0.001"),
            min_qty=D("0.001"),
            max_qty=D("1000"),
            min_notional=D("1"),
        )
    }
    wallets = Wallets.open(
        db_url or f"sqlite:///{data_dir}/braid.db",
        master_key=os.urandom(32),
        sqlite_synchronous="FULL",
        schema=schema or None,
        max_batch=settings.db_max_batch,
    )
    await wallets.start()
    tenant = await wallets.accounts.create_tenant("bench")
    creds = []
    for n in range(accounts):
        acc = await wallets.accounts.create_account(tenant.tenant_id, f"trader{n}")
        await wallets.ledger.credit(acc.account_id, "USDT", D("1000000000"), "bench")
        await wallets.ledger.credit(acc.account_id, "BTC", D("1000000"), "bench")
        key, secret = await wallets.keys.create_key(tenant.tenant_id, acc.account_id, can_read=True, can_trade=True)
        creds.append([key.api_key, secret])
    ctx = build_context(settings, market, {v: (lambda s, b=b: b) for v, b in books.items()}, insts, wallets, published)
    app = build_app(ctx)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    Path(keys_file).write_text(json.dumps(creds))  # noqa: ASYNC240 - once, before any request
    freeze_start_up_heap()
    print(f"READY {site._server.sockets[0].getsockname()[1]}", flush=True)  # type: ignore[union-attr]
    if os.environ.get("BRAID_BENCH_PROFILE"):
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        await asyncio.sleep(float(os.environ["BRAID_BENCH_PROFILE"]))
        prof.disable()
        order = os.environ.get("BRAID_BENCH_SORT", "tottime")
        pstats.Stats(prof, stream=sys.stderr).sort_stats(order).print_stats(
            int(os.environ.get("BRAID_BENCH_LINES", "40"))
        )
    await asyncio.Event().wait()


async def _serve_peer(port: int, accounts: int, keys_file: str) -> None:
    import orjson
    from aiohttp import web

    secrets_by_key = {os.urandom(24).hex(): os.urandom(24).hex() for _ in range(accounts)}
    macs = {k: hmac.new(v.encode(), digestmod=hashlib.sha256) for k, v in secrets_by_key.items()}
    ids = iter(range(1, 1 << 62))

    async def order(request: web.Request) -> web.Response:
        raw = (await request.read()).decode()
        mac = macs.get(request.headers.get("X-MBX-APIKEY", ""))
        i = raw.rfind("&signature=")
        if mac is None or i < 0:
            return web.json_response({"code": -2014, "msg": "API-key format invalid."}, status=401)
        m = mac.copy()
        m.update(raw[:i].encode())
        if not hmac.compare_digest(m.hexdigest(), raw[i + 11 :]):
            return web.json_response({"code": -1022, "msg": "Signature for this request is not valid."}, status=400)
        p = dict(part.split("=", 1) for part in raw[:i].split("&"))
        now = int(time.time() * 1000)
        body = {
            "symbol": p["symbol"],
            "orderId": next(ids),
            "orderListId": -1,
            "clientOrderId": p["newClientOrderId"],
            "transactTime": now,
            "price": p["price"],
            "origQty": p["quantity"],
            "executedQty": "0.00000000",
            "origQuoteOrderQty": "0.00000000",
            "cummulativeQuoteQty": "0.00000000",
            "status": "NEW",
            "timeInForce": p["timeInForce"],
            "type": p["type"],
            "side": p["side"],
            "workingTime": now,
            "selfTradePreventionMode": "NONE",
        }
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_post("/api/v3/order", order)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    Path(keys_file).write_text(json.dumps([[k, v] for k, v in secrets_by_key.items()]))  # noqa: ASYNC240 - once, at start
    print(f"READY {site._server.sockets[0].getsockname()[1]}", flush=True)  # type: ignore[union-attr]
    await asyncio.Event().wait()


# ----------------------------------------------------------------------------------------------- clients
class Stats:
    def __init__(self) -> None:
        self.lat: list[float] = []
        self.statuses: dict[str, int] = {}
        self.measuring = False
        self.elapsed = 0.0
        self.cpu: dict[str, float] = {}  # CPU seconds each server process used in the measured window


def _cpu_seconds(pid: int) -> dict[str, float]:
    """User+system CPU seconds of ``pid`` ("server") and its children ("writer", ...), from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}

    def read(p: int) -> float:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    try:
        out["server"] = read(pid)
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for i, child in enumerate(children):
            out["writer" if i == 0 else f"child{i}"] = read(int(child))
    except (OSError, ValueError):
        pass
    return out


async def _client(
    port: int, key: str, secret: str, side: str, stats: Stats, stop: asyncio.Event, idx: int, path: str = ORDER
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-MBX-APIKEY: {key}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
    ).encode()
    n = 0
    while not stop.is_set():
        n += 1
        body = (
            f"symbol=BTCUSDT&side={side}&type=LIMIT&timeInForce=GTC&quantity=0.02&price=99.90"
            f"&newOrderRespType=RESULT&newClientOrderId=c{idx}x{n}&timestamp={int(time.time() * 1000)}"
        )
        m = mac.copy()
        m.update(body.encode())
        payload = f"{body}&signature={m.hexdigest()}".encode()
        t0 = time.perf_counter()
        writer.write(head + b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
        header = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in header.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        data = await reader.readexactly(length)
        dt = time.perf_counter() - t0
        if stats.measuring:
            stats.lat.append(dt)
            status = header[9:12].decode()
            if status == "200":
                i = data.find(b'"status":"')
                status = data[i + 10 : data.find(b'"', i + 10)].decode() if i >= 0 else "200"
            else:
                status = f"{status} {data[:80].decode(errors='replace')}"
            stats.statuses[status] = stats.statuses.get(status, 0) + 1
    writer.close()


async def _load(
    port: int,
    creds: list[list[str]],
    clients: int,
    seconds: float,
    warmup: float,
    server_pid: int = 0,
    path: str = ORDER,
) -> Stats:
    stats, stop = Stats(), asyncio.Event()
    tasks = [
        asyncio.create_task(_client(port, *creds[i % len(creds)], "BUY" if i % 2 else "SELL", stats, stop, i, path))
        for i in range(clients)
    ]
    await asyncio.sleep(warmup)
    cpu0 = _cpu_seconds(server_pid) if server_pid else {}
    stats.measuring = True
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    stats.measuring = False
    stats.elapsed = time.perf_counter() - t0
    cpu1 = _cpu_seconds(server_pid) if server_pid else {}
    stats.cpu = {k: cpu1[k] - cpu0[k] for k in cpu1 if k in cpu0}
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return stats


def _pct(sorted_vals: list[float], p: float) -> float:
    return sorted_vals[min(len(sorted_vals) - 1, int(p * len(sorted_vals)))] * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--accounts", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--database-url", default="", help="PostgreSQL URL (a fresh schema, dropped after); default SQLite")
    ap.add_argument("--schema", default="", help=argparse.SUPPRESS)
    ap.add_argument("--no-peer", action="store_true", help="measure Braid only (skip the bare aiohttp peer)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve-peer", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--dir", default="", help=argparse.SUPPRESS)
    ap.add_argument("--keys", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    if args.serve:
        asyncio.run(_serve(args.port, args.dir, args.accounts, args.keys, args.database_url, args.schema))
        return 0
    if args.serve_peer:
        asyncio.run(_serve_peer(args.port, args.accounts, args.keys))
        return 0
    schema = f"braid_bench_{os.getpid()}" if args.database_url else ""
    store = "PostgreSQL" if args.database_url else "SQLite synchronous=FULL"
    print(
        f"api_load: {args.clients} connections, {args.accounts} accounts, {loop_name}, each server in its own "
        f"process, {args.seconds:g} s measured after {args.warmup:g} s warm-up"
    )
    measured = _measure(
        ["--serve", "--accounts", str(args.accounts), "--database-url", args.database_url, "--schema", schema],
        args,
        (ORDER, TEST_ORDER),
    )
    if schema:
        from wallets import drop_schema

        drop_schema(args.database_url, schema)
    if measured is None:
        return 1
    braid, gateway = measured
    rate, p99 = _report(f"Braid ({store}, answers after commit)", braid)
    gw_rate, gw_p99 = _report(
        "Braid's gateway alone: POST /api/v3/order/test, same requests (key, signature, "
        "replay, rate limits, filters; no ledger, engine or database)",
        gateway,
    )
    order_path = _per_order(braid) - _per_order(gateway)
    if order_path:
        print(f"  so the order path behind the gateway costs the server {order_path:.0f} us of CPU per order")
    if not args.no_peer:
        found = _measure(["--serve-peer", "--accounts", str(args.accounts)], args, (ORDER,))
        if found is None:
            return 1
        peer_rate, peer_p99 = _report(
            "peer: bare aiohttp, HMAC check + canned answer (no order logic, no database)", found[0]
        )
        print(
            f"ratio Braid/peer: throughput {rate / peer_rate:.2f}x, p99 {p99 / peer_p99:.2f}x; "
            f"gateway alone/peer: throughput {gw_rate / peer_rate:.2f}x, p99 {gw_p99 / peer_p99:.2f}x"
        )
    ok = rate >= 5000 and p99 <= 20
    print(f"verdict: Braid {'MEETS' if ok else 'is BELOW'} the target (>= 5,000 orders/s with p99 <= 20 ms)")
    return 0


def _measure(server_args: list[str], args: argparse.Namespace, paths: tuple[str, ...]) -> list[Stats] | None:
    """Start one server process, load it with the clients on each path in turn, stop it."""
    with tempfile.TemporaryDirectory() as tmp:
        keys = os.path.join(tmp, "keys.json")
        proc = subprocess.Popen(
            [sys.executable, __file__, *server_args, "--dir", tmp, "--keys", keys], stdout=subprocess.PIPE, text=True
        )
        try:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line.startswith("READY"):
                print("server did not start", file=sys.stderr)
                return None
            port = int(line.split()[1])
            creds = json.loads(Path(keys).read_text())
            return [
                asyncio.run(_load(port, creds, args.clients, args.seconds, args.warmup, proc.pid, path))
                for path in paths
            ]
        finally:
            proc.terminate()
            proc.wait(10)


def _per_order(stats: Stats) -> float:
    """The server process's CPU microseconds per answered request (0 when unknown)."""
    return stats.cpu.get("server", 0.0) / len(stats.lat) * 1e6 if stats.lat and stats.cpu else 0.0


def _report(name: str, stats: Stats) -> tuple[float, float]:
    """Print one server's figures; (orders/s, p99 ms)."""
    lat = sorted(stats.lat)
    n = len(lat)
    print(f"{name}:")
    if not n:
        print("  no orders completed")
        return 0.0, float("inf")
    rate = n / stats.elapsed
    print(f"  orders: {n} in {stats.elapsed:.1f} s = {rate:,.0f} orders/s")
    print(
        f"  latency ms: p50 {_pct(lat, 0.50):.2f}  p90 {_pct(lat, 0.90):.2f}  p99 {_pct(lat, 0.99):.2f}  "
        f"max {lat[-1] * 1000:.2f}"
    )
    if stats.cpu:
        # CPU per order is steadier than the rate on a shared 2-core machine: it is what a change to the code moves
        print(
            "  CPU per order: "
            + ", ".join(
                f"{name} {sec / n * 1e6:.0f} us ({sec / stats.elapsed:.0%} of a core)"
                for name, sec in stats.cpu.items()
            )
        )
    print("  statuses: " + ", ".join(f"{k}={v}" for k, v in sorted(stats.statuses.items(), key=lambda kv: -kv[1])))
    return rate, _pct(lat, 0.99)


if __name__ == "__main__":
    sys.exit(main())
