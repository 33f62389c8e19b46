"""WebSocket streams the Binance way.

- ``/ws/<stream>`` raw payloads; ``/stream?streams=a/b`` combined ``{"stream","data"}``; ``/ws/<n>`` (ccxt pro
  connects to ``/ws/0``) or ``/ws`` with no stream: the client sends ``SUBSCRIBE``. Every request
  ``{"method","params","id"}`` gets ``{"result":...,"id":N}`` (ccxt pro fetches its snapshot on that reply).
- Streams: ``<s>@depth`` / ``<s>@depth@100ms`` (diffs continuing REST ``lastUpdateId``), ``<s>@depth5|10|20``
  (partial books), ``<s>@bookTicker`` (all from the uncrossed published book), ``<s>@trade``, ``<s>@aggTrade``,
  ``<s>@kline_<interval>``, ``<s>@ticker``, ``<s>@miniTicker``, ``<s>@avgPrice``, ``!ticker@arr``,
  ``!miniTicker@arr`` (the market's trades: venues' and Braid's own), and a listenKey (the user's
  ``executionReport`` and ``outboundAccountPosition``).
- ``/ws-api/v3``: the WebSocket API subset python-binance's ``user_socket()`` uses
  (``userDataStream.subscribe.signature``), events as ``{"subscriptionId","event"}``.

Each connection has one bounded queue and one writer task, so a slow client never slows the publisher;
one that falls too far behind is closed (it resyncs from a new snapshot, as Binance clients do).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import orjson
import structlog
from aiohttp import WSMsgType, web

from domain import OPEN_STATUSES, OrderStatus, now_ms
from domain.signing import hmac_sha256_hex, same_signature
from gateway.api.auth import parse_recv_window_ms, parse_timestamp_ms
from gateway.api.context import CTX, ApiContext
from gateway.api.errors import (
    ApiError,
    bad_signature,
    rejected_key,
    replayed,
    stale_timestamp,
    unknown_error,
)
from gateway.api.marketdata import fmt
from gateway.api.userstream import ListenKeys
from gateway.binance_errors import RequestError, binance_error
from gateway.orders_service import OrderRow
from wallets import Balance, TradeRecord

log = structlog.get_logger(__name__)
_QUEUE_MAX = 10_000
MAX_MESSAGE = 64 * 1024  # a client's message, on /ws and /ws-api/v3 alike (aiohttp closes with 1009 beyond it)
UserCallback = Callable[[dict[str, object]], None]
CONNECTIONS = web.AppKey[set["Connection"]]("braid_ws_connections")
USERS = web.AppKey[dict[int, set[UserCallback]]]("braid_ws_users")


_NO_ID = object()


def stream_error(key: RequestError, rid: object = _NO_ID, **fields: object) -> dict[str, object]:
    """A /ws or /stream request's error answer from the one table, with the request's ``id`` when given."""
    code, msg, _ = binance_error(key, "", **fields)
    body: dict[str, object] = {"error": {"code": code, "msg": msg}}
    if rid is not _NO_ID:
        body["id"] = rid
    return body


def _listen_keys(ctx: ApiContext) -> ListenKeys:
    if ctx.listen_keys is None:
        ctx.listen_keys = ListenKeys()
    return ctx.listen_keys  # type: ignore[no-any-return]


class Connection:
    def __init__(self, app: web.Application, ws: web.WebSocketResponse, combined: bool) -> None:
        self.app = app
        self.ctx: ApiContext = app[CTX]
        self.ws = ws
        self.combined = combined
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(_QUEUE_MAX)
        self.unsubscribe: dict[str, Callable[[], None]] = {}
        self.listen_keys: set[str] = set()  # user streams on this connection (they end when the key expires)
        self.closed = False

    def push(self, stream: str, payload: dict[str, object] | list[dict[str, object]]) -> None:
        if self.closed:
            return
        body = {"stream": stream, "data": payload} if self.combined else payload
        try:
            self.queue.put_nowait(orjson.dumps(body))
        except asyncio.QueueFull:
            log.warning("ws_client_too_slow", stream=stream)
            self.closed = True
            self.queue = asyncio.Queue(1)
            self.queue.put_nowait(None)

    def send_raw(self, body: dict[str, object]) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(orjson.dumps(body))

    async def writer(self) -> None:
        while True:
            item = await self.queue.get()
            if item is None or self.ws.closed:
                await self.ws.close()
                return
            await self.ws.send_str(item.decode())

    # ----- subscriptions -----
    def subscribe(self, stream: str) -> bool:
        if stream in self.unsubscribe:
            return True
        pub = self.ctx.publisher
        if "@" not in stream:
            account = _listen_keys(self.ctx).account(stream)
            if account is None:
                return False
            self.listen_keys.add(stream)
            users = self.app[USERS]
            cb = lambda payload, s=stream: self.push(s, payload)  # noqa: E731
            users.setdefault(account, set()).add(cb)
            self.unsubscribe[stream] = lambda: users.get(account, set()).discard(cb)
            return True

        def forward(event: dict[str, object], s: str = stream) -> None:
            self.push(s, event)

        undo = pub.subscribe(stream, forward)  # trades, klines, tickers
        if undo is not None:
            self.unsubscribe[stream] = undo
            return True
        sym, _, kind = stream.partition("@")
        feed = pub.feeds.get(sym.upper())
        if feed is None:
            return False
        if kind in ("depth", "depth@100ms", "depth@1000ms"):
            cb = lambda e, s=stream: self.push(s, e)  # noqa: E731
            feed.subscribers.add(cb)
            self.unsubscribe[stream] = lambda: feed.subscribers.discard(cb)
        elif kind.split("@")[0] in ("depth5", "depth10", "depth20"):
            n = int(kind.split("@")[0][5:])
            top_n = lambda e, s=stream, n=n: self.push(s, feed.snapshot(n))  # noqa: E731
            feed.subscribers.add(top_n)
            self.unsubscribe[stream] = lambda: feed.subscribers.discard(top_n)
            self.push(stream, feed.snapshot(n))
        elif kind == "bookTicker":
            cb = lambda e, s=stream: self.push(s, e)  # noqa: E731
            feed.top_subscribers.add(cb)
            self.unsubscribe[stream] = lambda: feed.top_subscribers.discard(cb)
        else:
            return False
        return True

    def drop(self, stream: str) -> None:
        undo = self.unsubscribe.pop(stream, None)
        if undo is not None:
            undo()

    def close(self) -> None:
        self.closed = True
        for s in list(self.unsubscribe):
            self.drop(s)

    async def handle_request(self, text: str) -> None:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            self.send_raw(stream_error(RequestError.STREAM_INVALID_JSON))
            return
        if not isinstance(msg, dict):
            self.send_raw(stream_error(RequestError.STREAM_NOT_AN_OBJECT))
            return
        method, rid = msg.get("method"), msg.get("id")
        params = msg.get("params") or []
        if method in ("SUBSCRIBE", "UNSUBSCRIBE") and (
            not isinstance(params, list) or not all(isinstance(s, str) for s in params)
        ):
            self.send_raw(stream_error(RequestError.STREAM_BAD_PARAMS, rid))
            return
        if method == "SUBSCRIBE":
            bad = [s for s in params if not self.subscribe(s)]
            if bad:
                self.send_raw(stream_error(RequestError.STREAM_UNKNOWN, rid, stream=bad[0]))
            else:
                self.send_raw({"result": None, "id": rid})
        elif method == "UNSUBSCRIBE":
            for s in params:
                self.drop(s)
            self.send_raw({"result": None, "id": rid})
        elif method == "LIST_SUBSCRIPTIONS":
            self.send_raw({"result": list(self.unsubscribe), "id": rid})
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            self.send_raw({"result": None if method == "SET_PROPERTY" else False, "id": rid})
        else:
            self.send_raw(stream_error(RequestError.STREAM_UNKNOWN_METHOD, rid))


async def _accept(request: web.Request, ws: web.WebSocketResponse) -> None:
    """Upgrade to the WebSocket; a plain HTTP request gets a Binance-shaped 400 (aiohttp's own is plain text)."""
    if not ws.can_prepare(request).ok:
        raise ApiError.of(RequestError.WEBSOCKET_ONLY)
    request.app[CTX].limiter.connect_ws(request.remote or "?")  # Binance: 300 new connections per 5 min per IP
    await ws.prepare(request)


async def _serve(request: web.Request, streams: list[str], combined: bool) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=180, max_msg_size=MAX_MESSAGE)
    await _accept(request, ws)
    conn = Connection(request.app, ws, combined)
    request.app[CONNECTIONS].add(conn)
    writer = asyncio.get_running_loop().create_task(conn.writer())
    try:
        for s in streams:
            if not conn.subscribe(s):
                await ws.close(code=1008, message=b"unknown stream")
                return ws
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                try:
                    await conn.handle_request(msg.data)
                except Exception:  # one bad message is answered; it does not end the connection
                    log.exception("ws_request_failed")
                    conn.send_raw(stream_error(RequestError.STREAM_INVALID_REQUEST))
            elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break
    finally:
        conn.close()
        request.app[CONNECTIONS].discard(conn)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer
    return ws


