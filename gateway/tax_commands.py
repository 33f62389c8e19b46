"""`braid compliance tax-report`: one account's realised gains and losses for a year (FIFO, HIFO or average cost).

The disposal rows go to ``--out`` (CSV, or JSON with ``--format json``) or standard output; with ``--out`` the
per-asset summary is printed as JSON lines. ``gateway.compliance_commands`` registers it in its group.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal, InvalidOperation
from typing import TextIO

import orjson
from sqlalchemy import select

from compliance import METHODS, TaxError, TaxReport, report_from_db
from config.settings import Settings
from wallets import models
from wallets.db import create_db_engine


def _rate(text: str) -> tuple[str, Decimal]:
    asset, sep, value = text.partition("=")
    try:
        rate = Decimal(value)
    except InvalidOperation:
        rate = Decimal("NaN")
    if not sep or not asset.strip() or not rate.is_finite() or rate <= 0:
        raise argparse.ArgumentTypeError(f"expected ASSET=RATE with a positive rate, was {text!r}")
    return asset.strip().upper(), rate


def cash_rates(
    settings: Settings, currency: str, overrides: list[tuple[str, Decimal]] | None = None
) -> dict[str, Decimal]:
    """The configured cash rates, with the reporting currency itself at 1 and any overrides applied."""
    rates = dict(settings.backoffice.tax_cash_rates)
    rates[currency.upper()] = Decimal(1)
    rates.update(dict(overrides or []))
    return rates


def build_report(
    settings: Settings,
    account_id: int,
    year: int,
    method: str,
    currency: str,
    overrides: list[tuple[str, Decimal]] | None = None,
) -> TaxReport:
    if currency.upper() != settings.backoffice.tax_currency.upper() and not overrides:
        raise TaxError(
            f"the configured cash rates are in {settings.backoffice.tax_currency}; give --rate ASSET=VALUE "
            f"for {currency} (e.g. --rate USDT=0.92)"
        )
    engine = create_db_engine(settings.database_url, writer=False, schema=settings.database_schema)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                select(models.accounts.c.kind).where(models.accounts.c.account_id == account_id)
            ).first()
            if found is None:
                raise TaxError(f"no account {account_id}")
            return report_from_db(
                conn,
                account_id,
                year,
                method,  # type: ignore[arg-type]
                currency=currency.upper(),
                cash_rates=cash_rates(settings, currency, overrides),
                symbols=settings.symbols,
            )
    finally:
        engine.dispose()


def tax_report(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    currency = args.currency or settings.backoffice.tax_currency
    try:
        report = build_report(settings, args.account, args.year, args.method, currency, args.rate)
    except TaxError as exc:
        print(f"braid: {exc}", file=sys.stderr)
        return 2
    body = (
        orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"
        if args.format == "json"
        else report.to_csv()
    )
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as f:
            f.write(body)
        for line in report.summary():
            out.write(orjson.dumps(line).decode() + "\n")
    else:
        out.write(body)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``tax-report`` in the ``braid compliance`` group."""
    p = sub.add_parser("tax-report", help="an account's realised gains and losses for a year, one CSV row per disposal")
    p.add_argument("--account", type=int, required=True)
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--method", choices=METHODS, default="fifo")
    p.add_argument("--currency", help="reporting currency (default: backoffice tax_currency, USD)")
    p.add_argument(
        "--rate",
        type=_rate,
        action="append",
        help="ASSET=VALUE: one unit of a cash asset in the reporting currency (repeatable; overrides tax_cash_rates)",
    )
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--out", help="write the report here; the per-asset summary goes to standard output")
    p.set_defaults(run=tax_report)
