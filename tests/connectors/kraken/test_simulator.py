"""The Kraken simulator's wire protocol, spoken to with a plain aiohttp client."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from connectors.kraken.checksum import checksum_of_strings
from connectors.kraken.instruments import parse_asset_pairs
from connectors.simulators.kraken import KrakenSimulator
from tests.connectors.kraken.conftest import kraken_instrument

INSTRUMENTS = [
    kraken_instrument("BTC/USD", "XBT/USD", "0.1", "0.00000001"),
    kraken_instrument("MATIC/USD", "MATIC/USD", "0.0001", "0.00000001"),
]


@pytest.fixture
async def sim() -> AsyncIterator[KrakenSimulator]:
    server = KrakenSimulator(INSTRUMENTS, autostart_ticks=False, heartbeat_s=0.05)
    await server.start()
    yield server
    await server.stop()


async def recv(ws: aiohttp.ClientWebSocketResponse, timeout: float = 2.0) -> Any:
    return json.loads(await ws.receive_str(timeout=timeout), parse_float=Decimal)


async def recv_until(ws: aiohttp.ClientWebSocketResponse, pred, timeout: float = 2.0) -> Any:  # type: ignore[no-untyped-def]
    while True:
        msg = await recv(ws, timeout)
        if pred(msg):
            return msg


async def test_v2_acks_snapshot_with_checksum_errors_and_pong(sim: KrakenSimulator) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_base + "/v2") as ws:
        status = await recv(ws)
        assert status["channel"] == "status" and status["data"][0]["system"] == "online"
        sub = {
            "method": "subscribe",
            "params": {"channel": "book", "symbol": ["MATIC/USD", "DOGE/USD"], "depth": 10},
            "req_id": 4,
        }
        await ws.send_str(json.dumps(sub))
        ack = await recv(ws)
        assert ack["success"] is True and ack["result"]["symbol"] == "MATIC/USD" and ack["req_id"] == 4
        snap = await recv(ws)
        assert snap["type"] == "snapshot" and len(snap["data"][0]["bids"]) == 10
        item = snap["data"][0]
        fmt = (
            [(f"{lvl['price']:.4f}", f"{lvl['qty']:.8f}") for lvl in item["asks"]],
            [(f"{lvl['price']:.4f}", f"{lvl['qty']:.8f}") for lvl in item["bids"]],
        )
        assert checksum_of_strings(*fmt) == item["checksum"]
        err = await recv(ws)
        assert err["success"] is False and "DOGE/USD" in err["error"]
        await ws.send_str('{"method":"ping","req_id":77}')
        pong = await recv_until(ws, lambda m: m.get("method") == "pong")
        assert pong["req_id"] == 77
        await ws.send_str(json.dumps({**sub, "params": {**sub["params"], "symbol": ["BTC/USD"], "depth": 7}}))
        bad_depth = await recv_until(ws, lambda m: m.get("method") == "subscribe")
        assert bad_depth["success"] is False


async def test_v2_numbers_drop_trailing_zeros_like_kraken(sim: KrakenSimulator) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_base + "/v2") as ws:
        await recv(ws)
        await ws.send_str('{"method":"subscribe","params":{"channel":"book","symbol":["MATIC/USD"],"depth":1000}}')
        await recv(ws)
        raw = await ws.receive_str(timeout=2)
        # MATIC/USD prices have 4 decimals; those ending in 0 appear shortened (9.999 for 9.9990)
        prices = re.findall(r'"price":([0-9.]+)', raw)
        assert len(prices) == 100 and all(len(p.partition(".")[2]) <= 4 for p in prices)
        assert any(len(p.partition(".")[2]) < 4 for p in prices)


async def test_v1_ack_snapshot_updates_republish_and_unsubscribe(sim: KrakenSimulator) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_base + "/") as ws:
        assert (await recv(ws))["event"] == "systemStatus"
        await ws.send_str('{"event":"subscribe","pair":["XBT/USD"],"subscription":{"name":"book","depth":10}}')
        ack = await recv(ws)
        assert ack["status"] == "subscribed" and ack["channelName"] == "book-10" and ack["pair"] == "XBT/USD"
        snap = json.loads(await ws.receive_str(timeout=2))
        assert snap[0] == ack["channelID"] and snap[-2:] == ["book-10", "XBT/USD"]
        assert all(isinstance(lvl[0], str) and lvl[0].count(".") == 1 for lvl in snap[1]["as"])
        updates = []
        for _ in range(200):
            await sim.step()
        while len(updates) < 5 or not any(
            len(lvl) == 4 for u in updates for d in u[1:-2] for side in ("a", "b") for lvl in d.get(side, [])
        ):
            msg = json.loads(await ws.receive_str(timeout=2))
            if isinstance(msg, list):
                assert "c" in msg[-3] and msg[-3]["c"].isdigit()
                updates.append(msg)
        await ws.send_str('{"event":"unsubscribe","pair":["XBT/USD"],"subscription":{"name":"book","depth":10}}')
        unsub = await recv_until(ws, lambda m: isinstance(m, dict) and m.get("event") == "subscriptionStatus")
        assert unsub["status"] == "unsubscribed" and unsub["channelID"] == ack["channelID"]
        await ws.send_str('{"event":"ping","reqid":5}')
        assert (await recv_until(ws, lambda m: isinstance(m, dict) and m.get("event") == "pong"))["reqid"] == 5


async def test_stall_silences_heartbeats(sim: KrakenSimulator) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_base + "/v2") as ws:
        await recv(ws)
        await ws.send_str('{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":10}}')
        await recv_until(ws, lambda m: m.get("channel") == "heartbeat")
        await sim.apply_fault("stall")  # takes effect at once: the simulator runs on this event loop
        while True:  # a heartbeat sent before the stall is already in the socket: read it out
            try:
                await ws.receive_str(timeout=0.05)
            except TimeoutError:
                break
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive_str(timeout=0.3)  # the point: 0.3 s of silence, six heartbeat intervals
        await sim.apply_fault("resume")
        assert (await recv(ws))["channel"] == "heartbeat"


async def test_asset_pairs_route_round_trips(sim: KrakenSimulator) -> None:
    async with aiohttp.ClientSession() as http, http.get(sim.base_url + "/0/public/AssetPairs") as resp:
        insts = parse_asset_pairs(await resp.text())
    assert {(i.symbol, i.venue_symbol, i.tick_size, i.step_size) for i in insts} == {
        (i.symbol, i.venue_symbol, i.tick_size, i.step_size) for i in INSTRUMENTS
    }
