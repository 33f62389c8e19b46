"""The API's back-office duties: key creation, deletion and markup changes are in the audit log with the calling
key and address; a sub-account with two-factor authentication needs a fresh code to get a new key; kill-switch
halts are audited; an account's own tax report (JSON and CSV) agrees with its trades."""

from __future__ import annotations

import csv
import io
import time
from decimal import Decimal as D

import orjson

from compliance.totp import account_subject, code_at
from router.killswitch import Scope
from tests.gateway.test_broker_and_orders import broker_key, call


def _actions(server) -> list[tuple[str, str, str, dict]]:
    bo = server.ctx.backoffice
    return [(e.actor, e.action, e.target, orjson.loads(e.details)) for e in bo.audit.entries()]


def test_key_changes_markup_and_halts_are_audited(server):
    bkey, bsecret = broker_key(server)
    sub = int(call(server, "POST", "/sapi/v1/broker/subAccount", bkey, bsecret, "tag=alice").json()["subaccountId"])
    made = call(server, "POST", "/sapi/v1/broker/subAccountApi", bkey, bsecret, f"subAccountId={sub}").json()
    assert (
        call(
            server, "POST", "/sapi/v1/broker/subAccountApi/commission", bkey, bsecret, "makerCommission=0.0007"
        ).status_code
        == 200
    )
    assert (
        call(
            server,
            "DELETE",
            "/sapi/v1/broker/subAccountApi",
            bkey,
            bsecret,
            f"subAccountId={sub}&subAccountApiKey={made['apiKey']}",
        ).status_code
        == 200
    )
    server.call(server.ctx.service.router.killswitch.halt(Scope.symbol("BTC/USDT"), "fat finger", "desk-ops"))
    log = _actions(server)
    actor = f"api:{bkey}"
    assert log[0] == (
        actor,
        "apikey.create",
        f"account:{sub}",
        {"apiKey": made["apiKey"], "canTrade": True, "ipAllowlist": []},
    )
    assert log[1] == (actor, "markup.set", f"tenant:{server.tenant.tenant_id}", {"from": "0", "to": "0.0007"})
    assert log[2] == (actor, "apikey.delete", f"account:{sub}", {"apiKey": made["apiKey"]})
    assert log[3] == ("desk-ops", "killswitch.halt", "symbol:BTC/USDT", {"reason": "fat finger"})
    assert all(e.ip == "127.0.0.1" for e in server.ctx.backoffice.audit.entries()[:3])
    assert server.ctx.backoffice.audit.verify() == (4, [])


def test_key_creation_needs_a_fresh_code_when_2fa_is_on(server):
    bkey, bsecret = broker_key(server)
    sub = int(call(server, "POST", "/sapi/v1/broker/subAccount", bkey, bsecret, "tag=bob").json()["subaccountId"])
    factors = server.ctx.backoffice.factors
    enrolment = factors.enrol(account_subject(sub), "bob")
    factors.verify(account_subject(sub), code_at(enrolment.secret, int(time.time()) - 30))  # confirmed: 2FA on
    r = call(server, "POST", "/sapi/v1/broker/subAccountApi", bkey, bsecret, f"subAccountId={sub}")
    assert r.status_code == 401 and r.json()["code"] == -1002 and "code is required" in r.json()["msg"]
    r = call(server, "POST", "/sapi/v1/broker/subAccountApi", bkey, bsecret, f"subAccountId={sub}&totpCode=000000")
    assert r.status_code == 401 and r.json()["code"] == -1002
    code = code_at(enrolment.secret, int(time.time()))
    r = call(server, "POST", "/sapi/v1/broker/subAccountApi", bkey, bsecret, f"subAccountId={sub}&totpCode={code}")
    assert r.status_code == 200 and r.json()["apiKey"]
    r = call(server, "POST", "/sapi/v1/broker/subAccountApi", bkey, bsecret, f"subAccountId={sub}&totpCode={code}")
    assert r.status_code == 401 and "already used" in r.json()["msg"]  # the same code twice: refused
    assert [a for _, a, _, _ in _actions(server)] == [
        "apikey.create_refused",
        "apikey.create_refused",
        "apikey.create",
        "apikey.create_refused",
    ]
    assert len(server.wallets.keys.list_keys(server.tenant.tenant_id, sub)) == 1


def test_tax_report_of_the_callers_own_trades(server):
    acct, key, secret = server.account("trader", {"USDT": "100000"})
    for params in (
        "side=BUY&type=MARKET&quantity=2",
        "side=BUY&type=MARKET&quantity=1",
        "side=SELL&type=MARKET&quantity=2.5",
    ):
        assert call(server, "POST", "/api/v3/order", key, secret, f"symbol=BTCUSDT&{params}").status_code == 200
    trades = call(server, "GET", "/api/v3/myTrades", key, secret, "symbol=BTCUSDT").json()
    year = time.gmtime().tm_year
    report = call(server, "GET", "/sapi/v1/braid/taxReport", key, secret, f"year={year}").json()
    assert report["accountId"] == acct and report["method"] == "fifo" and report["currency"] == "USD"
    sells = [t for t in trades if not t["isBuyer"]]
    # proceeds: what the sells received less their fees (in USDT, at 1 USD)
    proceeds = sum(D(t["quoteQty"]) - D(t["commission"]) for t in sells)
    assert sum(D(r["proceeds"]) for r in report["disposals"]) == proceeds
    [summary] = report["summary"]
    assert D(summary["quantity"]) == sum(D(t["qty"]) for t in sells)
    assert D(summary["gain_or_loss"]) == D(summary["proceeds"]) - D(summary["cost_basis"])
    r = call(server, "GET", "/sapi/v1/braid/taxReport", key, secret, f"year={year}&method=AVERAGE&format=CSV")
    assert r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {x["method"] for x in rows} == {"average"} and sum(D(x["proceeds"]) for x in rows) == proceeds
    r = call(server, "GET", "/sapi/v1/braid/taxReport", key, secret, f"year={year}&method=LIFO")
    assert r.status_code == 400 and r.json()["code"] == -1118
    r = call(server, "GET", "/sapi/v1/braid/taxReport", key, secret, "")
    assert r.status_code == 400 and r.json()["code"] == -1102
    # another account's report holds only its own (no) trades
    _, key2, secret2 = server.account("other")
    assert call(server, "GET", "/sapi/v1/braid/taxReport", key2, secret2, f"year={year}").json()["disposals"] == []
