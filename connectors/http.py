"""Shared REST access for market data: timeouts, Retry-After on 429/418, retries on 5xx and network errors."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp
import structlog

from connectors.errors import RateLimited, retry_after_s

log = structlog.get_logger(__name__)


class HttpError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status
        self.body = body


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
                        # the venue error the order path raises too (one RateLimited for all of connectors)
                        raise RateLimited(urlsplit(url).hostname or url, wait, f"HTTP {resp.status}")
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
