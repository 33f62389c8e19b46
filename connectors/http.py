"""Shared REST access for market data: timeouts, Retry-After on 429/418, retries on 5xx and network errors."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
import structlog

log = structlog.get_logger(__name__)


class RateLimited(Exception):
    """The venue said 429/418 and its Retry-After is longer than we are willing to wait."""

    def __init__(self, status: int, retry_after: float) -> None:
        super().__init__(f"HTTP {status}, retry after {retry_after}s")
        self.status = status
        self.retry_after = retry_after


class HttpError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status
        self.body = body


def retry_after_s(headers: Mapping[str, str], default: float) -> float:
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else default  # seconds, not money
    except ValueError:
        return default


async def get_text(
    session: aiohttp.ClientSession,
    url: str,
    params: Mapping[str, str] | None = None,
    *,
    attempts: int = 5,
    timeout_s: float = 10.0,
    max_wait_s: float = 120.0,
) -> str:
    """GET a body as text. 429/418 wait the venue's Retry-After (up to ``max_wait_s``); 5xx back off."""
    backoff = 0.5
    for attempt in range(1, attempts + 1):
        try:
            async with session.get(url, params=params, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                body = await resp.text()
                if resp.status in (429, 418):
                    wait = retry_after_s(resp.headers, backoff)
                    log.warning("rest_rate_limited", url=url, status=resp.status, retry_after=wait, attempt=attempt)
                    if wait > max_wait_s or attempt == attempts:
                        raise RateLimited(resp.status, wait)
                    await asyncio.sleep(wait)
                    continue
                if resp.status >= 500:
                    if attempt == attempts:
                        raise HttpError(resp.status, body)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                if resp.status >= 400:
                    raise HttpError(resp.status, body)
                return body
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("rest_error", url=url, error=str(exc) or type(exc).__name__, attempt=attempt)
            if attempt == attempts:
                raise
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
    raise AssertionError("unreachable")
