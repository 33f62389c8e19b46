"""Fake Sumsub and Onfido servers (aiohttp on loopback) that check requests and sign webhooks exactly as the
providers document: Sumsub requests need X-App-Token / X-App-Access-Ts / X-App-Access-Sig (hex HMAC-SHA256 of
ts + METHOD + path + body), its webhooks carry X-Payload-Digest (hex HMAC of the raw body, algorithm in
X-Payload-Digest-Alg); Onfido requests need ``Authorization: Token token=...``, its webhooks carry
X-SHA2-Signature (hex HMAC-SHA256 of the raw body). The signing here is written from the documentation, not
imported from the code under test."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import time

from aiohttp import web

_ids = itertools.count(1)
_ALGS = {"HMAC_SHA1_HEX": hashlib.sha1, "HMAC_SHA256_HEX": hashlib.sha256, "HMAC_SHA512_HEX": hashlib.sha512}


class FakeSumsub:
    def __init__(self, app_token: str, secret_key: str, webhook_secret: str) -> None:
        self.app_token, self.secret_key, self.webhook_secret = app_token, secret_key, webhook_secret
        self.applicants: dict[str, str] = {}  # applicant id -> externalUserId
        self.app = web.Application()
        self.app.router.add_post("/resources/applicants", self.create_applicant)
        self.app.router.add_post("/resources/accessTokens/sdk", self.access_token)

    async def _check(self, request: web.Request) -> dict:
        body = await request.read()
        ts = request.headers.get("X-App-Access-Ts", "")
        data = ts.encode() + request.method.encode() + request.raw_path.encode() + body
        want = hmac.new(self.secret_key.encode(), data, hashlib.sha256).hexdigest()
        if (
            request.headers.get("X-App-Token") != self.app_token
            or not ts.isdigit()
            or abs(time.time() - int(ts)) > 60
            or not hmac.compare_digest(want, request.headers.get("X-App-Access-Sig", ""))
        ):
            raise web.HTTPUnauthorized(
                text='{"description":"Invalid signature","code":401}', content_type="application/json"
            )
        return json.loads(body) if body else {}

    async def create_applicant(self, request: web.Request) -> web.Response:
        body = await self._check(request)
        aid = f"5cb56e8e0a975a35f333cb{next(_ids):02d}"
        self.applicants[aid] = body["externalUserId"]
        return web.json_response(
            {
                "id": aid,
                "externalUserId": body["externalUserId"],
                "review": {"reviewStatus": "init"},
                "levelName": request.query["levelName"],
            }
        )

    async def access_token(self, request: web.Request) -> web.Response:
        body = await self._check(request)
        return web.json_response({"token": f"_act-sbx-{body['userId']}-{next(_ids)}", "userId": body["userId"]})

    def webhook(
        self,
        applicant_id: str,
        answer: str = "GREEN",
        *,
        created: dt.datetime | None = None,
        alg: str = "HMAC_SHA256_HEX",
        reject_type: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        created = created or dt.datetime.now(dt.UTC)
        result: dict = {"reviewAnswer": answer}
        if reject_type:
            result["reviewRejectType"] = reject_type
        event = {
            "applicantId": applicant_id,
            "inspectionId": applicant_id[::-1],
            "correlationId": f"req-{next(_ids)}",
            "externalUserId": self.applicants.get(applicant_id, ""),
            "levelName": "basic-kyc-level",
            "type": "applicantReviewed",
            "reviewResult": result,
            "reviewStatus": "completed",
            "createdAtMs": created.strftime("%Y-%m-%d %H:%M:%S.") + f"{created.microsecond // 1000:03d}",
        }
        body = json.dumps(event).encode()
        digest = hmac.new(self.webhook_secret.encode(), body, _ALGS[alg]).hexdigest()
        return body, {"X-Payload-Digest": digest, "X-Payload-Digest-Alg": alg, "Content-Type": "application/json"}


class FakeOnfido:
    def __init__(self, api_token: str, webhook_token: str) -> None:
        self.api_token, self.webhook_token = api_token, webhook_token
        self.checks: dict[str, str] = {}  # check id -> applicant id
        self.app = web.Application()
        self.app.router.add_post("/v3.6/applicants", self.create_applicant)
        self.app.router.add_post("/v3.6/checks", self.create_check)

    def _check(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Token token={self.api_token}":
            raise web.HTTPUnauthorized(text='{"error":{"type":"authorization_error"}}', content_type="application/json")

    async def create_applicant(self, request: web.Request) -> web.Response:
        self._check(request)
        body = await request.json()
        return web.json_response(
            {"id": f"app-{next(_ids)}", "first_name": body["first_name"], "last_name": body["last_name"]}, status=201
        )

    async def create_check(self, request: web.Request) -> web.Response:
        self._check(request)
        body = await request.json()
        cid = f"chk-{next(_ids)}"
        self.checks[cid] = body["applicant_id"]
        return web.json_response(
            {"id": cid, "status": "in_progress", "applicant_id": body["applicant_id"], "report_ids": []}, status=201
        )

    def webhook(
        self, check_id: str, result: str = "clear", *, completed: dt.datetime | None = None
    ) -> tuple[bytes, dict[str, str]]:
        completed = completed or dt.datetime.now(dt.UTC)
        event = {
            "payload": {
                "resource_type": "check",
                "action": "check.completed",
                "object": {
                    "id": check_id,
                    "status": "complete",
                    "result": result,
                    "completed_at_iso8601": completed.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "href": f"https://api.eu.onfido.com/v3.6/checks/{check_id}",
                },
            }
        }
        body = json.dumps(event).encode()
        sig = hmac.new(self.webhook_token.encode(), body, hashlib.sha256).hexdigest()
        return body, {"X-SHA2-Signature": sig, "Content-Type": "application/json"}
