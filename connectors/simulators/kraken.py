"""A local Kraken spot market-data server: WS v2 on ``/v2``, WS v1 on ``/`` and ``/v1``, REST AssetPairs.

Generated mode keeps a truth book per symbol (keyed by canonical symbol, e.g. ``BTC/USD``). Each subscription
remembers the top-``depth`` view it last sent; a market step sends the levels whose quantity changed inside
that view, qty 0 for levels deleted from the book, and, as Kraken does, nothing for levels that merely fell
below the subscribed depth (the client truncates) while levels that rise into it are published (v1 marks
them ``"r"``). Every update, and the v2 snapshot, carries the CRC32 of the new top 10. Capture mode serves a
recorded v1 stream verbatim once the client subscribes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from config.instruments import Instrument
from connectors.capture import LineKind, read_capture
from connectors.kraken.checksum import checksum_of_decimals, format_fixed
from connectors.kraken.constants import ASSET_PAIRS_PATH, BOOK_CHANNEL, BOOK_DEPTHS, CHECKSUM_LEVELS
from connectors.simulators.market import Change, MarketGenerator, SimTrade
from connectors.simulators.server import Client, SimServer

Level = tuple[Decimal, Decimal]


@dataclass(slots=True)
class _Sub:
    """One client's subscription to one symbol: its depth and the view it was last sent."""

    depth: int
    channel_id: int
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)


def _num(value: Decimal) -> str:
    # v2 prints JSON numbers without trailing zeros (the doc's 0.566 for 0.5660): the checksum trap, kept.
    return format(value.normalize(), "f")


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _diff(
    old: dict[Decimal, Decimal], new: list[Level], truth: dict[Decimal, Decimal]
) -> list[tuple[Decimal, Decimal, bool]]:
    """(price, qty, entered) changes that turn the client's ``old`` view into ``new``; see the module doc."""
    out: list[tuple[Decimal, Decimal, bool]] = []
    for price in old:
        if price not in truth:
            out.append((price, Decimal(0), False))
    for price, qty in new:
        if old.get(price) != qty:
            out.append((price, qty, price not in old))
    return out


