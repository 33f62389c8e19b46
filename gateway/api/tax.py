"""``GET /sapi/v1/braid/taxReport`` (USER_DATA): the calling account's own realised gains and losses for a year.

Parameters: ``year`` (required), ``method`` (FIFO, HIFO or AVERAGE; default FIFO), ``currency`` (the
configured reporting currency unless the configured cash rates cover another), ``format`` (JSON, the default,
or CSV: one row per disposal, as ``braid compliance tax-report`` writes it). See :mod:`compliance.tax` for the rules.
"""

from __future__ import annotations

from decimal import Decimal

from aiohttp import web

from compliance import TaxError, report_from_db
from compliance.tax import METHODS, Method
from config.backoffice import BackOfficeSettings
from gateway.api import errors
from gateway.api.auth import Security
from gateway.api.context import CTX, endpoint, key_of, params_of
from gateway.api.errors import ApiError, json_response
from gateway.binance_errors import RequestError


@endpoint(weight=10, security=Security.USER_DATA)
async def tax_report(request: web.Request) -> web.Response:
    """The account's realised gains and losses for a year: one row per disposal and a summary per asset."""
    ctx = request.app[CTX]
    p = params_of(request)
    year = p.integer("year", required=True, lo=1970, hi=9999)
    assert year is not None
    method = (p.get("method") or "FIFO").lower()
    if method not in METHODS:
        raise errors.invalid_enum("method")
    fmt = (p.get("format") or "JSON").upper()
    if fmt not in ("JSON", "CSV"):
        raise errors.invalid_enum("format")
    s = ctx.backoffice.settings if ctx.backoffice is not None else BackOfficeSettings()
    currency = (p.get("currency") or s.tax_currency).upper()
    rates = {**s.tax_cash_rates}
    rates.setdefault(s.tax_currency.upper(), Decimal(1))
    if currency != s.tax_currency.upper():
        raise ApiError.of(RequestError.ILLEGAL_RANGE, name="currency", legal=s.tax_currency.upper())
    symbols = [i.symbol for i in ctx.service.by_symbol.values()]
    account = int(key_of(request).account)
    m: Method = method
    try:
        report = await ctx.service.wallets.store.read(
            lambda conn: report_from_db(conn, account, year, m, currency=currency, cash_rates=rates, symbols=symbols)
        )
    except TaxError as exc:
        raise ApiError.of(RequestError.TAX_REPORT_UNAVAILABLE, reason=exc) from None
    if fmt == "CSV":
        return web.Response(
            text=report.to_csv(),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="tax-{year}-{method}.csv"'},
        )
    return json_response(report.as_dict())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sapi/v1/braid/taxReport", tax_report)
