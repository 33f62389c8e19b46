"""Onfido (API v3): applicants and checks over the REST API, and its webhooks.

Requests carry ``Authorization: Token token=<api token>``. Webhooks carry ``X-SHA2-Signature``: hex
HMAC-SHA256 of the raw body with the webhook's token.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from compliance.kyc import KycStore
from domain import now_ms
from domain.signing import hmac_sha256_hex


def webhook_signature(token: str, body: bytes) -> str:
    """``X-SHA2-Signature`` of a webhook body."""
    return hmac_sha256_hex(token, body)


class OnfidoError(Exception):
    """Onfido answered with an error."""


class OnfidoClient:
    def __init__(self, base_url: str, api_token: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_token = api_token
        self.session = session

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {
            "Authorization": f"Token token={self.api_token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        async with self.session.post(self.base_url + path, data=orjson.dumps(payload), headers=headers) as resp:
            data = await resp.read()
            if resp.status >= 400:
                raise OnfidoError(f"Onfido POST {path}: HTTP {resp.status}: {data[:300]!r}")
            out: dict[str, Any] = orjson.loads(data)
            return out

    async def create_applicant(self, first_name: str, last_name: str) -> dict[str, Any]:
        """``POST /applicants``: the applicant (``id``)."""
        return await self._post("/applicants", {"first_name": first_name, "last_name": last_name})

    async def create_check(self, applicant_id: str, report_names: list[str]) -> dict[str, Any]:
        """``POST /checks``: a check of the applicant (``id``, ``status`` in_progress); ``check.completed``
        arrives by webhook."""
        return await self._post("/checks", {"applicant_id": applicant_id, "report_names": report_names})


async def onboard(
    client: OnfidoClient,
    store: KycStore,
    account: int,
    first_name: str,
    last_name: str,
    reports: tuple[str, ...] = ("document", "facial_similarity_photo"),
) -> str:
    """Create the applicant and a check, keep the names (encrypted) and link both ids to the account; the
    ``check.completed`` webhook then moves the tier. Returns the check id."""
    applicant = await client.create_applicant(first_name, last_name)
    await asyncio.to_thread(store.put_pii, account, {"first_name": first_name, "last_name": last_name}, now_ms())
    await asyncio.to_thread(store.link, "onfido", str(applicant["id"]), "applicant", account)
    check = await client.create_check(str(applicant["id"]), list(reports))
    await asyncio.to_thread(store.link, "onfido", str(check["id"]), "check", account)
    return str(check["id"])
