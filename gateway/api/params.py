"""Request parameters as Binance reads them: query string and form body, the query winning on a clash.

The raw texts are kept as received: the signature is checked over them, never over a re-encoded form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import unquote_plus

from aiohttp import hdrs, web

from gateway.api import errors
from gateway.binance_errors import RequestError

_MAX_BODY = 64 * 1024
_FORM = "application/x-www-form-urlencoded"
# Binance's grammar for numbers: ASCII digits only (no signs, spaces, exponents, "_" or other scripts' digits)
DECIMAL_RE = re.compile(r"([0-9]{1,20})(\.[0-9]{1,20})?")
INTEGER_RE = re.compile(r"-?[0-9]{1,20}")  # a minus is read here and refused by the caller's range if it must
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what the databases store; beyond it no id or time exists


def parse_decimal(text: str, name: str) -> Decimal:
    """``text`` as Binance reads a decimal parameter, or its -1100 error."""
    if DECIMAL_RE.fullmatch(text) is None:
        raise errors.bad_value(name)
    return Decimal(text)


def parse_integer(text: str, name: str) -> int:
    """``text`` as Binance reads an integer parameter (within 64 bits), or its -1100 error."""
    if INTEGER_RE.fullmatch(text) is None:
        raise errors.illegal(name)
    n = int(text)
    if not INT64_MIN <= n <= INT64_MAX:
        raise errors.illegal(name)
    return n


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
        v = self.values.get(name)
        if not v:
            if required:
                raise errors.mandatory(name)
            return None
        return parse_decimal(v, name)

    def integer(
        self,
        name: str,
        *,
        required: bool = False,
        default: int | None = None,
        lo: int | None = None,
        hi: int | None = None,
    ) -> int | None:
        v = self.required(name) if required else self.get(name)
        if v is None:
            return default
        n = parse_integer(v, name)
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise errors.ApiError.of(RequestError.ILLEGAL_RANGE, name=name, legal=f"{lo}..{hi}")
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


def _form_values(raw: str) -> dict[str, str]:
    """``parse_form(raw)`` as a dict; a name sent twice is Binance's -1101. Text with nothing escaped skips
    the unescaping."""
    values: dict[str, str] = {}
    pairs = parse_form(raw) if "%" in raw or "+" in raw else (p.partition("=")[::2] for p in raw.split("&") if p)
    for k, v in pairs:
        if k in values:
            raise errors.ApiError.of(RequestError.DUPLICATE_PARAM)
        values[k] = v
    return values


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
    """The body, refused past ``_MAX_BODY`` as it arrives (a chunked body announces no length)."""
    chunks: list[bytes] = []
    size = 0
    content = request.content
    while not content.at_eof():
        chunk = await content.read(_MAX_BODY + 1 - size)
        if not chunk:
            break
        size += len(chunk)
        if size > _MAX_BODY:
            raise errors.ApiError.of(RequestError.BODY_TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


def _params(request: web.Request, data: bytes) -> Params:
    raw_query = request.rel_url.raw_query_string
    raw_body = ""
    # python-binance GETs claim JSON with no body; the raw header spares parsing the usual form's type
    if data and (request.headers.get(hdrs.CONTENT_TYPE) == _FORM or request.content_type != "application/json"):
        raw_body = data.decode("utf-8", "replace")
    values = _form_values(raw_body) if raw_body else {}
    if raw_query:
        values.update(_form_values(raw_query))  # the query string wins over the body (not a duplicate)
    return Params(raw_query, raw_body, values)