async def raw_stream(request: web.Request) -> web.WebSocketResponse:
    path = request.match_info.get("path", "").strip("/")
    streams = [] if not path or path.isdigit() else [s for s in path.split("/") if s]
    return await _serve(request, streams, combined=False)


async def combined_stream(request: web.Request) -> web.WebSocketResponse:
    streams = [s for s in request.query.get("streams", "").split("/") if s]
    return await _serve(request, streams, combined=True)


# ----- the WebSocket API subset for python-binance's user_socket() -----
async def ws_api(request: web.Request) -> web.WebSocketResponse:
    ctx: ApiContext = request.app[CTX]
    ws = web.WebSocketResponse(heartbeat=180, max_msg_size=MAX_MESSAGE)
    await _accept(request, ws)
    conn = Connection(request.app, ws, combined=False)
    request.app[CONNECTIONS].add(conn)
    writer = asyncio.get_running_loop().create_task(conn.writer())
    ids = itertools.count(1)
    users = request.app[USERS]
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            rid: object = None
            method: object = None
            try:
                try:
                    req = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    raise ApiError.of(RequestError.WS_INVALID_JSON) from None
                if not isinstance(req, dict) or not isinstance(req.get("params") or {}, dict):
                    rid = req.get("id") if isinstance(req, dict) else None
                    raise ApiError.of(RequestError.WS_INVALID_REQUEST)
                rid, method, params = req.get("id"), req.get("method"), dict(req.get("params") or {})
                if method == "ping":
                    conn.send_raw({"id": rid, "status": 200, "result": {}})
                elif method == "time":
                    conn.send_raw({"id": rid, "status": 200, "result": {"serverTime": now_ms()}})
                elif method == "userDataStream.subscribe.signature":
                    account = _verify_ws_signature(ctx, params, request.remote)
                    sub = next(ids)
                    cb = lambda payload, sub=sub: conn.send_raw({"subscriptionId": sub, "event": payload})  # noqa: E731
                    users.setdefault(account, set()).add(cb)

                    def unsubscribe(cb: UserCallback = cb, a: int = account) -> None:
                        users.get(a, set()).discard(cb)

                    conn.unsubscribe[f"sub{sub}"] = unsubscribe
                    conn.send_raw({"id": rid, "status": 200, "result": {"subscriptionId": sub}})
                elif method == "userDataStream.unsubscribe":
                    for name in list(conn.unsubscribe):
                        conn.drop(name)
                    conn.send_raw({"id": rid, "status": 200, "result": {}})
                else:
                    raise ApiError.of(RequestError.WS_UNKNOWN_METHOD, method=method)
            except ApiError as err:
                conn.send_raw({"id": rid, "status": err.status, "error": {"code": err.code, "msg": err.msg}})
            except Exception:  # one bad message is answered; it does not end the connection
                log.exception("ws_api_request_failed", method=method)
                unknown = unknown_error()
                conn.send_raw(
                    {"id": rid, "status": unknown.status, "error": {"code": unknown.code, "msg": unknown.msg}}
                )
    finally:
        conn.close()
        request.app[CONNECTIONS].discard(conn)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer
    return ws


