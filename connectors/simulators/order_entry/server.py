"""Shared shell of the fake venue order-entry servers: aiohttp on loopback, API keys, fault injection.

A venue subclass adds its routes and error shapes; orders go to its ``MatchingEngine``. Faults apply to
the next order placement (``fail_next_order``):

- ``timeout``: the order is accepted, then the answer is held for ``delay_s`` (past the client's timeout);
- ``http_5xx``: the order is accepted, then a bare HTTP 5xx page is returned;
- ``venue_unknown``: the order is accepted, then the venue's own "status unknown" error is returned
  (Binance -1007, Kraken EService:Deadline elapsed, HTX gateway-internal-error);
- ``rate_limit``: nothing is accepted; the venue's rate-limit answer with a Retry-After header;
- ``garbage``: the order is accepted, then a 200 answer whose body is cut off mid-JSON.

``fail_next_request(path, kind, method="GET")`` makes the next such request (a query, a cancel: anything but an
order placement) fail the same way *before* it is handled: ``timeout`` (held, then handled), ``http_5xx`` or
``garbage`` (nothing done).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from connectors.simulators.order_entry.capital import VenueWallet
from connectors.simulators.order_entry.matching import MatchingEngine

log = structlog.get_logger(__name__)

FAULTS = ("timeout", "http_5xx", "venue_unknown", "rate_limit", "garbage")
GARBAGE = '{"symbol": "BTCUSDT", "orderId": 12, "status": "FIL'  # an answer cut off mid-way


@dataclass(frozen=True)
class OrderFault:
    kind: str
    delay_s: float = 2.0
    status: int = 502
    retry_after_s: int = 1


class FakeVenue:
    venue = "fake"

    def __init__(
        self,
        engine: MatchingEngine,
        keys: dict[str, str],
        *,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.engine = engine
        self.wallet = VenueWallet(engine, self.venue)  # deposits and withdrawals of the same account
        self.keys = dict(keys)  # api key -> secret; every key trades the one account of ``engine``
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        engine.clock_ms = self.clock_ms  # one clock for timestamps and order times
        self.faults: deque[OrderFault] = deque()
        self.request_faults: dict[str, deque[OrderFault]] = {}  # "METHOD path" -> faults for its next requests
        self.requests: list[tuple[str, str]] = []  # (method, path) in arrival order
        self.auth_failures = 0
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.host = "127.0.0.1"

    # ----- to be supplied by the venue -----
    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def unknown_state_response(self) -> web.Response:
        raise NotImplementedError

    def rate_limit_response(self, retry_after_s: int) -> web.Response:
        raise NotImplementedError

    # ----- faults -----
    def fail_next_order(self, kind: str, *, delay_s: float = 2.0, status: int = 502, retry_after_s: int = 1) -> None:
        if kind not in FAULTS:
            raise ValueError(f"fault was {kind!r}, expected one of {FAULTS}")
        self.faults.append(OrderFault(kind, delay_s, status, retry_after_s))

    def fail_next_request(
        self, path: str, kind: str, *, method: str = "GET", delay_s: float = 2.0, status: int = 502
    ) -> None:
        if kind not in ("timeout", "http_5xx", "garbage"):
            raise ValueError(f"request fault was {kind!r}, expected timeout, http_5xx or garbage")
        self.request_faults.setdefault(f"{method} {path}", deque()).append(OrderFault(kind, delay_s, status))

    def fault_before_accept(self) -> web.Response | None:
        """Call before matching an order: a queued rate-limit fault answers instead."""
        if self.faults and self.faults[0].kind == "rate_limit":
            fault = self.faults.popleft()
            return self.rate_limit_response(fault.retry_after_s)
        return None

    async def fault_after_accept(self) -> web.Response | None:
        """Call after the order was matched: a queued timeout/5xx fault replaces (or delays) the answer."""
        if not self.faults:
            return None
        fault = self.faults.popleft()
        log.info("fake_venue_fault", venue=self.venue, fault=fault.kind)
        if fault.kind == "timeout":
            await asyncio.sleep(fault.delay_s)
            return None
        if fault.kind in ("http_5xx", "garbage"):
            return self._broken(fault)
        return self.unknown_state_response()

    @staticmethod
    def _broken(fault: OrderFault) -> web.Response:
        if fault.kind == "garbage":
            return web.Response(status=200, text=GARBAGE, content_type="application/json")
        return web.Response(
            status=fault.status, text="<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html"
        )

    # ----- lifecycle -----
    @web.middleware
    async def _log_requests(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        pending = self.request_faults.get(f"{request.method} {request.path}")
        if pending:
            fault = pending.popleft()
            log.info("fake_venue_request_fault", venue=self.venue, path=request.path, fault=fault.kind)
            if fault.kind == "timeout":
                await asyncio.sleep(fault.delay_s)
            else:
                return self._broken(fault)
        return await handler(request)

    def build_app(self) -> web.Application:
        """The venue's routes as an aiohttp application (mountable, or served by ``start``)."""
        app = web.Application(middlewares=[self._log_requests])
        self.routes(app)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host, self.port = host, self._runner.addresses[0][1]
        log.info("fake_venue_started", venue=self.venue, port=self.port)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeVenue:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def order_requests(self, path: str) -> int:
        """How many requests reached ``path`` (e.g. to prove a retry sent no second order)."""
        return sum(1 for _, p in self.requests if p == path)
