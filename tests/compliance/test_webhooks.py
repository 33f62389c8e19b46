"""Sumsub and Onfido: onboarding against fake provider servers over real sockets, then their webhooks posted to
Braid's API: valid ones move the tier; a wrong signature, a replay, a stale one and a body changed after
signing are refused with a JSON error and change nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from compliance import Kyc, KycStore
from compliance.providers import KycWebhooks, OnfidoClient, SumsubClient
from compliance.providers import onfido as onfido_mod
from compliance.providers import sumsub as sumsub_mod
from config.kyc import KycSettings
from gateway.api import errors
from gateway.api import kyc as kyc_routes
from gateway.api.context import CTX
from tests.compliance.conftest import price_of
from tests.compliance.fake_providers import FakeOnfido, FakeSumsub

SETTINGS = KycSettings(
    sumsub_app_token="sbx:app",
    sumsub_secret_key="s3cret",
    sumsub_webhook_secret="wh-sumsub",
    onfido_api_token="api_sandbox.tok",
    onfido_webhook_token="wh-onfido",
)


class Env(SimpleNamespace):
    kyc: Kyc
    braid: str
    sumsub: FakeSumsub
    onfido: FakeOnfido
    sumsub_url: str
    onfido_url: str
    http: aiohttp.ClientSession


@pytest.fixture
async def env(store: KycStore) -> AsyncIterator[Env]:
    kyc = Kyc(SETTINGS, store, price_of)
    app = web.Application(middlewares=[errors.error_middleware])
    app[CTX] = SimpleNamespace(kyc=KycWebhooks(kyc))  # type: ignore[misc] - only the webhook routes are served
    kyc_routes.add_routes(app)
    sumsub = FakeSumsub("sbx:app", "s3cret", "wh-sumsub")
    onfido = FakeOnfido("api_sandbox.tok", "wh-onfido")
    servers = [TestServer(a, host="127.0.0.1") for a in (app, sumsub.app, onfido.app)]
    for s in servers:
        await s.start_server()
    async with aiohttp.ClientSession() as http:
        yield Env(
            kyc=kyc,
            braid=str(servers[0].make_url("")),
            sumsub=sumsub,
            onfido=onfido,
            http=http,
            sumsub_url=str(servers[1].make_url("")),
            onfido_url=str(servers[2].make_url("/v3.6")),
        )
    for s in servers:
        await s.close()


async def post(env: Env, provider: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    async with env.http.post(f"{env.braid}/kyc/webhook/{provider}", data=body, headers=headers) as r:
        return r.status, await r.json()


async def test_sumsub_flow(env: Env) -> None:
    client = SumsubClient(env.sumsub_url, "sbx:app", "s3cret", env.http)
    token = await sumsub_mod.onboard(client, env.kyc.store, 41, "basic-kyc-level")
    assert token.startswith("_act-sbx-41-")
    (applicant,) = env.sumsub.applicants
    assert env.sumsub.applicants[applicant] == "41"

    body, headers = env.sumsub.webhook(applicant, "GREEN")
    # forged: signed with another secret
    forged = dict(headers, **{"X-Payload-Digest": "0" * 64})
    refused = (401, {"code": -1022, "msg": "X-Payload-Digest does not match the body"})
    assert await post(env, "sumsub", body, forged) == refused
    # altered after signing
    altered = body.replace(b'"GREEN"', b'"GREEN" ')
    assert (await post(env, "sumsub", altered, headers))[0] == 401
    assert env.kyc.tier(41) == 0
    # valid
    assert await post(env, "sumsub", body, headers) == (200, {"status": "ok", "account": 41, "tier": 2})
    assert env.kyc.tier(41) == 2
    assert env.kyc.store.history(41)[-1] | {"time": 0} == {
        "from": 0,
        "to": 2,
        "source": "sumsub",
        "actor": "sumsub",
        "reason": "sumsub applicantReviewed",
        "time": 0,
    }
    # replayed
    status, err = await post(env, "sumsub", body, headers)
    assert status == 400 and "replay" in err["msg"]
    # stale (older than webhook_max_age_s), correctly signed, SHA-512 this time
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=SETTINGS.webhook_max_age_s + 60)
    body2, headers2 = env.sumsub.webhook(applicant, "RED", reject_type="FINAL", created=old, alg="HMAC_SHA512_HEX")
    status, err = await post(env, "sumsub", body2, headers2)
    assert status == 400 and "stale" in err["msg"]
    assert env.kyc.tier(41) == 2
    # a fresh FINAL rejection takes the tier back to 0
    body3, headers3 = env.sumsub.webhook(applicant, "RED", reject_type="FINAL", alg="HMAC_SHA1_HEX")
    assert await post(env, "sumsub", body3, headers3) == (200, {"status": "ok", "account": 41, "tier": 0})


async def test_sumsub_refuses_bad_api_signature(env: Env) -> None:
    client = SumsubClient(env.sumsub_url, "sbx:app", "wrong-secret", env.http)
    with pytest.raises(sumsub_mod.SumsubError, match="HTTP 401"):
        await client.create_applicant("1", "basic-kyc-level")


async def test_onfido_flow(env: Env) -> None:
    client = OnfidoClient(env.onfido_url, "api_sandbox.tok", env.http)
    check = await onfido_mod.onboard(client, env.kyc.store, 42, "Ada", "Lovelace")
    assert env.onfido.checks[check].startswith("app-")
    assert env.kyc.export(42)["personalData"] == {"first_name": "Ada", "last_name": "Lovelace"}

    body, headers = env.onfido.webhook(check, "clear")
    status, err = await post(env, "onfido", body, {"X-SHA2-Signature": "ab" * 32})
    assert status == 401 and err["code"] == -1022
    status, _ = await post(env, "onfido", body, {})
    assert status == 401
    assert (await post(env, "onfido", body.replace(b"clear", b"CLEAR"), headers))[0] == 401
    assert env.kyc.tier(42) == 0
    assert await post(env, "onfido", body, headers) == (200, {"status": "ok", "account": 42, "tier": 2})
    status, err = await post(env, "onfido", body, headers)
    assert status == 400 and "replay" in err["msg"]
    # the same event re-serialised (same check, same action) and re-signed is still a replay
    again = body.replace(b'", "', b'","')
    again_headers = {"X-SHA2-Signature": onfido_mod.webhook_signature("wh-onfido", again)}
    assert (await post(env, "onfido", again, again_headers))[0] == 400
    # stale
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    body2, headers2 = env.onfido.webhook(check + "x", "clear", completed=old)
    status, err = await post(env, "onfido", body2, headers2)
    assert status == 400 and "stale" in err["msg"]


async def test_onfido_refuses_bad_token(env: Env) -> None:
    client = OnfidoClient(env.onfido_url, "wrong", env.http)
    with pytest.raises(onfido_mod.OnfidoError, match="HTTP 401"):
        await client.create_applicant("A", "B")
