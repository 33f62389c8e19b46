"""Waiting for something to happen in a test: poll a condition until it holds or a deadline passes.

Tests never sleep a fixed time to synchronise: they wait for the event itself, with ``eventually`` (async
tests) or ``eventually_sync`` (threads, subprocesses). On timeout the failure names what was awaited and
the last value seen, so a red build says what did not happen.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["eventually", "eventually_sync"]


def _describe(condition: Callable[..., Any], what: str | None) -> str:
    if what:
        return what
    try:  # a lambda's own source line says best what it waits for
        return inspect.getsource(condition).strip()
    except (OSError, TypeError):
        return getattr(condition, "__qualname__", repr(condition))


async def eventually(
    condition: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 5.0,
    interval: float = 0.01,
    what: str | None = None,
    step: Callable[[], Awaitable[object]] | None = None,
) -> T:
    """Return ``condition()``'s first truthy value (it may be a coroutine function); fail after ``timeout`` s.

    ``step``, if given, is awaited between polls: it moves the thing being watched (e.g. a simulator tick).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = None
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        last = value
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {_describe(condition, what)} (last value: {last!r})")
        if step is not None:
            await step()
        await asyncio.sleep(interval)


def eventually_sync(
    condition: Callable[[], T], *, timeout: float = 5.0, interval: float = 0.05, what: str | None = None
) -> T:
    """The blocking form of :func:`eventually`, for tests that watch a thread or another process."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not reached within {timeout} s: {_describe(condition, what)} (last value: {value!r})"
            )
        time.sleep(interval)
