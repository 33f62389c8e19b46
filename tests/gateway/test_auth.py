"""Signed requests: Binance's documented examples verify on Braid; tampered, stale, early, replayed and
unsigned requests are refused with Binance's codes and change nothing."""

from __future__ import annotations

from decimal import Decimal as D

import requests

from connectors.binance.auth import signature
from gateway.api.auth import ApiKey, WalletKeys

DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_TS = 1499827319559
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class WithDocKey:
    """The wallets' keys plus the documentation's example key, mapped onto a real account."""

    def __init__(self, inner: WalletKeys, tenant: int, account: int) -> None:
        self.inner, self.tenant, self.account = inner, tenant, account

    def lookup(self, api_key: str) -> ApiKey | None:
        if api_key == DOC_KEY:
            return ApiKey(DOC_KEY, DOC_SECRET, str(self.tenant), str(self.account))
        return self.inner.lookup(api_key)


def _doc_server(server):
    acct, _, _ = server.account("doc")
    server.ctx.auth.keys = WithDocKey(server.ctx.auth.keys, server.tenant.tenant_id, acct)
    server.ctx.auth.clock_ms = lambda: DOC_TS + 200
    return acct


def test_documented_examples_verify(server):
    _doc_server(server)
    url = f"{server.url}/api/v3/order/test"
    hdr = {"X-MBX-APIKEY": DOC_KEY, **FORM}
    q1 = (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    )
    assert signature(DOC_SECRET, q1) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    # example 1, all in the body: the signature verifies, so the answer is about the symbol (LTCBTC is not listed)
    r = requests.post(
        url, data=q1 + "&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71", headers=hdr
    )
    assert r.json() == {"code": -1121, "msg": "Invalid symbol."}
    # example 1 again as a query string (a new signature would be needed on the wire: replays are refused)
    server.ctx.auth.replays.seen.clear()
    r = requests.post(
        f"{url}?{q1}&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71", headers=hdr
    )
    assert r.json()["code"] == -1121
    # example 2: non-ASCII symbol percent-encoded, signed as sent
    q2 = (
        "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC"
        "&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    )
    r = requests.post(
        url, data=q2 + "&signature=e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3", headers=hdr
    )
    assert r.json()["code"] == -1121
    # example 3: query and body joined with no separator
    r = requests.post(
        f"{url}?symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
        data="quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
        "&signature=0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77",
        headers=hdr,
    )
    assert r.json()["code"] == -1121
    # hex case does not matter
    server.ctx.auth.replays.seen.clear()
    r = requests.post(
        url, data=q1 + "&signature=C8DB56825AE71D6D79447849E617115F4A920FA2ACDCAB2B053C4B2838BD6B71", headers=hdr
    )
    assert r.json()["code"] == -1121


def _signed_order(server, key: str, secret: str, ts: int, price: str = "99.00", extra: str = "") -> tuple[str, str]:
    body = f"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1&price={price}{extra}&timestamp={ts}"
    return body, signature(secret, body)


def test_refusals_change_nothing(server):
    acct, key, secret = server.account("victim")
    url = f"{server.url}/api/v3/order"
    hdr = {"X-MBX-APIKEY": key, **FORM}
    now = server.ctx.auth.clock_ms()
    before = server.balance(acct, "USDT")

    body, sig = _signed_order(server, key, secret, now)
    tampered = body.replace("quantity=0.1", "quantity=0.2")
    r = requests.post(url, data=f"{tampered}&signature={sig}", headers=hdr)
    assert r.status_code == 400 and r.json() == {"code": -1022, "msg": "Signature for this request is not valid."}
    assert r.headers["Content-Type"].startswith("application/json")

    body, sig = _signed_order(server, key, secret, now - 6000)  # older than the default 5000 ms window
    r = requests.post(url, data=f"{body}&signature={sig}", headers=hdr)
    assert r.json() == {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}

    body, sig = _signed_order(server, key, secret, now - 6000, extra="&recvWindow=10000")  # allowed by its window
    r = requests.post(url, data=f"{body}&signature={sig}", headers=hdr)
    assert r.status_code == 200 and r.json()["status"] == "NEW"
    first = r.json()["orderId"]

    body, sig = _signed_order(server, key, secret, now + 5000)  # from the future
    r = requests.post(url, data=f"{body}&signature={sig}", headers=hdr)
    assert r.json()["code"] == -1021

    body, sig = _signed_order(server, key, secret, now, extra="&recvWindow=70000")
    r = requests.post(url, data=f"{body}&signature={sig}", headers=hdr)
    assert r.json()["code"] == -1131

    # replay: the same signed request twice; the second is refused and places nothing
    body, sig = _signed_order(server, key, secret, server.ctx.auth.clock_ms(), price="98.00")
    r1 = requests.post(url, data=f"{body}&signature={sig}", headers=hdr)
    r2 = requests.post(url, data=f"{body}&signature={sig}", headers=hdr)
    assert r1.status_code == 200 and r2.json() == {"code": -1022, "msg": "Signature for this request was already used."}

    r = requests.post(url, data=body, headers=hdr)  # no signature
    assert r.json()["code"] == -1102
    r = requests.post(url, data=f"{body}&signature={sig}", headers=FORM)  # no key
    assert r.status_code == 401 and r.json()["code"] == -2014
    r = requests.post(url, data=f"{body}&signature={sig}", headers={"X-MBX-APIKEY": "x" * 64, **FORM})
    assert r.status_code == 401 and r.json()["code"] == -2015

    opened = requests.get(
        f"{server.url}/api/v3/openOrders",
        params=_query(secret, f"symbol=BTCUSDT&timestamp={server.ctx.auth.clock_ms()}"),
        headers={"X-MBX-APIKEY": key},
    ).json()
    assert sorted(o["orderId"] for o in opened) == sorted([first, r1.json()["orderId"]])
    locked = D("0.1") * D("99") + D("0.1") * D("98")
    assert server.balance(acct, "USDT") == (before[0] - locked, locked)


def _query(secret: str, q: str) -> str:
    return f"{q}&signature={signature(secret, q)}"


def test_headers_and_error_shape(server):
    r = requests.get(f"{server.url}/api/v3/depth", params={"symbol": "BTCUSDT"})
    assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) >= 5
    r = requests.get(f"{server.url}/api/v3/depth", params={"symbol": "NOPE"})
    assert r.status_code == 400 and r.json() == {"code": -1121, "msg": "Invalid symbol."}
    r = requests.get(f"{server.url}/api/v3/nothing-here")
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/json") and "code" in r.json()
    spec = requests.get(f"{server.url}/openapi.json").json()
    assert spec["paths"]["/api/v3/order"]["post"]["x-binance-security"] == "TRADE"
    assert {"/api/v3/depth", "/api/v3/account", "/api/v3/userDataStream", "/sapi/v1/broker/subAccountApi"} <= set(
        spec["paths"]
    )
    assert "Braid" in requests.get(f"{server.url}/docs").text
    order_params = {p["name"]: p for p in spec["paths"]["/api/v3/order"]["post"]["parameters"]}
    assert order_params["symbol"]["required"] and order_params["type"]["schema"]["enum"] == [
        "LIMIT",
        "LIMIT_MAKER",
        "MARKET",
    ]
    from gateway.api.openapi import PARAMS

    documented = {op["operationId"].split("_", 1)[1] for ops in spec["paths"].values() for op in ops.values()}
    assert set(PARAMS) <= documented  # every parameter list belongs to a mounted handler
