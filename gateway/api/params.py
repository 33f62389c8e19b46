"""Request parameters as Binance reads them: query string and form body, the query winning on a clash.

The raw texts are kept as received: the signature is checked over them, never over a re-encoded form.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import unquote_plus

from aiohttp import web

from gateway.api import errors

_MAX_BODY = 64 * 1024


@dataclass(slots=True)
class Params:
    raw_query: str
    raw_body: str
    values: dict[str, str]

    def get(self, name: str) -> str | None:
        v = self.values.get(name)
        return v if v not in (None, "") else None

    def required(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise errors.mandatory(name)
        return v

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        v = self.required(name) if required else self.get(name)
        if v is None:
            return None
        try:
            d = Decimal(v)
        except InvalidOperation:
            raise errors.bad_value(name) from None
        if not d.is_finite():
            raise errors.bad_value(name)
        return d

    def integer(self, name: str, *, required: bool = False, default: int | None = None,
                lo: int | None = None, hi: int | None = None) -> int | None:
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
            raise errors.ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{lo}..{hi}'.")
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


async def read_params(request: web.Request) -> Params:
    """Query and body parameters of a request (form-encoded bodies on any method, DELETE included)."""
    raw_query = request.rel_url.raw_query_string
    raw_body = ""
    if request.can_read_body:
        if request.content_length is not None and request.content_length > _MAX_BODY:
            raise errors.ApiError(-1104, "Request body too large.")
        data = await request.read()
        ctype = request.content_type
        if data and ctype != "application/json":  # python-binance GETs claim JSON with no body
            raw_body = data.decode("utf-8", "replace")
    values: dict[str, str] = {}
    if raw_body:
        values.update(parse_form(raw_body))
    if raw_query:
        values.update(parse_form(raw_query))  # the query string wins
    return Params(raw_query, raw_body, values)
