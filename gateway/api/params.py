"""Request parameters as Binance reads them: query string and form body, the query winning on a clash.

The raw texts are kept as received: the signature is checked over them, never over a re-encoded form.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import unquote_plus

from aiohttp import hdrs, web

from gateway.api import errors
from gateway.binance_errors import RequestError

_MAX_BODY = 64 * 1024
_FORM = "application/x-www-form-urlencoded"


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

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        v = self.values.get(name)
        if not v:
            if required:
                raise errors.mandatory(name)
            return None
        try:
            d = Decimal(v)
        except InvalidOperation:
            raise errors.bad_value(name) from None
        if not d.is_finite():
            raise errors.bad_value(name)
        return d

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
        if not v.isdigit() or len(v) > 20:
            if v.startswith("-") and v[1:].isdigit():
                n = int(v)
            else:
                raise errors.illegal(name)
        else:
            n = int(v)
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


def _add_form(values: dict[str, str], raw: str) -> None:
    """``parse_form(raw)`` into ``values``, a later name winning; text with nothing escaped skips the checks."""
    if "%" in raw or "+" in raw:
        values.update(parse_form(raw))
        return
    for part in raw.split("&"):
        if part:
            k, _, v = part.partition("=")
            values[k] = v


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
    return now if now is not None else _params(request, await request.read())


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