def _verify_ws_signature(ctx: ApiContext, params: dict[str, Any], ip: str | None) -> int:
    """WebSocket API signing: HMAC over the params sorted by name, url-encoded, without ``signature``; the key
    needs the read permission and an allowed IP, as REST's USER_DATA endpoints. The account, or the ApiError."""
    sig = str(params.pop("signature", ""))
    key = ctx.auth.keys.lookup(str(params.get("apiKey", "")))
    if key is None or not key.allows_ip(ip) or "read" not in key.permissions:
        raise rejected_key()
    payload = urlencode(sorted((k, str(v)) for k, v in params.items()))
    if not same_signature(hmac_sha256_hex(key.secret, payload), sig):
        raise bad_signature()
    # the REST rules for both (JSON numbers arrive as numbers)
    ts = parse_timestamp_ms(str(params.get("timestamp", "")))
    window = parse_recv_window_ms(None if params.get("recvWindow") is None else str(params["recvWindow"]))
    server = ctx.auth.clock_ms()
    if ts >= server + 1000 or server - ts > window:
        raise stale_timestamp()
    if not ctx.auth.replays.first_use(f"{key.key}:{sig.lower()}", ts + int(window) + 1000, server):
        raise replayed()
    return int(key.account)


# ----- user data events from the order flow -----
_FILLED, _PARTIALLY_FILLED = OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED


