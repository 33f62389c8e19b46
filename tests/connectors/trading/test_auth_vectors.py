"""The worked signature vectors of venue-protocols.md §1.6, §2.5 and §3.4, against our signing functions."""

from __future__ import annotations

from connectors.binance import auth as binance_auth
from connectors.htx import auth as htx_auth
from connectors.kraken import auth as kraken_auth

BN_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
BN_QUERY = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
)


def test_binance_hmac_query_vector() -> None:
    expected = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    assert binance_auth.signature(BN_SECRET, BN_QUERY) == expected
    assert binance_auth.verify(BN_SECRET, f"{BN_QUERY}&signature={expected}", "")
    assert binance_auth.verify(BN_SECRET, f"{BN_QUERY}&signature={expected.upper()}", "")  # case-insensitive


def test_binance_hmac_percent_encoded_symbol_vector() -> None:
    query = BN_QUERY.replace("LTCBTC", "%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96")
    assert (
        binance_auth.signature(BN_SECRET, query) == "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
    )
    params = [
        ("symbol", "１２３４５６"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "1"),
        ("price", "0.1"),
    ]
    signed = binance_auth.signed_query(params, BN_SECRET, 1499827319559, recv_window_ms=5000)
    assert signed.endswith("&signature=e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3")


def test_binance_hmac_query_plus_body_vector() -> None:
    query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    body = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    sig = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
    assert binance_auth.signature(BN_SECRET, query, body) == sig
    assert binance_auth.verify(BN_SECRET, query, f"{body}&signature={sig}")
    assert not binance_auth.verify(BN_SECRET, query, f"{body.replace('0.1', '0.2')}&signature={sig}")
    assert not binance_auth.verify("wrong", query, f"{body}&signature={sig}")


def test_binance_timestamp_window() -> None:
    assert binance_auth.timestamp_ok(1000, 1500, 5000)
    assert not binance_auth.timestamp_ok(3000, 1500, 5000)  # > 1 s ahead
    assert not binance_auth.timestamp_ok(1000, 7000, 5000)  # older than recvWindow


def test_kraken_api_sign_vector() -> None:
    secret = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
    body = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    expected = "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
    assert kraken_auth.api_sign(secret, "/0/private/AddOrder", "1616492376594", body) == expected
    assert kraken_auth.verify(secret, "/0/private/AddOrder", 1616492376594, body, expected)
    assert not kraken_auth.verify(secret, "/0/private/AddOrder", 1616492376594, body + "&x=1", expected)
    assert not kraken_auth.verify("not base64!", "/0/private/AddOrder", 1616492376594, body, expected)


def test_htx_signature_v2_self_consistency_vector() -> None:
    params = {
        "AccessKeyId": "e2xxxxxx-99xxxxxx-84xxxxxx-7xxxx",
        "SignatureMethod": "HmacSHA256",
        "SignatureVersion": "2",
        "Timestamp": "2017-05-11T15:19:30",
        "order-id": "1234567890",
    }
    text = htx_auth.presigned_text("GET", "api.huobi.pro", "/v1/order/orders", params)
    assert text == (
        "GET\napi.huobi.pro\n/v1/order/orders\n"
        "AccessKeyId=e2xxxxxx-99xxxxxx-84xxxxxx-7xxxx&SignatureMethod=HmacSHA256&SignatureVersion=2"
        "&Timestamp=2017-05-11T15%3A19%3A30&order-id=1234567890"
    )
    sig = htx_auth.signature("b0xxxxxx-c6xxxxxx-94xxxxxx-dxxxx", text)
    assert sig == "Nmd8AU8uAe0mkFpxNbiava0aeZzBEtYjCdie1ZYZjoM="
    assert htx_auth.verify(
        "b0xxxxxx-c6xxxxxx-94xxxxxx-dxxxx", "GET", "API.HUOBI.PRO", "/v1/order/orders", {**params, "Signature": sig}
    )
    assert not htx_auth.verify("other", "GET", "api.huobi.pro", "/v1/order/orders", {**params, "Signature": sig})


def test_htx_timestamp_round_trip() -> None:
    ms = htx_auth.parse_timestamp("2017-05-11T15:19:30")
    assert htx_auth.timestamp_text(ms) == "2017-05-11T15:19:30"
    query = htx_auth.signed_query(
        "GET",
        "api.huobi.pro",
        "/v1/order/orders",
        "e2xxxxxx-99xxxxxx-84xxxxxx-7xxxx",
        "b0xxxxxx-c6xxxxxx-94xxxxxx-dxxxx",
        ms,
        {"order-id": "1234567890"},
    )
    assert query.endswith("&Signature=Nmd8AU8uAe0mkFpxNbiava0aeZzBEtYjCdie1ZYZjoM%3D")
