"""The one WebSocket session every venue feed runs on: connect, subscribe, read, answer, reconnect.

The venue's FeedHandler does the protocol (no I/O there); this class does the I/O: it sends what the handler
asks, fetches REST snapshots in the background (the stream keeps being read, so diffs are buffered meanwhile),
closes on silence or before the venue's connection-age cut, and reconnects with capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import cast

import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from config.settings import Settings, get_settings
from connectors.base import Action, FeedHandler, FetchSnapshot, Reconnect, Send, SnapshotFeedHandler

log = structlog.get_logger(__name__)

# Fetches a REST snapshot body for a venue symbol; raising means "try again later".
SnapshotFetcher = Callable[[str], Awaitable[str]]
# Sees every event of a session, for the recorder: (kind, payload, now_ns, detail). kind is "open" (detail = url),
# "recv", "sent", "rest" (a REST snapshot body; detail = venue symbol) or "close". Called before the handler is.
Tap = Callable[[str, "str | bytes", int, "str | None"], None]

_SHORT_LIVED_S = 5.0
_RETRYABLE = (OSError, asyncio.TimeoutError, InvalidHandshake, ConnectionClosed)


class FeedSession:
    def __init__(
        self,
        handler: FeedHandler,
        url: str,
        *,
        settings: Settings | None = None,
        snapshot_fetcher: SnapshotFetcher | None = None,
        tap: Tap | None = None,
    ) -> None:
        self.handler = handler
        self.url = url
        self.settings = settings or get_settings()
        self.snapshot_fetcher = snapshot_fetcher
        self.tap = tap
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self.connections = 0

    # ----- lifecycle -----
    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"feed-{self.handler.venue}")

    async def stop(self) -> None:
        self._stopping = True
        for t in self._snapshot_tasks.values():
            t.cancel()
        task = self._task
        if task is not None:
            # Cancel until it ends: a cancel that lands as a frame arrives can be swallowed (CPython gh-86296).
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        self.handler.on_close()

    async def wait_synced(self, symbols: Iterable[str] | None = None, timeout: float = 5.0) -> None:
        wanted = list(symbols) if symbols is not None else list(self.handler.books)
        deadline = time.monotonic() + timeout
        while not all(self.handler.books[s].synced for s in wanted):
            if time.monotonic() > deadline:
                states = {s: self.handler.books[s].synced for s in wanted}
                raise TimeoutError(f"{self.handler.venue}: books not synced within {timeout}s: {states}")
            await asyncio.sleep(0.01)

    async def reconnect(self) -> None:
        """Close the current connection; the run loop reconnects."""
        if self._ws is not None:
            await self._ws.close()

    # ----- the loop -----
    async def _run(self) -> None:
        s = self.settings
        while not self._stopping:
            # A fresh backoff after every connection that lived; failures in a row back off further.
            retrying = AsyncRetrying(
                wait=wait_exponential_jitter(multiplier=s.ws_backoff_initial_s, max=s.ws_backoff_max_s),
                retry=retry_if_exception_type(_RETRYABLE),
                reraise=True,
            )
            try:
                async for attempt in retrying:
                    with attempt:
                        await self._connection()
            except asyncio.CancelledError:
                raise
            except InvalidURI:
                log.error("feed_bad_url", venue=self.handler.venue, url=self.url)
                return
            except Exception:  # never let one venue's fault end its feed
                log.exception("feed_loop_error", venue=self.handler.venue)
                await asyncio.sleep(s.ws_backoff_max_s)
                continue
            await asyncio.sleep(s.ws_backoff_initial_s)

    async def _connection(self) -> None:
        if self._stopping:
            return
        s = self.settings
        stats = self.handler.health.stats
        async with connect(
            self.url,
            open_timeout=s.ws_open_timeout_s,
            max_size=None,
            compression=None,
            ping_interval=20,
            ping_timeout=20,
        ) as ws:
            self._ws = ws
            self.connections += 1
            if self.connections > 1:
                stats.reconnects += 1
            stats.connected = True
            self.connected.set()
            opened = time.monotonic()
            log.info("feed_connected", venue=self.handler.venue, url=self.url, connection=self.connections)
            try:
                now = time.time_ns()
                if self.tap is not None:
                    self.tap("open", "", now, self.url)
                await self._perform(self.handler.on_open(now))
                while True:
                    budget = min(s.ws_silence_timeout_s, s.ws_max_age_s - (time.monotonic() - opened))
                    if budget <= 0:
                        log.info("feed_max_age", venue=self.handler.venue)
                        return
                    try:
                        async with asyncio.timeout(budget):  # not wait_for: it can swallow a cancel on 3.11
                            frame = await ws.recv()
                    except ConnectionClosed:
                        if time.monotonic() - opened < _SHORT_LIVED_S:
                            raise
                        return
                    except TimeoutError:
                        log.warning("feed_silent", venue=self.handler.venue, seconds=budget)
                        return
                    now = time.time_ns()
                    if self.tap is not None:
                        self.tap("recv", frame, now, None)
                    actions = self.handler.on_frame(frame, now)
                    if actions and await self._perform(actions):
                        return
            finally:
                stats.connected = False
                self.connected.clear()
                self._ws = None
                for t in self._snapshot_tasks.values():
                    t.cancel()
                self._snapshot_tasks.clear()
                if self.tap is not None:
                    self.tap("close", "", time.time_ns(), None)
                self.handler.on_close()
                if not self._stopping:
                    log.warning("feed_disconnected", venue=self.handler.venue)
        if not self._stopping and time.monotonic() - opened < _SHORT_LIVED_S:
            # Accepted then dropped at once: treat as a failed attempt so backoff grows.
            raise ConnectionResetError("connection closed right after opening")

    async def _perform(self, actions: list[Action]) -> bool:
        """Carry out the handler's requests; True means "drop this connection"."""
        for action in actions:
            if isinstance(action, Send):
                if self._ws is None:  # the connection went away meanwhile; on_open will redo the work
                    return True
                if self.tap is not None:
                    self.tap("sent", action.text, time.time_ns(), None)
                await self._ws.send(action.text)
            elif isinstance(action, FetchSnapshot):
                self._schedule_snapshot(action.venue_symbol)
            elif isinstance(action, Reconnect):
                log.info("feed_reconnect_requested", venue=self.handler.venue, reason=action.reason)
                return True
        return False

    def _schedule_snapshot(self, venue_symbol: str) -> None:
        running = self._snapshot_tasks.get(venue_symbol)
        if running is not None and not running.done():
            return
        self._snapshot_tasks[venue_symbol] = asyncio.create_task(self._fetch_snapshot(venue_symbol))

    async def _fetch_snapshot(self, venue_symbol: str) -> None:
        if self.snapshot_fetcher is None:
            log.error("no_snapshot_fetcher", venue=self.handler.venue, symbol=venue_symbol)
            return
        # a session is given a snapshot fetcher only for a feed that takes REST snapshots
        on_rest = cast(SnapshotFeedHandler, self.handler).on_rest_snapshot
        delay = self.settings.ws_backoff_initial_s
        for attempt in range(1, self.settings.snapshot_retries + 1):
            try:
                body = await self.snapshot_fetcher(venue_symbol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure is retried with backoff
                log.warning(
                    "snapshot_failed", venue=self.handler.venue, symbol=venue_symbol, attempt=attempt, error=str(exc)
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.ws_backoff_max_s)
                continue
            self._snapshot_tasks.pop(venue_symbol, None)
            now = time.time_ns()
            if self.tap is not None:
                self.tap("rest", body, now, venue_symbol)
            await self._perform(on_rest(venue_symbol, body, now))
            return
        log.error("snapshot_gave_up", venue=self.handler.venue, symbol=venue_symbol)
