"""WebSocket streams with real clients: ccxt pro ``watch_order_book`` (``/ws/0`` + SUBSCRIBE + REST snapshot),
python-binance's depth cache and user streams, and the raw Binance procedure on ``@depth@100ms``."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import aiohttp
import ccxt.pro as ccxtpro
import orjson
import pytest

from gateway.api.ws import USERS
from tests.gateway.conftest import CCXT_OPTIONS
from tests.support import eventually


def user_stream_open(server, account: int) -> bool:
    """The gateway has a user-stream subscriber for ``account``: events for it now reach the client."""
    return bool(server.runner.app[USERS].get(account))


def move_book(server, venue: str, bids=None, asks=None) -> None:
    async def _move() -> None:
        book = server.books[venue]
        book.levels.apply(bids or [], asks or [])
        book.last_update_ns += 1

    server.call(_move())


async def test_ccxt_pro_watch_order_book(server):
    ex = ccxtpro.binance({"options": dict(CCXT_OPTIONS)})
    ex.urls["api"]["public"] = ex.urls["api"]["private"] = f"{server.url}/api/v3"
    ex.urls["api"]["ws"]["spot"] = f"ws://127.0.0.1:{server.port}/ws"
    try:
        ob = await asyncio.wait_for(ex.watch_order_book("BTC/USDT"), 10)
        assert ob["bids"][0] == [99.5, 2.0] and ob["asks"][0] == [100.0, 5.0]
        move_book(server, "binance", bids=[["99.80", "1.5"]], asks=[["100.00", "0"]])
        for _ in range(50):
            ob = await asyncio.wait_for(ex.watch_order_book("BTC/USDT"), 10)
            if ob["bids"][0] == [99.8, 1.5]:
                break
        assert ob["bids"][0] == [99.8, 1.5] and ob["asks"][0] == [100.2, 2.0]
        move_book(server, "kraken", asks=[["100.10", "3"]])
        for _ in range(50):
            ob = await asyncio.wait_for(ex.watch_order_book("BTC/USDT"), 10)
            if ob["asks"][0] == [100.1, 3.0]:
                break
        assert ob["asks"][:2] == [[100.1, 3.0], [100.2, 2.0]]
    finally:
        await ex.close()


async def test_diff_stream_continues_rest_snapshot(server):
    """Binance's own procedure: buffer the stream, take the snapshot, drop u <= lastUpdateId, then U == prev u + 1."""
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(
            f"ws://127.0.0.1:{server.port}/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker"
        ) as ws:
            move_book(server, "binance", bids=[["99.10", "1"]])
            async with http.get(f"{server.url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": "1000"}) as r:
                snap = await r.json()
            book = {"bids": {D(p): D(q) for p, q in snap["bids"]}, "asks": {D(p): D(q) for p, q in snap["asks"]}}
            last = snap["lastUpdateId"]
            move_book(server, "kraken", bids=[["99.60", "4"]], asks=[["100.20", "0"]])
            move_book(server, "binance", asks=[["100.05", "1"]])
            seen_ticker = False
            for _ in range(40):
                msg = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
                if msg["stream"].endswith("bookTicker"):
                    seen_ticker = seen_ticker or msg["data"]["b"] == "99.60000000"
                    if seen_ticker and max(book["bids"]) == D("99.60"):
                        break
                    continue
                e = msg["data"]
                if e["u"] <= last:
                    continue
                assert e["U"] == last + 1, "gap in the diff chain"
                last = e["u"]
                for side, key in (("bids", "b"), ("asks", "a")):
                    for p, q in e[key]:
                        if D(q) == 0:
                            book[side].pop(D(p), None)
                        else:
                            book[side][D(p)] = D(q)
                if max(book["bids"]) == D("99.60") and min(book["asks"]) == D("100.00") and seen_ticker:
                    break
            async with http.get(f"{server.url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": "1000"}) as r:
                now = await r.json()
            assert now["lastUpdateId"] == last
            assert [[D(p), D(q)] for p, q in now["bids"]] == sorted(
                ([p, q] for p, q in book["bids"].items()), reverse=True
            )
            assert [[D(p), D(q)] for p, q in now["asks"]] == sorted([p, q] for p, q in book["asks"].items())
            assert seen_ticker


