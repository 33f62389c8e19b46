"""Listen keys for the user data stream: POST (create), PUT (keep alive), DELETE (close) /api/v3/userDataStream.

A key lives 60 minutes from its last keep-alive, as on Binance; one account has one key (a second POST
returns the same key and extends it).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from domain import now_ms
from gateway.api import errors
from gateway.api.auth import Security
from gateway.api.context import CTX, endpoint, key_of, params_of
from gateway.api.errors import json_response

VALIDITY_MS = 60 * 60 * 1000


@dataclass
class ListenKeys:
    clock_ms: Callable[[], int] = now_ms
    by_key: dict[str, tuple[int, int]] = field(default_factory=dict)  # listenKey -> (account, expires)
    by_account: dict[int, str] = field(default_factory=dict)

    def create(self, account_id: int) -> str:
        key = self.by_account.get(account_id)
        if key is None or self.account(key) is None:
            key = secrets.token_urlsafe(45)[:60]
            self.by_account[account_id] = key
        self.by_key[key] = (account_id, self.clock_ms() + VALIDITY_MS)
        return key

    def account(self, key: str) -> int | None:
        found = self.by_key.get(key)
        if found is None or found[1] < self.clock_ms():
            return None
        return found[0]

    def keepalive(self, key: str, account_id: int) -> bool:
        if self.account(key) != account_id:
            return False
        self.by_key[key] = (account_id, self.clock_ms() + VALIDITY_MS)
        return True

    def close(self, key: str, account_id: int) -> bool:
        if self.account(key) != account_id:
            return False
        del self.by_key[key]
        self.by_account.pop(account_id, None)
        return True


def keys_of(request: web.Request) -> ListenKeys:
    ctx = request.app[CTX]
    if ctx.listen_keys is None:
        ctx.listen_keys = ListenKeys()
    return ctx.listen_keys  # type: ignore[no-any-return]


@endpoint(weight=2, security=Security.USER_STREAM)
async def create(request: web.Request) -> web.Response:
    account = int(key_of(request).account)
    return json_response({"listenKey": keys_of(request).create(account)})


@endpoint(weight=2, security=Security.USER_STREAM)
async def keepalive(request: web.Request) -> web.Response:
    lk = params_of(request).required("listenKey")
    if not keys_of(request).keepalive(lk, int(key_of(request).account)):
        raise errors.bad_listen_key()
    return json_response({})


@endpoint(weight=2, security=Security.USER_STREAM)
async def close(request: web.Request) -> web.Response:
    lk = params_of(request).required("listenKey")
    if not keys_of(request).close(lk, int(key_of(request).account)):
        raise errors.bad_listen_key()
    return json_response({})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v3/userDataStream", create)
    r.add_put("/api/v3/userDataStream", keepalive)
    r.add_delete("/api/v3/userDataStream", close)
