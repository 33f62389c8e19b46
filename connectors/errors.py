"""What can go wrong talking to a venue's order API, as one small hierarchy the router can act on.

The router cares about four answers: the venue said no (``Rejected`` and its kinds: do not resend as is),
we are not allowed in (``AuthenticationFailed``), wait (``RateLimited``), and "we do not know whether the
order exists" (``OrderStateUnknown``: query before sending anything else for that quantity). ``VenueUnavailable``
means nothing reached the venue, so the same request may be sent again.

Each venue's ``trading.py`` maps its own codes/texts onto these; ``from_ccxt`` maps ccxt's transport errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import ccxt


class VenueError(Exception):
    """Base of every order-API error; ``venue`` names who answered."""

    def __init__(self, venue: str, message: str) -> None:
        super().__init__(f"{venue}: {message}")
        self.venue = venue
        self.message = message


class Rejected(VenueError):
    """The venue refused the request; ``code`` is its own code or error text (e.g. -2010, 'EOrder:...')."""

    def __init__(self, venue: str, code: str | int, msg: str) -> None:
        super().__init__(venue, f"rejected ({code}): {msg}")
        self.code = code
        self.msg = msg


class InsufficientFunds(Rejected):
    pass


class InvalidOrder(Rejected):
    pass


class OrderNotFound(Rejected):
    pass


class AuthenticationFailed(VenueError):
    """Bad key, bad signature, or a timestamp/nonce the venue would not accept."""

    def __init__(self, venue: str, code: str | int, msg: str) -> None:
        super().__init__(venue, f"authentication failed ({code}): {msg}")
        self.code = code
        self.msg = msg


class RateLimited(VenueError):
    def __init__(self, venue: str, retry_after_s: float, message: str = "rate limited") -> None:
        super().__init__(venue, f"{message}; retry after {retry_after_s}s")
        self.retry_after_s = retry_after_s  # seconds, not money


class OrderStateUnknown(VenueError):
    """The request may have reached the matching engine (timeout, 5xx, Binance -1007 ...): reconcile by query."""


class VenueUnavailable(VenueError):
    """Nothing was sent (or the call changes nothing), so it may be retried as is."""


DEFAULT_RETRY_AFTER_S = 1.0


def retry_after_s(headers: Mapping[str, str] | None, default: float = DEFAULT_RETRY_AFTER_S) -> float:
    """The Retry-After header in seconds (429/418), or ``default``."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return default
    return default


def _never_sent(exc: BaseException) -> bool:
    # A failed connect means no byte of the request left us; anything later may have reached the venue.
    cause = exc.__cause__
    return isinstance(cause, aiohttp.ClientConnectorError)


def from_ccxt(venue: str, exc: Exception, *, mutating: bool) -> VenueError:
    """Map a ccxt exception (that our venue hook did not already turn into a VenueError) onto the hierarchy.

    ``mutating`` is True for place/cancel: a timeout there leaves the order state unknown; for reads it
    only means "try again".
    """
    text = str(exc)
    if isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
        return RateLimited(venue, DEFAULT_RETRY_AFTER_S, text)
    if isinstance(exc, ccxt.AuthenticationError):
        return AuthenticationFailed(venue, type(exc).__name__, text)
    if isinstance(exc, ccxt.InsufficientFunds):
        return InsufficientFunds(venue, type(exc).__name__, text)
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFound(venue, type(exc).__name__, text)
    if isinstance(exc, (ccxt.InvalidOrder, ccxt.BadRequest, ccxt.BadSymbol)):
        return InvalidOrder(venue, type(exc).__name__, text)
    if isinstance(exc, ccxt.NetworkError):  # RequestTimeout, ExchangeNotAvailable, ...
        if _never_sent(exc) or not mutating:
            return VenueUnavailable(venue, text)
        return OrderStateUnknown(venue, text)
    if isinstance(exc, ccxt.ExchangeError):
        return Rejected(venue, type(exc).__name__, text)
    return OrderStateUnknown(venue, text) if mutating else VenueUnavailable(venue, text)


async def call_ccxt(venue: str, fn: Callable[..., Awaitable[Any]], *args: Any, mutating: bool) -> Any:
    """Await a ccxt call; every failure comes out as a VenueError (the venue hook raised most already)."""
    try:
        return await fn(*args)
    except OrderStateUnknown as exc:
        if mutating:
            raise
        raise VenueUnavailable(venue, exc.message) from exc  # a read changes nothing: just retry it
    except VenueError:
        raise
    except ccxt.BaseError as exc:
        raise from_ccxt(venue, exc, mutating=mutating) from exc


VenueErrorOf = Callable[[int, Mapping[str, str] | None, Any], "VenueError | None"]


def raising_venue_errors(exchange: type[Any], venue_error: VenueErrorOf) -> type[Any]:
    """A subclass of the ccxt ``exchange`` class whose HTTP error hook raises the venue's own error first
    (``venue_error(status, headers, body)``), and leaves the rest to ccxt: one hook for every venue."""

    class Exchange(exchange):
        def handle_errors(
            self,
            code: int,
            reason: str,
            url: str,
            method: str,
            headers: dict[str, str],
            body: str,
            response: Any,
            request_headers: Any,
            request_body: Any,
        ) -> None:
            err = venue_error(code, headers, response)
            if err is not None:
                raise err
            super().handle_errors(code, reason, url, method, headers, body, response, request_headers, request_body)

    Exchange.__name__ = Exchange.__qualname__ = f"Braid{exchange.__name__.capitalize()}"
    return Exchange