async def test_subscribe_protocol_and_partial_depth(server):
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"ws://127.0.0.1:{server.port}/ws/0") as ws:
            await ws.send_str('{"method":"SUBSCRIBE","params":["btcusdt@depth5@100ms"],"id":7}')
            replies = [orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data) for _ in range(2)]
            assert {"result": None, "id": 7} in replies
            partial = next(r for r in replies if "lastUpdateId" in r)
            assert len(partial["bids"]) == 4 and partial["asks"][0] == ["100.00000000", "5.00000000"]
            await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":8}')
            for _ in range(5):
                r = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
                if r.get("id") == 8:
                    assert r["result"] == ["btcusdt@depth5@100ms"]
                    break
            await ws.send_str('{"method":"SUBSCRIBE","params":["nope@depth"],"id":9}')
            for _ in range(5):
                r = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
                if r.get("id") == 9:
                    assert "error" in r
                    break


async def test_listen_key_user_stream(server):
    acct, key, secret = server.account("ws-user")
    from connectors.binance.auth import signature

    async with aiohttp.ClientSession(headers={"X-MBX-APIKEY": key}) as http:
        async with http.post(f"{server.url}/api/v3/userDataStream") as r:
            lk = (await r.json())["listenKey"]
        async with http.put(f"{server.url}/api/v3/userDataStream", data={"listenKey": lk}) as r:
            assert r.status == 200
        async with http.ws_connect(f"ws://127.0.0.1:{server.port}/ws/{lk}") as ws:
            body = (
                f"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.5&price=100.00"
                f"&timestamp={server.ctx.auth.clock_ms()}"
            )
            async with http.post(
                f"{server.url}/api/v3/order",
                data=f"{body}&signature={signature(secret, body)}",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ) as r:
                order = await r.json()
            events = []
            while not any(e["e"] == "outboundAccountPosition" for e in events):
                events.append(orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data))
            reports = [e for e in events if e["e"] == "executionReport"]
            assert [(e["x"], e["X"]) for e in reports] == [("NEW", "NEW"), ("TRADE", "FILLED")]
            assert (
                reports[-1]["i"] == order["orderId"]
                and reports[-1]["L"] == "100.00000000"
                and reports[-1]["z"] == "0.50000000"
            )
            pos = next(e for e in events if e["e"] == "outboundAccountPosition")
            assert {b["a"] for b in pos["B"]} >= {"BTC", "USDT"}
        async with http.delete(f"{server.url}/api/v3/userDataStream", data={"listenKey": lk}) as r:
            assert r.status == 200
        async with http.put(f"{server.url}/api/v3/userDataStream", data={"listenKey": lk}) as r:
            assert (await r.json())["code"] == -1125


def test_python_binance_depth_cache_and_user_socket(server, monkeypatch):
    """python-binance's DepthCacheManager (REST snapshot + @depth diffs) and user_socket() (WebSocket API)."""
    from binance import AsyncClient, BinanceSocketManager, DepthCacheManager
    from binance.ws.reconnecting_websocket import ReconnectingWebsocket

    # its read loop only notices a close between 10 s receive timeouts; a quiet test book would wait for them
    monkeypatch.setattr(ReconnectingWebsocket, "TIMEOUT", 1)

    acct, key, secret = server.account("pb-ws")

    async def run() -> None:
        class Braid(AsyncClient):
            API_URL = f"{server.url}/api"
            WS_API_URL = f"ws://127.0.0.1:{server.port}/ws-api/v3"

        client = await Braid.create(key, secret)
        try:
            BinanceSocketManager.STREAM_URL = f"ws://127.0.0.1:{server.port}/"
            dcm = DepthCacheManager(client, "BTCUSDT", ws_interval=100)
            async with dcm as stream:
                # recv() answers on the first diff after the snapshot: make one
                move_book(server, "binance", bids=[["99.90", "0.7"]])
                for _ in range(30):
                    cache = await asyncio.wait_for(stream.recv(), 10)
                    if cache.get_bids()[0] == [99.9, 0.7]:
                        break
                assert cache.get_bids()[:2] == [[99.9, 0.7], [99.5, 2.0]] and cache.get_asks()[0] == [100.0, 5.0]

            bm = BinanceSocketManager(client)
            async with bm.user_socket() as us:
                await eventually(lambda: user_stream_open(server, acct), what="the user stream is subscribed")
                placed = await client.order_limit_sell(symbol="BTCUSDT", quantity="0.1", price="110")
                for _ in range(10):
                    msg = await asyncio.wait_for(us.recv(), 10)
                    if msg.get("e") == "executionReport":
                        assert msg["i"] == placed["orderId"] and msg["X"] == "NEW"
                        break
                else:
                    pytest.fail("no executionReport on user_socket")
        finally:
            BinanceSocketManager.STREAM_URL = "wss://stream.binance.{}:9443/"
            await client.close_connection()

    asyncio.run(run())


