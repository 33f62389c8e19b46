"""A local Binance spot market-data server: combined and raw diff-depth streams, REST depth snapshots.

Generated mode keeps a truth book per symbol and a Binance update id; every market step becomes one
``depthUpdate`` (U = previous u + 1, u = U + changes - 1). Capture mode serves a recorded stream verbatim
with its recorded snapshots. Faults (drop, reorder, disconnect, stall, serverShutdown, REST 429/418) come
from the shared controls.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
from aiohttp import web

from connectors.capture import LineKind, read_capture
from connectors.simulators.market import Change, MarketGenerator, SimTrade
from connectors.simulators.server import Client, SimServer


def _fmt(value: Decimal) -> str:
    return f"{value:.8f}"


def _split(symbol: str) -> tuple[str, str]:
    for quote in ("USDT", "USDC", "BUSD", "BTC", "ETH", "EUR", "USD"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol[:3], symbol[3:]


class BinanceSimulator(SimServer):
    venue = "binance"

    def __init__(
        self,
        generators: dict[str, MarketGenerator] | None = None,
        *,
        interval_s: float = 0.05,
        autostart_ticks: bool = True,
        first_update_id: int = 1000,
        capture_files: list[str | Path] | None = None,
        capture_speed: float = 1.0,
    ) -> None:
        super().__init__(generators, interval_s=interval_s, autostart_ticks=autostart_ticks and not capture_files)
        self.update_ids = {sym: first_update_id for sym in self.books}
        self.rest_rejections: list[int] = []  # statuses (429/418) to answer the next depth requests with
        self.retry_after_s = 1
        self.depth_requests = 0
        self.capture_frames: list[tuple[int, str]] = []
        self.capture_snapshots: dict[str, list[str]] = defaultdict(list)
        self.capture_speed = capture_speed
        if capture_files:
            self._load_capture(capture_files)

    # ----- routes -----
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/stream", self._combined)
        app.router.add_get("/ws/{stream}", self._raw)
        app.router.add_get("/api/v3/depth", self._depth)
        app.router.add_get("/api/v3/ping", self._ping)
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)

    async def _combined(self, request: web.Request) -> web.StreamResponse:
        streams = request.query.get("streams", "").split("/")
        return await self._stream(request, streams, combined=True)

    async def _raw(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, [request.match_info["stream"]], combined=False)

    async def _stream(self, request: web.Request, streams: list[str], *, combined: bool) -> web.StreamResponse:
        async def on_open(client: Client) -> None:
            client.state["combined"] = combined
            client.state["trades"] = set()
            for name in streams:
                sym, _, kind = name.partition("@")
                if kind.startswith("depth"):
                    client.symbols.add(sym.upper())
                elif kind == "trade":
                    client.state["trades"].add(sym.upper())
            if self.capture_frames:
                client.state["task"] = asyncio.create_task(
                    self.play_recorded(client, self.capture_frames, self.capture_speed)
                )

        async def on_text(client: Client, text: str) -> None:
            # live SUBSCRIBE / UNSUBSCRIBE, answered like Binance
            try:
                msg = orjson.loads(text)
                method, params, req_id = msg["method"], msg.get("params", []), msg["id"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                await client.send(orjson.dumps({"error": {"code": 2, "msg": "Invalid request"}}).decode())
                return
            for name in params:
                sym, _, kind = str(name).partition("@")
                target = client.state["trades"] if kind == "trade" else client.symbols
                (target.add if method == "SUBSCRIBE" else target.discard)(sym.upper())
            await client.send(orjson.dumps({"result": None, "id": req_id}).decode())

        return await self.serve_ws(request, on_text, on_open)

    async def _depth(self, request: web.Request) -> web.Response:
        self.depth_requests += 1
        if self.rest_rejections:
            status = self.rest_rejections.pop(0)
            return web.json_response(
                {"code": -1003, "msg": "Too many requests; current limit is 6000 request weight per 1 MINUTE."},
                status=status,
                headers={"Retry-After": str(self.retry_after_s)},
            )
        sym = request.query.get("symbol", "")
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return web.json_response(
                {"code": -1100, "msg": "Illegal characters found in parameter 'limit'."}, status=400
            )
        if self.capture_snapshots:
            bodies = self.capture_snapshots.get(sym)
            if not bodies:
                return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
            return web.Response(text=bodies[0], content_type="application/json")
        if sym not in self.books:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        async with self._lock:
            bids, asks = self.books[sym].top(min(max(limit, 1), 5000))
            body = {
                "lastUpdateId": self.update_ids[sym],
                "bids": [[_fmt(p), _fmt(q)] for p, q in bids],
                "asks": [[_fmt(p), _fmt(q)] for p, q in asks],
            }
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": time.time_ns() // 1_000_000})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        symbols = []
        for sym, gen in self.generators.items():
            symbols.append(
                {
                    "symbol": sym,
                    "status": "TRADING",
                    "baseAsset": _split(sym)[0],
                    "quoteAsset": _split(sym)[1],
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": _fmt(gen.tick),
                            "maxPrice": "1000000.00000000",
                            "tickSize": _fmt(gen.tick),
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": _fmt(gen.lot),
                            "maxQty": "9000.00000000",
                            "stepSize": _fmt(gen.lot),
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": "5.00000000",
                            "applyMinToMarket": True,
                            "maxNotional": "9000000.00000000",
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                    ],
                }
            )
        return web.json_response(
            {"timezone": "UTC", "serverTime": time.time_ns() // 1_000_000, "rateLimits": [], "symbols": symbols}
        )

    # ----- market -----
    async def publish(self, symbol: str, changes: list[Change]) -> None:
        first = self.update_ids[symbol] + 1
        last = first + len(changes) - 1
        self.update_ids[symbol] = last
        data = {
            "e": "depthUpdate",
            "E": time.time_ns() // 1_000_000,
            "s": symbol,
            "U": first,
            "u": last,
            "b": [[_fmt(c.price), _fmt(c.qty)] for c in changes if c.bid],
            "a": [[_fmt(c.price), _fmt(c.qty)] for c in changes if not c.bid],
        }
        stream = f"{symbol.lower()}@depth@100ms"
        raw = orjson.dumps(data).decode()
        wrapped = orjson.dumps({"stream": stream, "data": data}).decode()
        for client in self.subscribers(symbol):
            await self.send_book_frame(client, wrapped if client.state.get("combined") else raw, symbol)

    async def publish_trade(self, symbol: str, trade_id: int, trade: SimTrade) -> None:
        t = time.time_ns() // 1_000_000
        data = {"e": "trade", "E": t, "s": symbol, "t": trade_id, "p": _fmt(trade.price), "q": _fmt(trade.qty),
                "T": t, "m": not trade.taker_buy, "M": True}  # fmt: skip
        raw = orjson.dumps(data).decode()
        wrapped = orjson.dumps({"stream": f"{symbol.lower()}@trade", "data": data}).decode()
        for client in list(self.clients):
            if symbol in client.state.get("trades", ()):
                await client.send(wrapped if client.state.get("combined") else raw)

    async def server_shutdown(self) -> None:
        """Announce a shutdown the way Binance does before it closes connections."""
        event = {"e": "serverShutdown", "E": time.time_ns() // 1_000_000}
        for client in list(self.clients):
            frame = {"stream": "!serverShutdown", "data": event} if client.state.get("combined") else event
            await client.send(orjson.dumps(frame).decode())

    # ----- capture mode -----
    def _load_capture(self, files: list[str | Path]) -> None:
        for f in files:
            for line in read_capture(f):
                if line.kind is LineKind.RECEIVED:
                    self.capture_frames.append((line.ts_ns, str(line.payload)))
                elif line.kind is LineKind.HTTP and "/depth" in (line.url or ""):
                    sym = parse_qs(urlsplit(line.url or "").query).get("symbol", [""])[0]
                    self.capture_snapshots[sym].append(str(line.payload))
        self.capture_frames.sort(key=lambda x: x[0])
