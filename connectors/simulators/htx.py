"""HTX market-data simulator: gzip frames, ping/pong, ``/feed`` mbp increments + ``req`` snapshots, ``/ws`` step0.

Frames are generated from the simulator's own truth book. Each ``(symbol, levels)`` mbp view remembers the top
``levels`` it last published and sends the difference (size 0 for a level that left the view), chained by
``prevSeqNum`` with non-contiguous seqNums, as HTX does. Faults (drop, reorder, disconnect, stall) come from
``SimServer.faults``. With ``capture=`` the ``/ws`` endpoint replays a recorded HTX connection verbatim instead.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from config.instruments import Instrument, decimals_of
from connectors.capture import LineKind, read_capture
from connectors.htx.constants import (
    DEPTH_STEP0_TOPIC,
    MAX_MISSED_PINGS,
    MBP_LEVELS,
    MBP_TICK_BY_TICK_LEVELS,
    MBP_TOPIC,
    PING_INTERVAL_S,
    REQ_MIN_INTERVAL_NS,
    STEP0_LEVELS,
    SYMBOLS_PATH,
)
from connectors.numbers import loads_exact
from connectors.simulators.market import Change, MarketGenerator, SimTrade
from connectors.simulators.server import Client, SimServer

log = structlog.get_logger(__name__)


def dumps_exact(obj: Any) -> str:
    """Compact JSON where Decimals are bare numbers in Python's own form (tiny values come out as 9.121E-7)."""
    if isinstance(obj, dict):
        return "{" + ",".join(f'"{k}":{dumps_exact(v)}' for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps_exact(v) for v in obj) + "]"
    if isinstance(obj, bool) or obj is None:
        return {True: "true", False: "false", None: "null"}[obj]
    if isinstance(obj, (int, Decimal)):
        return str(obj)
    if isinstance(obj, str):
        return '"' + obj.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot encode {type(obj).__name__}")


def encode_frame(obj: Any) -> bytes:
    """One HTX server frame: gzip of compact JSON."""
    return gzip.compress(dumps_exact(obj).encode(), mtime=0)


@dataclass(slots=True)
class _View:
    """What subscribers of one ``market.<sym>.mbp.<levels>`` stream have been told so far."""

    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    last_seq: int = 0


def _diff(old: dict[Decimal, Decimal], new: dict[Decimal, Decimal], reverse: bool) -> list[list[Decimal]]:
    changed = [[p, q] for p, q in new.items() if old.get(p) != q]
    changed += [[p, Decimal(0)] for p in old if p not in new]
    return sorted(changed, key=lambda lvl: lvl[0], reverse=reverse)