def execution_reports(o: OrderRow, fills: list[TradeRecord], exec_type: str) -> list[dict[str, object]]:
    """The executionReport events for one order change: NEW, one TRADE per fill, then EXPIRED / CANCELED."""
    events = []
    t = now_ms()
    z, zq = o.executed_qty, o.cum_quote
    for f in fills:  # cumulative figures before these fills
        z -= f.qty
        zq -= f.quote_qty

    def one(x: str, status: OrderStatus, fill: TradeRecord | None) -> dict[str, object]:
        return {
            "e": "executionReport",
            "E": t,
            "s": o.symbol,
            "c": o.client_order_id,
            "S": o.side,
            "o": o.type,
            "f": o.tif or "GTC",
            "q": fmt(o.orig_qty),
            "p": fmt(o.price),
            "P": fmt(Decimal(0)),
            "F": fmt(Decimal(0)),
            "g": -1,
            "C": o.client_order_id if x == "CANCELED" else "",
            "x": x,
            "X": status,
            "r": "NONE",
            "i": o.order_id,
            "l": fmt(fill.qty if fill else Decimal(0)),
            "z": fmt(z),
            "L": fmt(fill.price if fill else Decimal(0)),
            "n": fmt(fill.commission + fill.markup if fill else Decimal(0)),
            "N": fill.commission_asset if fill else None,
            "T": fill.time if fill else o.update_time,
            "t": fill.trade_id if fill else -1,
            "I": 0,
            "w": status in OPEN_STATUSES,
            "m": fill.is_maker if fill else False,
            "M": False,
            "O": o.time,
            "Z": fmt(zq),
            "Y": fmt(fill.quote_qty if fill else Decimal(0)),
            "Q": fmt(o.orig_quote_qty),
            "W": o.time,
            "V": "NONE",
        }

    if exec_type == "NEW":
        events.append(one("NEW", OrderStatus.NEW, None))
    if exec_type == "CANCELED":
        events.append(one("CANCELED", OrderStatus.CANCELED, None))
        return events
    for i, f in enumerate(fills):
        z += f.qty
        zq += f.quote_qty
        last = i == len(fills) - 1
        status = (
            o.status
            if last and o.status in (_FILLED, _PARTIALLY_FILLED)
            else (_FILLED if z >= o.orig_qty else _PARTIALLY_FILLED)
        )
        events.append(one("TRADE", status, f))
    if o.status == "EXPIRED":
        events.append(one("EXPIRED", OrderStatus.EXPIRED, None))
    elif o.status == "EXPIRED_IN_MATCH":  # expired by self-trade prevention, as Binance reports it
        events.append(one("TRADE_PREVENTION", OrderStatus.EXPIRED_IN_MATCH, None))
    return events


