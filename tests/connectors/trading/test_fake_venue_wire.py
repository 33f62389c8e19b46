"""The fake venues refuse what the real ones refuse: tampered requests, stale timestamps, reused nonces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest

from connectors.binance import auth as binance_auth
from connectors.binance.trading import BinanceTrading
from connectors.errors import AuthenticationFailed
from connectors.htx import auth as htx_auth
from connectors.kraken import auth as kraken_auth
from connectors.simulators.order_entry import FakeBinance, FakeHtx, FakeKraken, SimMarket
from connectors.simulators.order_entry.matching import MatchingEngine, StaticBook

from .conftest import engine, instrument

D = Decimal
BN_KEY, BN_SECRET = "bn-key", "bn-secret"
KR_KEY, KR_SECRET = "kr-key", "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
HX_KEY, HX_SECRET = "hx-key", "hx-secret"
NOW_MS = 1_700_000_000_000


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_binance_tampered_body_is_refused(http: aiohttp.ClientSession) -> None:
    market = SimMarket("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"))
    async with FakeBinance(engine(market, {"USDT": D("100000")}), {BN_KEY: BN_SECRET}, clock_ms=lambda: NOW_MS) as fake:
        params = [
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "IOC"),
            ("quantity", "0.1"),
            ("price", "30000"),
        ]
        body = binance_auth.signed_query(params, BN_SECRET, NOW_MS, 5000)
        headers = {"X-MBX-APIKEY": BN_KEY, "Content-Type": "application/x-www-form-urlencoded"}
        async with http.post(f"{fake.url}/api/v3/order", data=body.replace("0.1", "0.2"), headers=headers) as resp:
            assert resp.status == 400
            assert await resp.json() == {"code": -1022, "msg": "Signature for this request is not valid."}
        async with http.post(f"{fake.url}/api/v3/order", data=body, headers=headers) as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "FILLED"
        # Signature in the query string, params split between query and body: Binance accepts both.
        query, body_part = (
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC",
            f"quantity=0.1&price=30000&timestamp={NOW_MS}",
        )
        sig = binance_auth.signature(BN_SECRET, query, body_part)
        async with http.post(
            f"{fake.url}/api/v3/order?{query}", data=f"{body_part}&signature={sig}", headers=headers
        ) as resp:
            assert resp.status == 200
        stale = binance_auth.signed_query(params, BN_SECRET, NOW_MS - 6000, 5000)
        async with http.post(f"{fake.url}/api/v3/order", data=stale, headers=headers) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == -1021
        async with http.get(f"{fake.url}/api/v3/account?{binance_auth.signed_query([], BN_SECRET, NOW_MS)}") as resp:
            assert resp.status == 401 and (await resp.json())["code"] == -2014  # no API key header


async def test_binance_clock_skew_surfaces_as_authentication_failure() -> None:
    market = SimMarket("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.00001"))
    fake = FakeBinance(engine(market, {}), {BN_KEY: BN_SECRET}, clock_ms=lambda: NOW_MS)  # our clock is years ahead
    async with fake:
        adapter = BinanceTrading(
            BN_KEY, BN_SECRET, [instrument("binance", "BTCUSDT", "0.01", "0.00001")], base_url=fake.url
        )
        try:
            with pytest.raises(AuthenticationFailed) as info:
                await adapter.balances()
        finally:
            await adapter.close()
    assert info.value.code == -1021


async def test_kraken_tampered_body_and_reused_nonce_are_refused(http: aiohttp.ClientSession) -> None:
    market = SimMarket("XBTUSDT", "XXBT", "USDT", D("0.1"), D("0.00000001"))
    async with FakeKraken(engine(market, {"USDT": D("5")}), {KR_KEY: KR_SECRET}) as fake:
        path = "/0/private/Balance"

        async def post(body: str, sign_body: str | None = None) -> dict[str, object]:
            nonce = body.split("nonce=")[1].split("&")[0]
            sign = kraken_auth.api_sign(KR_SECRET, path, nonce, sign_body or body)
            async with http.post(
                f"{fake.url}{path}",
                data=body,
                headers={
                    "API-Key": KR_KEY,
                    "API-Sign": sign,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            ) as resp:
                assert resp.status == 200  # Kraken answers errors with HTTP 200
                return await resp.json()  # type: ignore[no-any-return]

        assert await post("nonce=100&asset=USDT", sign_body="nonce=100&asset=XXBT") == {
            "error": ["EAPI:Invalid signature"]
        }
        assert await post("nonce=100") == {"error": [], "result": {"USDT": "5.0000000000"}}
        assert await post("nonce=100") == {"error": ["EAPI:Invalid nonce"]}
        assert await post("nonce=99") == {"error": ["EAPI:Invalid nonce"]}
        assert (await post("nonce=101"))["error"] == []


async def test_htx_tampered_query_and_expired_timestamp_are_refused(http: aiohttp.ClientSession) -> None:
    market = SimMarket("btcusdt", "btc", "usdt", D("0.01"), D("0.000001"))
    async with FakeHtx(MatchingEngine([market], StaticBook()), {HX_KEY: HX_SECRET}, clock_ms=lambda: NOW_MS) as fake:
        host = f"127.0.0.1:{fake.port}"
        path = "/v1/order/orders/getClientOrder"
        query = htx_auth.signed_query("GET", host, path, HX_KEY, HX_SECRET, NOW_MS, {"clientOrderId": "abc"})
        async with http.get(f"{fake.url}{path}?{query.replace('abc', 'abd')}") as resp:
            assert await resp.json() == {
                "status": "error",
                "err-code": "api-signature-not-valid",
                "err-msg": "Signature not valid: Verification failure [校验失败]",
                "data": None,
            }
        async with http.get(f"{fake.url}{path}?{query}") as resp:
            assert (await resp.json())["err-code"] == "base-record-invalid"  # signed fine; no such order
        old = htx_auth.signed_query("GET", host, path, HX_KEY, HX_SECRET, NOW_MS - 301_000, {"clientOrderId": "abc"})
        async with http.get(f"{fake.url}{path}?{old}") as resp:
            assert (await resp.json())["err-msg"] == "Signature not valid: Timestamp expired"
        # Signed for another host: refused (Signature V2 signs the host).
        other = htx_auth.signed_query("GET", "api.huobi.pro", path, HX_KEY, HX_SECRET, NOW_MS, {"clientOrderId": "abc"})
        async with http.get(f"{fake.url}{path}?{other}") as resp:
            assert (await resp.json())["err-code"] == "api-signature-not-valid"
