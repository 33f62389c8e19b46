"""KYC provider webhooks: ``POST /kyc/webhook/sumsub`` and ``POST /kyc/webhook/onfido``.

The raw body is checked against the provider's signature header before it is parsed
(:class:`compliance.providers.KycWebhooks`); a refusal answers 401 (signature) or 400 (stale, replayed,
malformed) with a ``{"code","msg"}`` error. Not signed with a Binance key: the provider's HMAC is the proof.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from compliance.providers import WebhookRefused
from gateway.api.context import CTX
from gateway.api.errors import ApiError, json_response
from gateway.binance_errors import RequestError


async def _receive(request: web.Request, provider: str) -> web.Response:
    hooks = request.app[CTX].kyc
    if hooks is None:
        raise ApiError.of(RequestError.KYC_WEBHOOKS_OFF)
    body = await request.read()
    try:
        out = await asyncio.to_thread(hooks.handle, provider, request.headers, body)
    except WebhookRefused as exc:
        raise ApiError(exc.code, exc.msg, status=exc.status) from None
    return json_response(out)


async def sumsub_webhook(request: web.Request) -> web.Response:
    """Sumsub webhook (X-Payload-Digest, HMAC over the raw body): applicantReviewed moves the KYC tier."""
    return await _receive(request, "sumsub")


async def onfido_webhook(request: web.Request) -> web.Response:
    """Onfido webhook (X-SHA2-Signature, HMAC-SHA256 over the raw body): check.completed moves the KYC tier."""
    return await _receive(request, "onfido")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/kyc/webhook/sumsub", sumsub_webhook)
    app.router.add_post("/kyc/webhook/onfido", onfido_webhook)
