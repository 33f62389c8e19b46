"""Provider webhooks: verify the signature over the raw body, refuse stale and replayed deliveries, then move
the account's tier.

- Sumsub ``applicantReviewed`` with ``reviewAnswer`` GREEN → tier 2 (documents verified); RED with
  ``reviewRejectType`` FINAL → tier 0. Account: the applicant id we linked at onboarding.
- Onfido ``check.completed`` with ``result`` clear → tier 2; ``consider`` leaves the tier for a person to
  review. Account: the check id we linked when creating the check.

A webhook never lowers a tier an operator raised above 2 on its GREEN/clear. Every accepted delivery is
recorded under its body digest and its event identity, so the same event sent twice is refused even if the
body was re-serialised. Refusals raise :class:`WebhookRefused` (HTTP status, Binance-shaped code and text) and
are logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import structlog

from compliance.kyc import Kyc
from compliance.providers.onfido import webhook_signature
from compliance.providers.sumsub import DIGEST_ALGS, payload_digest
from domain import now_ms

log = structlog.get_logger(__name__)

VERIFIED_TIER = 2


class WebhookRefused(Exception):
    """A webhook refused: ``status`` (401 signature, 400 otherwise), ``code`` and ``msg`` for the JSON error."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


def _bad_signature(msg: str) -> WebhookRefused:
    return WebhookRefused(401, -1022, msg)


def _parse_time(text: object) -> int | None:
    """Milliseconds from Sumsub's ``2024-05-01 10:00:00.000`` (UTC) or an ISO 8601 time."""
    if not isinstance(text, str) or not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp() * 1000)


class KycWebhooks:
    """Checks and applies webhooks for ``kyc`` (blocking: database writes; call it from a worker thread)."""

    def __init__(self, kyc: Kyc, *, clock_ms: Callable[[], int] = now_ms) -> None:
        self.kyc = kyc
        self.settings = kyc.settings
        self.clock_ms = clock_ms

    def handle(self, provider: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        try:
            if provider == "sumsub":
                return self._sumsub(headers, body)
            if provider == "onfido":
                return self._onfido(headers, body)
            raise WebhookRefused(404, -1000, f"unknown KYC provider {provider!r}")
        except WebhookRefused as exc:
            log.warning(
                "kyc_webhook_refused",
                provider=provider,
                status=exc.status,
                reason=exc.msg,
                body_sha256=hashlib.sha256(body).hexdigest(),
            )
            raise

    # ----- Sumsub -----
    def _sumsub(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        secret = self.settings.sumsub_webhook_secret
        if secret is None:
            raise WebhookRefused(404, -1000, "Sumsub webhooks are not configured (kyc.sumsub_webhook_secret)")
        got = headers.get("X-Payload-Digest", "")
        alg = headers.get("X-Payload-Digest-Alg", "HMAC_SHA256_HEX")
        if not got:
            raise _bad_signature("X-Payload-Digest header is missing")
        if alg not in DIGEST_ALGS:
            raise _bad_signature(f"X-Payload-Digest-Alg {alg!r} is not one Sumsub uses")
        if not hmac.compare_digest(payload_digest(secret.get_secret_value(), body, alg), got.lower()):
            raise _bad_signature("X-Payload-Digest does not match the body")
        event = self._json(body)
        kind = str(event.get("type", ""))
        applicant = str(event.get("applicantId", ""))
        self._fresh(_parse_time(event.get("createdAtMs") or event.get("createdAt")))
        event_id = f"{kind}:{applicant}:{event.get('correlationId') or event.get('createdAtMs') or ''}"
        tier: int | None = None
        if kind == "applicantReviewed":
            result = event.get("reviewResult") or {}
            answer = result.get("reviewAnswer")
            if answer == "GREEN":
                tier = VERIFIED_TIER
            elif answer == "RED" and result.get("reviewRejectType") == "FINAL":
                tier = 0
        return self._apply("sumsub", got.lower(), event_id, applicant, kind, tier)

    # ----- Onfido -----
    def _onfido(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        token = self.settings.onfido_webhook_token
        if token is None:
            raise WebhookRefused(404, -1000, "Onfido webhooks are not configured (kyc.onfido_webhook_token)")
        got = headers.get("X-SHA2-Signature", "")
        if not got:
            raise _bad_signature("X-SHA2-Signature header is missing")
        if not hmac.compare_digest(webhook_signature(token.get_secret_value(), body), got.lower()):
            raise _bad_signature("X-SHA2-Signature does not match the body")
        payload = self._json(body).get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("object"), dict):
            raise WebhookRefused(400, -1130, "webhook body has no payload.object")
        obj = payload["object"]
        action = str(payload.get("action", ""))
        check = str(obj.get("id", ""))
        self._fresh(_parse_time(obj.get("completed_at_iso8601")))
        tier = VERIFIED_TIER if action == "check.completed" and obj.get("result") == "clear" else None
        return self._apply("onfido", got.lower(), f"{action}:{check}", check, action, tier)

    # ----- shared -----
    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise WebhookRefused(400, -1130, "webhook body is not JSON") from None
        if not isinstance(event, dict):
            raise WebhookRefused(400, -1130, "webhook body is not a JSON object")
        return event

    def _fresh(self, sent_ms: int | None) -> None:
        if sent_ms is None:
            return  # the provider sent no time: the replay guard alone protects
        age_s = (self.clock_ms() - sent_ms) / 1000
        if age_s > self.settings.webhook_max_age_s:
            raise WebhookRefused(
                400,
                -1021,
                f"webhook is stale: sent {int(age_s)} s ago, the limit is {self.settings.webhook_max_age_s} s",
            )

    def _apply(
        self, provider: str, digest: str, event_id: str, ref: str, kind: str, tier: int | None
    ) -> dict[str, Any]:
        store = self.kyc.store
        account = store.account_of(provider, ref)
        outcome = "ignored" if account is None or tier is None else f"tier:{tier}"
        if not store.first_delivery(provider, [f"digest:{digest}", f"event:{event_id}"], outcome):
            raise WebhookRefused(400, -1021, "webhook was already received (replay)")
        if account is None:
            log.warning("kyc_webhook_unknown_reference", provider=provider, ref=ref, event=kind)
            return {"status": "ignored", "reason": f"no account is linked to {provider} id {ref!r}"}
        if tier is None:
            log.info("kyc_webhook_no_change", provider=provider, account=account, event=kind)
            return {"status": "ok", "account": account, "tier": self.kyc.tier(account)}
        current = self.kyc.tier(account)
        if tier == VERIFIED_TIER and current >= tier:
            return {"status": "ok", "account": account, "tier": current}
        self.kyc.set_tier(account, tier, reason=f"{provider} {kind}", actor=provider, source=provider)
        return {"status": "ok", "account": account, "tier": tier}