class HtxSimulator(SimServer):
    venue = "htx"

    def __init__(
        self,
        generators: dict[str, MarketGenerator] | None = None,  # by venue symbol, e.g. "btcusdt"
        *,
        interval_s: float = 0.05,
        autostart_ticks: bool = True,
        ping_interval_s: float = PING_INTERVAL_S,
        max_missed_pings: int = MAX_MISSED_PINGS,
        seq_start: int = 100_020_142_010,
        seq_steps: tuple[int, int] = (1, 3),
        seed: int = 7,
        capture: str | Path | None = None,
        capture_delay_s: float = 0.0,
        instruments: list[Instrument] | None = None,  # served on /v1/common/symbols; guessed if None
    ) -> None:
        super().__init__(generators, interval_s=interval_s, autostart_ticks=autostart_ticks)
        self.instruments = instruments
        self.ping_interval_s = ping_interval_s
        self.max_missed_pings = max_missed_pings
        self.seq_steps = seq_steps
        self.rng = random.Random(seed)  # nosec B311 # seeded pseudo-random market simulation, not security
        self.seq: dict[str, int] = {sym: seq_start for sym in self.books}
        self.version: dict[str, int] = {sym: seq_start * 10 for sym in self.books}
        self.views: dict[tuple[str, int], _View] = {}
        self.capture = capture
        self.capture_delay_s = capture_delay_s
        # Counters for tests and people.
        self.pings_sent = 0
        self.pongs_received = 0
        self.ping_disconnects = 0
        self.reqs_answered = 0
        self.reqs_rejected = 0  # REQs closer than 100 ms on one connection
        self.subs = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/ws", self._ws_endpoint)
        app.router.add_get("/feed", self._feed_endpoint)
        app.router.add_get(SYMBOLS_PATH, self._symbols)

    async def _symbols(self, request: web.Request) -> web.Response:
        """``GET /v1/common/symbols`` for the simulated symbols, numbers as JSON numbers like the venue."""
        entries = [_symbol_entry(inst) for inst in self.instruments or self._guess_instruments()]
        return web.Response(text=dumps_exact({"status": "ok", "data": entries}), content_type="application/json")

    def _guess_instruments(self) -> list[Instrument]:
        out = []
        for vs, gen in self.generators.items():
            quote = next((q for q in _QUOTES if vs.endswith(q) and len(vs) > len(q)), vs[-4:])
            base = vs[: -len(quote)]
            out.append(
                Instrument(
                    f"{base.upper()}/{quote.upper()}",
                    base.upper(),
                    quote.upper(),
                    "htx",
                    vs,
                    gen.tick,
                    gen.lot,
                    min_qty=gen.lot,
                )
            )
        return out

    # ----- connections -----
    async def _ws_endpoint(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, "ws")

    async def _feed_endpoint(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, "feed")

    async def _serve(self, request: web.Request, endpoint: str) -> web.WebSocketResponse:
        tasks: list[asyncio.Task[None]] = []

        async def on_open(client: Client) -> None:
            client.state.update(endpoint=endpoint, topics=set(), outstanding=[], last_req_ns=None, tasks=tasks)
            if self.ping_interval_s > 0 and not (self.capture and endpoint == "ws"):
                tasks.append(asyncio.create_task(self._ping_loop(client)))

        async def handle(client: Client, text: str) -> None:
            await self._on_client_frame(client, text)

        try:
            return await self.serve_ws(request, handle, on_open=on_open)
        finally:
            for t in tasks:
                t.cancel()

    async def _ping_loop(self, client: Client) -> None:
        outstanding: list[int] = client.state["outstanding"]
        while not client.ws.closed:
            await asyncio.sleep(self.ping_interval_s)
            await self.faults.stalled.wait()
            async with self._lock:
                if client.ws.closed:
                    return
                if len(outstanding) >= self.max_missed_pings:
                    # HTX closes a connection that left 2 pings unanswered.
                    self.ping_disconnects += 1
                    log.info("htx_sim_ping_timeout", missed=len(outstanding))
                    await client.ws.close()
                    return
                ts = int(time.time() * 1000)
                outstanding.append(ts)
                self.pings_sent += 1
                await client.send(encode_frame({"ping": ts}))

    async def _on_client_frame(self, client: Client, text: str) -> None:
        try:
            msg = loads_exact(text)
            if not isinstance(msg, dict):
                raise ValueError("not an object")
        except ValueError:
            await self._error(client, None, "bad-request", "invalid json")
            return
        if "pong" in msg:
            outstanding: list[int] = client.state["outstanding"]
            if msg["pong"] in outstanding:
                self.pongs_received += 1
                outstanding.clear()
            return
        if "sub" in msg:
            await self._on_sub(client, msg)
        elif "unsub" in msg:
            client.state["topics"].discard(msg["unsub"])
            await client.send(
                encode_frame({"id": msg.get("id"), "status": "ok", "unsubbed": msg["unsub"], "ts": _ms()})
            )
        elif "req" in msg:
            await self._on_req(client, msg)
        else:
            await self._error(client, msg.get("id"), "bad-request", "unknown request")

    def _route(self, client: Client, topic: Any) -> tuple[str, int] | None:
        """(venue symbol, levels) for a topic valid on this endpoint; levels 0 = depth.step0."""
        parts = topic.split(".") if isinstance(topic, str) else []
        if len(parts) < 4 or parts[0] != "market" or parts[1] not in self.books:
            return None
        endpoint = client.state["endpoint"]
        if endpoint == "ws" and parts[2:] == ["depth", "step0"]:
            return parts[1], 0
        if endpoint == "feed" and parts[2] == "mbp" and parts[3].isdigit() and int(parts[3]) in MBP_LEVELS:
            return parts[1], int(parts[3])
        return None

    async def _on_sub(self, client: Client, msg: dict[str, Any]) -> None:
        topic = msg["sub"]
        if self.capture and client.state["endpoint"] == "ws":
            # The recording holds its own acks, book pushes and pings: replay it once the client subscribes.
            client.state["topics"].add(topic)
            if "replay" not in client.state:
                client.state["replay"] = True
                client.state["tasks"].append(asyncio.create_task(self._replay_capture(client)))
            return
        parts = topic.split(".") if isinstance(topic, str) else []
        if client.state["endpoint"] == "ws" and parts[2:] == ["trade", "detail"] and parts[1] in self.books:
            client.state["topics"].add(topic)  # public trades: served on /ws only, as HTX does
            await client.send(encode_frame({"id": msg.get("id"), "status": "ok", "subbed": topic, "ts": _ms()}))
            return
        route = self._route(client, topic)
        if route is None:
            await self._error(client, msg.get("id"), "bad-request", f"invalid topic {topic}")
            return
        sym, levels = route
        if levels:
            self._view(sym, levels)
        client.state["topics"].add(topic)
        client.symbols.add(sym)
        self.subs += 1
        await client.send(encode_frame({"id": msg.get("id"), "status": "ok", "subbed": topic, "ts": _ms()}))

    async def _on_req(self, client: Client, msg: dict[str, Any]) -> None:
        topic = msg["req"]
        route = self._route(client, topic)
        if route is None or not route[1]:
            await self._error(client, msg.get("id"), "bad-request", f"invalid topic {topic}")
            return
        now = time.monotonic_ns()
        last = client.state["last_req_ns"]
        client.state["last_req_ns"] = now
        if last is not None and now - last < REQ_MIN_INTERVAL_NS:
            self.reqs_rejected += 1
            await self._error(client, msg.get("id"), "too-many-request", "req frequency exceeded")
            return
        sym, levels = route
        view = self._view(sym, levels)
        self.reqs_answered += 1
        data = {
            "seqNum": view.last_seq,
            "bids": [[p, q] for p, q in sorted(view.bids.items(), reverse=True)],
            "asks": [[p, q] for p, q in sorted(view.asks.items())],
        }
        await client.send(encode_frame({"id": msg.get("id"), "rep": topic, "status": "ok", "ts": _ms(), "data": data}))

    async def _error(self, client: Client, req_id: Any, code: str, message: str) -> None:
        frame = {"id": req_id, "status": "error", "err-code": code, "err-msg": message, "ts": _ms()}
        await client.send(encode_frame(frame))

    # ----- market data -----
    def _view(self, sym: str, levels: int) -> _View:
        view = self.views.get((sym, levels))
        if view is None:
            bids, asks = self.books[sym].top(levels)
            view = self.views[(sym, levels)] = _View(dict(bids), dict(asks), self.seq[sym])
        return view

    async def publish_trade(self, symbol: str, trade_id: int, trade: SimTrade) -> None:
        topic = f"market.{symbol}.trade.detail"
        now = _ms()
        item = {"id": trade_id * 1000, "ts": now, "tradeId": trade_id, "amount": trade.qty, "price": trade.price,
                "direction": "buy" if trade.taker_buy else "sell"}  # fmt: skip
        frame = encode_frame({"ch": topic, "ts": now, "tick": {"id": trade_id, "ts": now, "data": [item]}})
        for client in list(self.clients):
            if topic in client.state.get("topics", ()):
                await client.send(frame)

    async def publish(self, symbol: str, changes: list[Change]) -> None:
        self.seq[symbol] += self.rng.randint(*self.seq_steps)
        seq = self.seq[symbol]
        for (sym, levels), view in self.views.items():
            if sym != symbol:
                continue
            bids, asks = (dict(side) for side in self.books[sym].top(levels))
            bid_diff, ask_diff = _diff(view.bids, bids, True), _diff(view.asks, asks, False)
            tick: dict[str, Any] = {"seqNum": seq, "prevSeqNum": view.last_seq}
            if levels in MBP_TICK_BY_TICK_LEVELS:
                if not bid_diff and not ask_diff:
                    continue  # tick-by-tick streams push nothing when their levels did not change
                if bid_diff:
                    tick["bids"] = bid_diff
                if ask_diff:
                    tick["asks"] = ask_diff
            else:
                tick["bids"], tick["asks"] = bid_diff, ask_diff
            view.bids, view.asks, view.last_seq = bids, asks, seq
            topic = MBP_TOPIC.format(symbol=sym, levels=levels)
            frame = encode_frame({"ch": topic, "ts": _ms(), "tick": tick})
            for client in self._subscribed(topic):
                await self.send_book_frame(client, frame)
        step0 = DEPTH_STEP0_TOPIC.format(symbol=symbol)
        clients = self._subscribed(step0)
        if clients:
            self.version[symbol] += self.rng.randint(1, 5)
            top_bids, top_asks = self.books[symbol].top(STEP0_LEVELS)
            tick = {
                "bids": [list(b) for b in top_bids],
                "asks": [list(a) for a in top_asks],
                "version": self.version[symbol],
                "ts": _ms(),
            }
            frame = encode_frame({"ch": step0, "ts": _ms(), "tick": tick})
            for client in clients:
                await self.send_book_frame(client, frame)

    def _subscribed(self, topic: str) -> list[Client]:
        return [c for c in self.clients if topic in c.state.get("topics", ()) and not c.ws.closed]

    async def _replay_capture(self, client: Client) -> None:
        """Send a recorded HTX connection's received frames (gzip bytes) verbatim, in order."""
        assert self.capture is not None
        for line in read_capture(self.capture):
            if line.kind is not LineKind.RECEIVED or not isinstance(line.payload, bytes):
                continue
            if client.ws.closed:
                return
            await self.faults.stalled.wait()
            await self.send_book_frame(client, line.payload)
            if self.capture_delay_s:
                await asyncio.sleep(self.capture_delay_s)

    async def disconnect_all(self) -> None:
        await super().disconnect_all()
        self.faults.held.clear()  # a reordered frame held for a closed connection must not leak to the next


_QUOTES = ("usdt", "usdc", "husd", "btc", "eth", "ht", "usdd", "trx")


def _symbol_entry(inst: Instrument) -> dict[str, Any]:
    return {
        "base-currency": inst.base.lower(),
        "quote-currency": inst.quote.lower(),
        "price-precision": decimals_of(inst.tick_size),
        "amount-precision": decimals_of(inst.step_size),
        "symbol": inst.venue_symbol,
        "state": "online" if inst.trading else "offline",
        "min-order-amt": inst.min_qty,
        "max-order-amt": inst.max_qty,
        "min-order-value": inst.min_notional,
        "api-trading": "enabled",
    }


def _ms() -> int:
    return int(time.time() * 1000)