def account_position(balances: dict[str, Balance]) -> dict[str, object]:
    t = now_ms()
    return {
        "e": "outboundAccountPosition",
        "E": t,
        "u": t,
        "B": [{"a": a, "f": fmt(b.free), "l": fmt(b.locked)} for a, b in sorted(balances.items())],
    }


def _on_service_event(app: web.Application) -> Callable[[str, int, dict[str, Any]], None]:
    positions_due: set[int] = set()  # accounts whose balances are being read for an outboundAccountPosition

    running: set[asyncio.Task[None]] = set()

    async def send_position(account_id: int) -> None:
        positions_due.discard(account_id)  # a change from here on is read by the next one
        try:
            balances = await app[CTX].service.wallets.ledger.refresh(account_id)
        except Exception:  # the store is unreachable: what this process knows, rather than nothing
            log.exception("ws_balance_read_failed", account=account_id)
            balances = app[CTX].service.wallets.ledger.balances(account_id)
        payload = account_position(balances)
        for cb in list(app[USERS].get(account_id, ())):
            cb(payload)

    def deliver(kind: str, account_id: int, data: dict[str, Any]) -> None:
        subs = app[USERS].get(account_id)
        if not subs:
            return
        if kind == "order":
            payloads = execution_reports(data["order"], data["fills"], data["exec_type"])
        elif kind == "balance_update":  # a deposit credited or reversed, a withdrawal requested or released
            t = now_ms()
            payloads = [{"e": "balanceUpdate", "E": t, "a": data["asset"], "d": fmt(data["delta"]), "T": t}]
        else:  # balances as stored (another process may have changed some): read, then told, once per burst
            if account_id not in positions_due:
                positions_due.add(account_id)
                task = asyncio.get_running_loop().create_task(send_position(account_id))
                running.add(task)
                task.add_done_callback(running.discard)
            return
        for p in payloads:
            for cb in list(subs):
                cb(p)

    return deliver


def _on_trade(ctx: ApiContext) -> Callable[[str, TradeRecord], None]:
    def publish(symbol: str, t: TradeRecord) -> None:
        if t.symbol in ctx.publisher.trades:
            ctx.publisher.add_braid_fill(t.symbol, t.trade_id, t.price, t.qty, t.time, maker=not t.is_buyer)

    return publish


async def expire_listen_keys(app: web.Application, interval_s: float = 30.0) -> None:
    """Binance's rule: a user stream whose listen key was not kept alive gets ``listenKeyExpired`` and ends."""
    while True:
        await asyncio.sleep(interval_s)
        expire_once(app)


def expire_once(app: web.Application) -> int:
    """End the user streams whose listen key has expired; returns how many."""
    keys = _listen_keys(app[CTX])
    ended = 0
    conns = app[CONNECTIONS]
    for conn in list(conns):
        for lk in list(conn.listen_keys):
            if keys.account(lk) is None:
                conn.push(lk, {"e": "listenKeyExpired", "E": now_ms(), "listenKey": lk})
                conn.listen_keys.discard(lk)
                conn.drop(lk)
                with contextlib.suppress(asyncio.QueueFull):
                    conn.queue.put_nowait(None)  # the writer closes the connection after the event
                ended += 1
    return ended


async def close_all(app: web.Application) -> None:
    conns = app[CONNECTIONS]
    for conn in list(conns):
        conn.close()
        with contextlib.suppress(Exception):
            await conn.ws.close()


def add_routes(app: web.Application) -> None:
    app[CONNECTIONS] = set()
    app[USERS] = {}
    ctx = app[CTX]
    ctx.service.listeners.append(_on_service_event(app))
    ctx.service.trade_listeners.append(_on_trade(ctx))
    r = app.router
    r.add_get("/ws", raw_stream)
    r.add_get("/ws/{path:.*}", raw_stream)
    r.add_get("/stream", combined_stream)
    r.add_get("/ws-api/v3", ws_api)
