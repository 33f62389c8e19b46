"""KYC tiers on the order path of the served app (``BRAID_KYC__ENFORCE=true``): an unverified account's order is
refused with Binance's error, and a verified one trades up to its tier's largest order notional."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from config.kyc import KycSettings
from config.settings import Settings
from tests.gateway.conftest import Server
from tests.gateway.test_broker_and_orders import call
from tests.wallets.conftest import MASTER


@pytest.fixture
def kyc_server(tmp_path: Any) -> Iterator[Server]:
    settings = Settings(
        api_orders_limit_10s=10_000,
        data_dir=str(tmp_path),
        master_key=base64.b64encode(MASTER).decode(),
        kyc=KycSettings(enforce=True),  # tier 1: largest order 10,000 USDT
    )  # type: ignore[call-arg]
    s = Server(str(tmp_path), settings).start()
    try:
        yield s
    finally:
        s.stop()


def order(server: Server, key: str, secret: str, qty: str, price: str = "100") -> Any:
    params = f"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity={qty}&price={price}"
    return call(server, "POST", "/api/v3/order", key, secret, params)


def test_an_unverified_account_cannot_order_and_a_verified_one_trades_up_to_its_tier(kyc_server: Server) -> None:
    server = kyc_server
    account, key, secret = server.account("kyc-client", {"USDT": "50000"})
    refused = order(server, key, secret, "0.01")
    assert refused.status_code == 400
    assert refused.json() == {
        "code": -2010,
        "msg": "This action is disabled on this account: identity verification required.",
    }
    assert server.balance(account, "USDT") == (50000, 0)  # nothing reserved

    assert server.ctx.kyc is not None
    server.ctx.kyc.kyc.set_tier(account, 1, reason="identity verified", actor="alice")
    over = order(server, key, secret, "100.001")  # 10,000.1 USDT: one step (0.001 BTC at 100) over the limit
    assert over.status_code == 400
    assert over.json() == {"code": -2010, "msg": "Order would exceed the maximum notional of your verification level."}
    at_limit = order(server, key, secret, "99.999")  # one step below the limit
    assert at_limit.status_code == 200, at_limit.text
    assert at_limit.json()["origQty"] == "99.99900000"
