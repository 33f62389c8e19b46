"""Shared machinery of the venue simulators: an aiohttp server on loopback, a market clock, fault controls.

A venue simulator subclasses ``SimServer`` and supplies the venue's wire format: its routes, how a batch of
level changes becomes frames for a subscribed client, and (where the venue has one) its snapshot answer.
Controls, for tests and for people: ``POST /_sim/fault`` with ``{"fault": "drop"|"reorder"|"corrupt_checksum"|
"disconnect"|"stall"|"resume", "count": n}``, and ``GET /_sim/book?symbol=...`` for the simulator's own book.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import orjson
import structlog
from aiohttp import WSMsgType, web

from connectors.simulators.faults import Faults
from connectors.simulators.market import Change, MarketGenerator, SimBook, SimTrade

log = structlog.get_logger(__name__)


class Client:
    """One connected WebSocket client and the venue symbols it subscribed to."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.symbols: set[str] = set()
        self.state: dict[str, Any] = {}  # per-venue, per-connection protocol state

    async def send(self, frame: str | bytes) -> None:
        if self.ws.closed:
            return
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame)


class SimServer:
    venue = "sim"

    def __init__(
        self,
        generators: dict[str, MarketGenerator] | None = None,
        *,
        interval_s: float = 0.05,
        autostart_ticks: bool = True,
    ) -> None:
        self.generators = generators or {}
        self.books: dict[str, SimBook] = {sym: gen.initial() for sym, gen in self.generators.items()}
        self.interval_s = interval_s
        self.autostart_ticks = autostart_ticks
        self.faults = Faults()
        self.clients: list[Client] = []
        self.ticks = 0
        self.trade_ids: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one market step at a time, so frames go out in book order
        self.port = 0

    # ----- to be supplied by the venue -----
    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def publish(self, symbol: str, changes: list[Change]) -> None:
        """Send one market step's changes for ``symbol`` to its subscribers, in the venue's format."""
        raise NotImplementedError

    async def publish_trade(self, symbol: str, trade_id: int, trade: SimTrade) -> None:
        """Send one public trade to the clients following ``symbol``'s trades (venues without them: nothing)."""

    # ----- lifecycle -----
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_post("/_sim/fault", self._fault_handler)
        app.router.add_get("/_sim/book", self._book_handler)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        self.port = self._runner.addresses[0][1]
        if self.autostart_ticks:
            self._tick_task = asyncio.create_task(self._tick_loop())
        log.info("simulator_started", venue=self.venue, port=self.port)
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._tick_task:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
        for c in list(self.clients):
            with contextlib.suppress(Exception):
                await c.ws.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    # ----- the market -----
    async def step(self, n: int = 1) -> None:
        """Advance the market ``n`` steps (tests call this directly with autostart_ticks=False)."""
        for _ in range(n):
            async with self._lock:
                self.ticks += 1
                for sym, gen in self.generators.items():
                    changes = gen.step(self.books[sym])
                    if changes:
                        await self.publish(sym, changes)
                    trade = gen.trade(self.books[sym])
                    if trade is not None:
                        self.trade_ids[sym] = self.trade_ids.get(sym, 0) + 1
                        await self.publish_trade(sym, self.trade_ids[sym], trade)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.faults.stalled.wait()
            try:
                await self.step()
            except Exception:  # a client vanishing mid-send must not stop the market
                log.exception("simulator_step_failed", venue=self.venue)

    async def send_book_frame(self, client: Client, frame: str | bytes, symbol: str = "") -> None:
        """Send a book frame through the fault plan (drop / reorder)."""
        for out in self.faults.pass_through(frame, symbol):
            await client.send(out)

    async def play_recorded(self, client: Client, frames: list[tuple[int, str]], speed: float) -> None:
        """Send recorded (receive time ns, frame) pairs to one client at their recorded pace x ``speed``
        (0: as fast as possible), through the fault plan."""
        if not frames:
            return
        start_wall, start_rec = time.monotonic(), frames[0][0]
        for ts_ns, text in frames:
            if speed > 0:
                delay = (ts_ns - start_rec) / 1e9 / speed - (time.monotonic() - start_wall)
                if delay > 0:
                    await asyncio.sleep(delay)
            await self.faults.stalled.wait()
            if client.ws.closed:
                return
            await self.send_book_frame(client, text)

    def subscribers(self, symbol: str) -> Iterable[Client]:
        return [c for c in self.clients if symbol in c.symbols and not c.ws.closed]

    def book_levels(
        self, symbol: str, depth: int | None = None
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return self.books[symbol].top(depth)

    # ----- faults -----
    async def disconnect_all(self) -> None:
        self.faults.disconnects += 1
        for c in list(self.clients):
            with contextlib.suppress(Exception):
                await c.ws.close()

    async def apply_fault(self, fault: str, count: int = 1) -> None:
        if fault == "drop":
            self.faults.drop += count
        elif fault == "reorder":
            self.faults.reorder += count
        elif fault == "corrupt_checksum":
            self.faults.corrupt_checksum += count
        elif fault == "disconnect":
            await self.disconnect_all()
        elif fault == "stall":
            self.faults.stall()
        elif fault == "resume":
            self.faults.resume()
        else:
            raise ValueError(f"unknown fault {fault!r}")

    async def _fault_handler(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
            await self.apply_fault(str(body["fault"]), int(body.get("count", 1)))
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def _book_handler(self, request: web.Request) -> web.Response:
        sym = request.query.get("symbol", "")
        if sym not in self.books:
            return web.json_response({"error": f"unknown symbol {sym!r}"}, status=404)
        bids, asks = self.books[sym].top()
        return web.json_response(
            {"symbol": sym, "bids": [[str(p), str(q)] for p, q in bids], "asks": [[str(p), str(q)] for p, q in asks]}
        )

    # ----- websocket plumbing shared by venues -----
    async def serve_ws(
        self, request: web.Request, handle_text: Any, on_open: Any = None, heartbeat: float | None = None
    ) -> web.WebSocketResponse:
        """Accept a client and feed its text frames to ``handle_text(client, text)`` until it leaves."""
        ws = web.WebSocketResponse(heartbeat=heartbeat, autoping=True, max_msg_size=0)
        await ws.prepare(request)
        client = Client(ws)
        self.clients.append(client)
        try:
            if on_open is not None:
                await on_open(client)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    async with self._lock:
                        await handle_text(client, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    async with self._lock:
                        await handle_text(client, msg.data.decode("utf-8", "replace"))
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self.clients.remove(client)
        return ws