async def test_ccxt_pro_watch_orders_and_balance(server):
    """ccxt pro's spot user stream goes through the WebSocket API (``userDataStream.subscribe.signature``)."""
    acct, key, secret = server.account("pro-user")
    ex = ccxtpro.binance({"apiKey": key, "secret": secret, "options": dict(CCXT_OPTIONS)})
    ex.urls["api"]["public"] = ex.urls["api"]["private"] = f"{server.url}/api/v3"
    ex.urls["api"]["ws"]["spot"] = f"ws://127.0.0.1:{server.port}/ws"
    ex.urls["api"]["ws"]["ws-api"]["spot"] = f"ws://127.0.0.1:{server.port}/ws-api/v3"
    try:
        await ex.load_markets()
        watching = asyncio.create_task(ex.watch_orders("BTC/USDT"))
        await eventually(lambda: user_stream_open(server, acct), what="the user stream is subscribed")
        placed = await ex.create_order("BTC/USDT", "limit", "buy", 0.5, 99)
        orders = await asyncio.wait_for(watching, 5)
        assert [(o["id"], o["status"]) for o in orders] == [(placed["id"], "open")]
        balance = asyncio.create_task(ex.watch_balance())
        # ccxt keeps one future per awaited message; the order's own late balance update may already have
        # answered it, so either state means the watcher is listening
        await eventually(
            lambda: balance.done() or any(h.endswith(":balance") for c in ex.clients.values() for h in c.futures),
            what="ccxt pro awaits a balance update",
        )
        await ex.cancel_order(placed["id"], "BTC/USDT")
        await asyncio.wait_for(balance, 5)

        def usdt_released() -> dict | None:
            usdt = (ex.balance.get("spot") or {}).get("USDT")
            return usdt if usdt is not None and usdt["used"] == 0 else None

        # ccxt folds every pushed update into ex.balance, whether or not a watcher was waiting for it
        usdt = await eventually(usdt_released, what="the cancel's balance update reaches ccxt pro")
        assert usdt["free"] == 100000
    finally:
        await ex.close()


async def test_ws_api_refuses_bad_signatures_and_foreign_listen_keys(server):
    import hashlib
    import hmac
    import time as _time
    from urllib.parse import urlencode

    a, key_a, secret_a = server.account("ws-a")
    b, key_b, secret_b = server.account("ws-b")
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"ws://127.0.0.1:{server.port}/ws-api/v3") as ws:
            params = {"apiKey": key_a, "timestamp": int(_time.time() * 1000)}
            good = hmac.new(secret_a.encode(), urlencode(sorted(params.items())).encode(), hashlib.sha256).hexdigest()
            await ws.send_str(
                orjson.dumps(
                    {
                        "id": "1",
                        "method": "userDataStream.subscribe.signature",
                        "params": {**params, "signature": good[::-1]},
                    }
                ).decode()
            )
            reply = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            assert reply["status"] == 400 and reply["error"]["code"] == -1022
            await ws.send_str(
                orjson.dumps(
                    {"id": "2", "method": "userDataStream.subscribe.signature", "params": {**params, "signature": good}}
                ).decode()
            )
            reply = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            assert reply["status"] == 200 and "subscriptionId" in reply["result"]
        # a listen key belongs to its account: another account cannot keep it alive or close it
        async with http.post(f"{server.url}/api/v3/userDataStream", headers={"X-MBX-APIKEY": key_a}) as r:
            lk = (await r.json())["listenKey"]
        async with http.put(
            f"{server.url}/api/v3/userDataStream", data={"listenKey": lk}, headers={"X-MBX-APIKEY": key_b}
        ) as r:
            assert (await r.json())["code"] == -1125
        async with http.ws_connect(f"ws://127.0.0.1:{server.port}/ws/not-a-listen-key") as ws:
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


async def test_expired_listen_key_ends_the_user_stream(server):
    from gateway.api.ws import expire_once

    acct, key, _ = server.account("expiring")
    async with aiohttp.ClientSession(headers={"X-MBX-APIKEY": key}) as http:
        async with http.post(f"{server.url}/api/v3/userDataStream") as r:
            lk = (await r.json())["listenKey"]
        async with http.ws_connect(f"ws://127.0.0.1:{server.port}/ws/{lk}") as ws:
            await eventually(lambda: user_stream_open(server, acct), what="the listen key's stream is open")

            async def expire() -> int:
                keys = server.ctx.listen_keys
                keys.by_key[lk] = (keys.by_key[lk][0], 0)  # not kept alive: past its hour
                return expire_once(server.runner.app)

            assert server.call(expire()) == 1
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert orjson.loads(msg.data) == {
                "e": "listenKeyExpired",
                "E": orjson.loads(msg.data)["E"],
                "listenKey": lk,
            }
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
