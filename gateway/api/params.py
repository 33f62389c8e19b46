"""Request parameters as Binance reads them: query string and form body, the query winning on a clash.

The raw texts are kept as received: the signature is checked over them, never over a re-encoded form.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import unquote_plus

from aiohttp import hdrs, web

from gateway.api import errors
from gateway.binance_errors import RequestError

_MAX_BODY = 64 * 1024
_FORM = "application/x-www-form-urlencoded"
_BODY_TIMEOUT_S = 10.0


_BOOLEANS = {"true": True, "false": False}


@dataclass(slots=True)
class Params:
    raw_query: str
    raw_body: str
    values: dict[str, str]
    # timestamp and recvWindow as the signature check read them, so the freshness check need not parse them again
    timestamp_ms: int | None = None
    recv_window_ms: int | Decimal | None = None

    def get(self, name: str) -> str | None:
        return self.values.get(name) or None  # an empty value counts as not sent

    def required(self, name: str) -> str:
        v = self.values.get(name)
        if not v:
            raise errors.mandatory(name)
        return v

    def boolean(self, name: str, default: bool) -> bool:
        """``true`` or ``false`` (any case), ``default`` when absent; anything else is refused."""
        v = self.get(name)
        if v is None:
            return default
        flag = _BOOLEANS.get(v.lower())
        if flag is None:
            raise errors.bad_value(name)
        return flag

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        """A decimal parameter as Binance reads it (``^([0-9]{1,20})(\\.[0-9]{1,20})?$``: ASCII digits only, no
        sign, exponent, space or ``_``), with at most 18 decimal places that matter (the ledger's precision)."""
        v = self.values.get(name)
        if not v:
            if required:
                raise errors.mandatory(name)
            return None
        return parse_decimal(name, v)

    def integer(
        self,
        name: str,
        *,
        required: bool = False,
        default: int | None = None,
        lo: int | None = None,
        hi: int | None = None,
    ) -> int | None:
        """An integer parameter as Binance reads it (``^[0-9]{1,20}$``), at most a signed 64-bit integer."""
        v = self.required(name) if required else self.get(name)
        if v is None:
            return default
        n = parse_integer(name, v)
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise errors.out_of_range(name, lo, hi)
        return n


DECIMAL_FORM = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,20})?")
INTEGER_FORM = re.compile(r"[0-9]{1,20}")
_MAX_INT = 2**63 - 1  # what the database's BIGINT holds
_LEDGER_PLACES = Decimal(1).scaleb(-18)


def parse_decimal(name: str, text: str) -> Decimal:
    """``text`` as a Binance decimal, or the Binance error naming ``name``."""
    if DECIMAL_FORM.fullmatch(text) is None:
        raise errors.illegal_decimal(name)
    d = Decimal(text)
    if d != d.quantize(_LEDGER_PLACES):
        raise errors.too_much_precision()
    return d


def parse_integer(name: str, text: str) -> int:
    """``text`` as a Binance integer (a non-negative 64-bit one), or the Binance error naming ``name``."""
    if INTEGER_FORM.fullmatch(text) is None:
        raise errors.illegal(name)
    n = int(text)
    if n > _MAX_INT:
        raise errors.out_of_range(name, 0, _MAX_INT)
    return n


def parse_form(raw: str) -> list[tuple[str, str]]:
    """``a=1&b=x%20y`` -> pairs, as parse_qsl(keep_blank_values=True) but without its cost on plain text."""
    out = []
    for part in raw.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        if "%" in part or "+" in part:
            k, v = unquote_plus(k), unquote_plus(v)
        out.append((k, v))
    return out


def _add_form(values: dict[str, str], raw: str) -> None:
    """``parse_form(raw)`` into ``values`` (a later text's names win over an earlier one's); a name twice in one
    text is Binance's ``-1101``. Text with nothing escaped skips the unquoting."""
    own: dict[str, str] = {}
    n = 0
    if "%" in raw or "+" in raw:
        for k, v in parse_form(raw):
            own[k] = v
            n += 1
    else:
        for part in raw.split("&"):
            if part:
                k, _, v = part.partition("=")
                own[k] = v
                n += 1
    if len(own) != n:
        raise errors.duplicate_parameter()
    values.update(own)


def params_now(request: web.Request) -> Params | None:
    """The request's parameters if its body has all arrived (no body, or the usual small form), without awaiting;
    None when the body must be read first (``read_params``)."""
    content = request.content
    if content.at_eof():  # no body to read (not request.can_read_body)
        return _params(request, b"")
    length = request.content_length
    if length is not None and length > _MAX_BODY:
        raise errors.ApiError.of(RequestError.BODY_TOO_LARGE)
    if length is None or not content.is_eof():
        return None
    return _params(request, content.read_nowait())  # all buffered: read() would loop and copy it


async def read_params(request: web.Request) -> Params:
    """Query and body parameters of a request (form-encoded bodies on any method, DELETE included)."""
    now = params_now(request)
    return now if now is not None else _params(request, await _read_body(request))


async def _read_body(request: web.Request) -> bytes:
    """The body, at most ``_MAX_BODY`` bytes (a chunked one announces no length: it is counted as it comes), and
    whole within ``_BODY_TIMEOUT_S``: a body trickled in slower than that holds nothing for long."""
    data = bytearray()
    try:
        async with asyncio.timeout(_BODY_TIMEOUT_S):
            while chunk := await request.content.read(_MAX_BODY + 1 - len(data)):
                data += chunk
                if len(data) > _MAX_BODY:
                    raise errors.ApiError.of(RequestError.BODY_TOO_LARGE)
    except TimeoutError:
        raise errors.malformed_http("the body did not arrive in time", 408) from None
    return bytes(data)


def _params(request: web.Request, data: bytes) -> Params:
    raw_query = request.rel_url.raw_query_string
    raw_body = ""
    # python-binance GETs claim JSON with no body; the raw header spares parsing the usual form's type
    if data and (request.headers.get(hdrs.CONTENT_TYPE) == _FORM or request.content_type != "application/json"):
        raw_body = data.decode("utf-8", "replace")
    values: dict[str, str] = {}
    if raw_body:
        _add_form(values, raw_body)
    if raw_query:
        _add_form(values, raw_query)  # the query string wins
    return Params(raw_query, raw_body, values)