class KrakenSimulator(SimServer):
    """Kraken's public book protocol over a real WebSocket, for tests and demos.

    ``instruments`` give the pairs (canonical ``symbol`` for v2, ``venue_symbol`` for v1) and their precisions;
    ``generators`` (by canonical symbol) default to a seeded walk on each pair's tick and lot. ``v1_price_dp``
    widens v1 price strings beyond the pair's decimals, as Kraken does for some pairs. ``capture_files`` serve
    recorded v1 frames verbatim (``capture_speed`` 0 = as fast as possible) to a client once it subscribes.
    """

    venue = "kraken"

    def __init__(
        self,
        instruments: list[Instrument],
        generators: dict[str, MarketGenerator] | None = None,
        *,
        interval_s: float = 0.05,
        autostart_ticks: bool = True,
        heartbeat_s: float = 1.0,
        v1_price_dp: dict[str, int] | None = None,
        capture_files: list[str | Path] | None = None,
        capture_speed: float = 0.0,
    ) -> None:
        self.instruments = {inst.symbol: inst for inst in instruments}
        if generators is None:
            generators = {
                inst.symbol: MarketGenerator(
                    inst.tick_size * 100_000, inst.tick_size, inst.step_size, levels=50, seed=i + 1
                )
                for i, inst in enumerate(instruments)
            }
        super().__init__(generators, interval_s=interval_s, autostart_ticks=autostart_ticks and not capture_files)
        self.by_v1 = {inst.venue_symbol: inst.symbol for inst in instruments}
        # v1 strings carry fixed decimals that may exceed pair_decimals (XBT/CHF "56218.30000"); settable per symbol.
        self.v1_price_dp = {s: (v1_price_dp or {}).get(s, inst.price_decimals) for s, inst in self.instruments.items()}
        self.heartbeat_s = heartbeat_s
        self.capture_frames: list[tuple[int, str]] = []
        self.capture_speed = capture_speed
        self.snapshots_sent = 0
        self.unsubscribes = 0
        self._channel_ids = itertools.count(100)
        self._conn_ids = itertools.count(1_000_000)
        if capture_files:
            for f in capture_files:
                self.capture_frames += [
                    (ln.ts_ns, str(ln.payload)) for ln in read_capture(f) if ln.kind is LineKind.RECEIVED
                ]
            self.capture_frames.sort(key=lambda x: x[0])

    # ----- routes -----
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v2", self._ws_v2)
        app.router.add_get("/v1", self._ws_v1)
        app.router.add_get("/", self._ws_v1)
        app.router.add_get(ASSET_PAIRS_PATH, self._asset_pairs)

    async def _ws_v2(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, 2)

    async def _ws_v1(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, 1)

    async def _serve(self, request: web.Request, version: int) -> web.StreamResponse:
        clients: list[Client] = []

        async def on_open(client: Client) -> None:
            clients.append(client)
            client.state.update(version=version, subs={})
            client.state["heartbeat"] = asyncio.create_task(self._heartbeats(client))
            if self.capture_frames:
                return  # the recording has its own status and acks
            conn = next(self._conn_ids)
            if version == 2:
                status: dict[str, object] = {
                    "channel": "status", "type": "update",
                    "data": [{"api_version": "v2", "connection_id": conn, "system": "online", "version": "2.0.0"}],
                }  # fmt: skip
            else:
                status = {"connectionID": conn, "event": "systemStatus", "status": "online", "version": "1.9.0"}
            await client.send(orjson.dumps(status).decode())

        handler = self._on_text_v2 if version == 2 else self._on_text_v1
        try:
            return await self.serve_ws(request, handler, on_open)
        finally:
            # serve_ws returns when the client leaves; its background tasks go with it
            for client in clients:
                for name in ("heartbeat", "replay", "replay_pending"):
                    task = client.state.get(name)
                    if task is not None:
                        task.cancel()

    async def _heartbeats(self, client: Client) -> None:
        frame = '{"channel":"heartbeat"}' if client.state["version"] == 2 else '{"event":"heartbeat"}'
        with contextlib.suppress(Exception):
            while not client.ws.closed:
                await asyncio.sleep(self.heartbeat_s)
                if not self.faults.is_stalled and client.state["subs"]:
                    await client.send(frame)

    async def _asset_pairs(self, request: web.Request) -> web.Response:
        result = {}
        for inst in self.instruments.values():
            base, _, quote = inst.venue_symbol.partition("/")
            result[base + quote] = {
                "altname": base + quote, "wsname": inst.venue_symbol, "base": base, "quote": quote,
                "pair_decimals": inst.price_decimals, "lot_decimals": inst.qty_decimals,
                "ordermin": str(inst.min_qty), "tick_size": str(inst.tick_size), "status": "online",
            }  # fmt: skip
        return web.json_response({"error": [], "result": result})

    def _defer(self, client: Client, text: str, handler: Any) -> bool:
        """While stalled, requests wait (in order) and are answered after the resume; True if deferred."""
        pending: list[str] | None = client.state.get("pending")
        if pending is None and not self.faults.is_stalled:
            return False
        if pending is None:
            pending = client.state["pending"] = []
            client.state["replay_pending"] = asyncio.create_task(self._answer_later(client, handler))
        pending.append(text)
        return True

    async def _answer_later(self, client: Client, handler: Any) -> None:
        await self.faults.stalled.wait()
        async with self._lock:
            pending = client.state.pop("pending", [])
            for text in pending:
                if client.ws.closed:
                    return
                await handler(client, text)

    # ----- v2 protocol -----
    async def _on_text_v2(self, client: Client, text: str) -> None:
        if self._defer(client, text, self._on_text_v2):
            return
        try:
            msg = orjson.loads(text)
            method = msg["method"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await client.send(orjson.dumps({"error": "Malformed request", "success": False}).decode())
            return
        req_id = msg.get("req_id")
        stamp = {"time_in": _now_rfc3339()}
        if method == "ping":
            await client.send(
                orjson.dumps({"method": "pong", "req_id": req_id, **stamp, "time_out": _now_rfc3339()}).decode()
            )
            return
        params = msg.get("params") or {}
        if method in ("subscribe", "unsubscribe") and params.get("channel") == "trade":
            trades: set[str] = client.state.setdefault("trades", set())
            for symbol in params.get("symbol") or []:
                base = {"method": method, "req_id": req_id, **stamp, "time_out": _now_rfc3339()}
                if symbol not in self.generators:
                    refusal = {"error": f"Currency pair not supported {symbol}", "success": False, "symbol": symbol}
                    await client.send(orjson.dumps({**refusal, **base}).decode())
                    continue
                (trades.add if method == "subscribe" else trades.discard)(symbol)
                result = {"channel": "trade", "snapshot": True, "symbol": symbol}
                await client.send(orjson.dumps({**base, "result": result, "success": True}).decode())
            return
        if method not in ("subscribe", "unsubscribe") or params.get("channel") != BOOK_CHANNEL:
            await client.send(
                orjson.dumps(
                    {"error": "Method or channel not supported", "method": method, "req_id": req_id, "success": False}
                ).decode()
            )
            return
        depth = params.get("depth", 10)
        for symbol in params.get("symbol") or []:
            base = {"method": method, "req_id": req_id, **stamp, "time_out": _now_rfc3339()}
            subs: dict[str, _Sub] = client.state["subs"]
            error = None
            if symbol not in self.generators:
                error = f"Currency pair not supported {symbol}"
            elif depth not in BOOK_DEPTHS:
                error = "Invalid depth"
            elif method == "subscribe" and symbol in subs:
                error = "Already subscribed"
            elif method == "unsubscribe" and symbol not in subs:
                error = "Subscription Not Found"
            if error is not None:
                await client.send(orjson.dumps({"error": error, "success": False, "symbol": symbol, **base}).decode())
                continue
            result = {"channel": BOOK_CHANNEL, "depth": depth, "snapshot": True, "symbol": symbol}
            await client.send(orjson.dumps({**base, "result": result, "success": True}).decode())
            if method == "unsubscribe":
                self._drop(client, symbol)
            else:
                await self._snapshot(client, symbol, depth, params.get("snapshot", True))

    # ----- v1 protocol -----
    async def _on_text_v1(self, client: Client, text: str) -> None:
        if self._defer(client, text, self._on_text_v1):
            return
        try:
            msg = orjson.loads(text)
            event = msg["event"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await client.send(
                orjson.dumps({"event": "error", "errorMessage": "Malformed request", "status": "error"}).decode()
            )
            return
        reqid = {"reqid": msg["reqid"]} if "reqid" in msg else {}
        if event == "ping":
            await client.send(orjson.dumps({"event": "pong", **reqid}).decode())
            return
        if event not in ("subscribe", "unsubscribe"):
            await client.send(
                orjson.dumps(
                    {"event": "error", "errorMessage": f"Unsupported event {event}", "status": "error", **reqid}
                ).decode()
            )
            return
        if self.capture_frames:
            if event == "subscribe" and "replay" not in client.state:
                client.state["replay"] = asyncio.create_task(
                    self.play_recorded(client, self.capture_frames, self.capture_speed)
                )
            return
        sub = msg.get("subscription") or {}
        depth = sub.get("depth", 10)
        subs: dict[str, _Sub] = client.state["subs"]
        for pair in msg.get("pair") or []:
            symbol = self.by_v1.get(pair)
            status = {
                "event": "subscriptionStatus",
                "pair": pair,
                "subscription": {"depth": depth, "name": BOOK_CHANNEL},
                **reqid,
            }
            error = None
            if sub.get("name") != BOOK_CHANNEL:
                error = "Subscription name invalid"
            elif symbol is None:
                error = "Currency pair not supported"
            elif depth not in BOOK_DEPTHS:
                error = "Subscription depth not supported"
            elif event == "subscribe" and symbol in subs:
                error = "Already subscribed"
            elif event == "unsubscribe" and symbol not in subs:
                error = "Subscription Not Found"
            if error is not None:
                await client.send(orjson.dumps({**status, "status": "error", "errorMessage": error}).decode())
                continue
            assert symbol is not None
            name = f"book-{depth}"
            if event == "unsubscribe":
                chan = subs[symbol].channel_id
                self._drop(client, symbol)
                await client.send(
                    orjson.dumps({"channelID": chan, "channelName": name, **status, "status": "unsubscribed"}).decode()
                )
            else:
                chan = next(self._channel_ids)
                await client.send(
                    orjson.dumps({"channelID": chan, "channelName": name, **status, "status": "subscribed"}).decode()
                )
                await self._snapshot(client, symbol, depth, True, chan)

    # ----- book frames -----
    def _drop(self, client: Client, symbol: str) -> None:
        client.state["subs"].pop(symbol, None)
        client.symbols.discard(symbol)
        self.unsubscribes += 1

    async def _snapshot(self, client: Client, symbol: str, depth: int, send: bool, chan: int = 0) -> None:
        bids, asks = self.books[symbol].top(depth)
        sub = _Sub(depth, chan, dict(bids), dict(asks))
        client.state["subs"][symbol] = sub
        client.symbols.add(symbol)
        if not send:
            return
        self.snapshots_sent += 1
        if client.state["version"] == 2:
            frame = self._v2_frame("snapshot", symbol, bids, asks, self._crc(symbol, sub, 2))
        else:
            body = {
                "as": [self._v1_level(symbol, p, q) for p, q in asks],
                "bs": [self._v1_level(symbol, p, q) for p, q in bids],
            }
            frame = orjson.dumps([chan, body, f"book-{depth}", self.instruments[symbol].venue_symbol]).decode()
        await client.send(frame)  # snapshots bypass the drop/reorder plan: a lost one could never be noticed

    async def publish_trade(self, symbol: str, trade_id: int, trade: SimTrade) -> None:
        side = "buy" if trade.taker_buy else "sell"
        price, qty = _num(trade.price), _num(trade.qty)
        frame = (
            f'{{"channel":"trade","type":"update","data":[{{"symbol":"{symbol}","side":"{side}","price":{price},'
            f'"qty":{qty},"ord_type":"market","trade_id":{trade_id},"timestamp":"{_now_rfc3339()}"}}]}}'
        )
        for client in list(self.clients):
            if client.state.get("version") == 2 and symbol in client.state.get("trades", ()):
                await client.send(frame)

    async def publish(self, symbol: str, changes: list[Change]) -> None:
        if self.faults.is_stalled:
            return  # views stay as last sent: the first update after the resume carries everything since
        truth = self.books[symbol]
        changed = {(c.bid, c.price) for c in changes}
        for client in self.subscribers(symbol):
            sub: _Sub = client.state["subs"][symbol]
            new_bids, new_asks = truth.top(sub.depth)
            bid_diff = _diff(sub.bids, new_bids, truth.bids)
            ask_diff = _diff(sub.asks, new_asks, truth.asks)
            if not bid_diff and not ask_diff:
                continue
            sub.bids, sub.asks = dict(new_bids), dict(new_asks)
            crc = self._crc(symbol, sub, client.state["version"])
            if self.faults.take_corrupt():
                crc ^= 0x5A5A5A5A
            if client.state["version"] == 2:
                frame = self._v2_frame(
                    "update", symbol, [(p, q) for p, q, _ in bid_diff], [(p, q) for p, q, _ in ask_diff], crc
                )
            else:
                frame = self._v1_update(symbol, sub, bid_diff, ask_diff, changed, crc)
            await self.send_book_frame(client, frame)

    def _crc(self, symbol: str, sub: _Sub, version: int) -> int:
        inst = self.instruments[symbol]
        pdp = inst.price_decimals if version == 2 else self.v1_price_dp[symbol]
        asks = sorted(sub.asks.items())[:CHECKSUM_LEVELS]
        bids = sorted(sub.bids.items(), reverse=True)[:CHECKSUM_LEVELS]
        return checksum_of_decimals(asks, bids, pdp, inst.qty_decimals)

    def _v2_frame(self, kind: str, symbol: str, bids: list[Level], asks: list[Level], crc: int) -> str:
        def levels(side: list[Level]) -> str:
            return ",".join(f'{{"price":{_num(p)},"qty":{_num(q)}}}' for p, q in side)

        return (
            f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{symbol}","bids":[{levels(bids)}],'
            f'"asks":[{levels(asks)}],"checksum":{crc},"timestamp":"{_now_rfc3339()}"}}]}}'
        )

    def _v1_level(self, symbol: str, price: Decimal, qty: Decimal, republish: bool = False) -> list[str]:
        level = [
            format_fixed(price, self.v1_price_dp[symbol]),
            format_fixed(qty, self.instruments[symbol].qty_decimals),
            f"{time.time():.6f}",
        ]
        if republish:
            level.append("r")
        return level

    def _v1_update(
        self,
        symbol: str,
        sub: _Sub,
        bid_diff: list[tuple[Decimal, Decimal, bool]],
        ask_diff: list[tuple[Decimal, Decimal, bool]],
        changed: set[tuple[bool, Decimal]],
        crc: int,
    ) -> str:
        # A level that entered the view without itself changing is a republish ("r"): it rose from below the depth.
        def levels(diff: list[tuple[Decimal, Decimal, bool]], bid: bool) -> list[list[str]]:
            return [self._v1_level(symbol, p, q, entered and (bid, p) not in changed) for p, q, entered in diff]

        parts: list[Any] = []
        if ask_diff:
            parts.append({"a": levels(ask_diff, False)})
        if bid_diff:
            parts.append({"b": levels(bid_diff, True)})
        parts[-1]["c"] = str(crc)  # the checksum rides in the last dict
        return orjson.dumps(
            [sub.channel_id, *parts, f"book-{sub.depth}", self.instruments[symbol].venue_symbol]
        ).decode()
