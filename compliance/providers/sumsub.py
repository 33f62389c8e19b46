"""Sumsub: applicants and WebSDK access tokens over the REST API, and its webhooks.

Requests carry ``X-App-Token``, ``X-App-Access-Ts`` (Unix seconds) and ``X-App-Access-Sig``: hex
HMAC-SHA256 with the secret key over ``ts + METHOD + path-with-query + body``. Webhooks carry
``X-Payload-Digest``: hex HMAC of the raw body with the webhook secret, the algorithm named in
``X-Payload-Digest-Alg`` (``HMAC_SHA1_HEX``, ``HMAC_SHA256_HEX``, ``HMAC_SHA512_HEX``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from compliance.kyc import KycStore

DIGEST_ALGS = {"HMAC_SHA1_HEX": hashlib.sha1, "HMAC_SHA256_HEX": hashlib.sha256, "HMAC_SHA512_HEX": hashlib.sha512}


def request_signature(secret: str, ts: int, method: str, path: str, body: bytes) -> str:
    """``X-App-Access-Sig`` of one request (``path`` with its query string)."""
    return hmac.new(
        secret.encode(), str(ts).encode() + method.upper().encode() + path.encode() + body, hashlib.sha256
    ).hexdigest()


def payload_digest(secret: str, body: bytes, alg: str = "HMAC_SHA256_HEX") -> str:
    """``X-Payload-Digest`` of a webhook body; ``ValueError`` for an algorithm Sumsub does not use."""
    if alg not in DIGEST_ALGS:
        raise ValueError(f"unknown X-Payload-Digest-Alg {alg!r}")
    return hmac.new(secret.encode(), body, DIGEST_ALGS[alg]).hexdigest()


class SumsubError(Exception):
    """Sumsub answered with an error."""


class SumsubClient:
    def __init__(self, base_url: str, app_token: str, secret_key: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_token = app_token
        self.secret_key = secret_key
        self.session = session

    async def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        body = b"" if payload is None else orjson.dumps(payload)
        ts = int(time.time())
        headers = {
            "X-App-Token": self.app_token,
            "X-App-Access-Ts": str(ts),
            "X-App-Access-Sig": request_signature(self.secret_key, ts, method, path, body),
            "Accept": "application/json",
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        async with self.session.request(method, self.base_url + path, data=body or None, headers=headers) as resp:
            data = await resp.read()
            if resp.status >= 400:
                raise SumsubError(f"Sumsub {method} {path}: HTTP {resp.status}: {data[:300]!r}")
            out: dict[str, Any] = orjson.loads(data)
            return out

    async def create_applicant(self, external_user_id: str, level_name: str) -> dict[str, Any]:
        """``POST /resources/applicants?levelName=...``: the applicant (its ``id`` is Sumsub's applicant id)."""
        return await self._call(
            "POST",
            "/resources/applicants?" + urlencode({"levelName": level_name}),
            {"externalUserId": external_user_id},
        )

    async def access_token(self, user_id: str, level_name: str, ttl_s: int = 600) -> str:
        """``POST /resources/accessTokens/sdk``: a token the client's WebSDK opens the verification with."""
        out = await self._call(
            "POST", "/resources/accessTokens/sdk", {"userId": user_id, "levelName": level_name, "ttlInSecs": ttl_s}
        )
        return str(out["token"])


async def onboard(client: SumsubClient, store: KycStore, account: int, level_name: str) -> str:
    """Create the account's applicant (``externalUserId`` = the account id), link it, and return the WebSDK
    access token; Sumsub's ``applicantReviewed`` webhook then moves the tier."""
    applicant = await client.create_applicant(str(account), level_name)
    await asyncio.to_thread(store.link, "sumsub", str(applicant["id"]), "applicant", account)
    return await client.access_token(str(account), level_name)
