"""`braid compliance ...`: sanctions lists, name and address screening, AML backtests and cases.

Each command works on the configured database and prints JSON lines (the backtest prints its report).
Operators name themselves with ``--actor`` and act through their roles (``braid operators``); a case is closed
by someone other than its opener and its investigator, and only closing releases or returns held money. Case
decisions, list loads and AML rule changes go into the audit log (``braid audit verify``). ``tax-report``
(``gateway.tax_commands``) writes an account's realised gains for a year.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from compliance import (
    BackOffice,
    CaseError,
    JsonlEventSource,
    NoListLoaded,
    RuleError,
    SanctionsFormatError,
    Screening,
    TradeEventSource,
    backtest,
    load_files,
    load_rules,
    open_engine,
    screening_from_settings,
)
from compliance.backtest import EventFileError, EventSource, format_backtest
from compliance.operators import OperatorAuthorizer
from config.settings import Settings
from gateway import tax_commands


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _emit(out: TextIO, obj: Any) -> None:
    out.write(orjson.dumps(obj, default=str).decode() + "\n")


def _guard(body: Callable[[], int]) -> int:
    try:
        return body()
    except (CaseError, NoListLoaded, RuleError, SanctionsFormatError, EventFileError, ValueError) as exc:
        print(f"braid: {exc}", file=sys.stderr)
        return 2


def _service(settings: Settings) -> Screening:
    """Screening on the configured database; case decisions go through the operators' roles and, with list
    loads and rule changes, into the audit log."""
    bo = BackOffice.from_settings(settings)
    return screening_from_settings(settings, authorizer=OperatorAuthorizer(bo.operators), audit=bo.audit)


# ------------------------------------------------------------------------------------------- sanctions


def sanctions_load(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body() -> int:
        lst = load_files(args.files, published=args.published)
        s = _service(settings)
        done = s.load(lst, actor=args.actor)
        v = lst.version
        _emit(
            out,
            {
                "list": done.list_id,
                "new": done.new,
                "published": v.published,
                "sha256": v.sha256,
                "source": v.source,
                "entries": len(lst.entries),
                "addresses": sum(len(e.addresses) for e in lst.entries),
            },
        )
        if done.new:
            _emit(
                out,
                {
                    "rescreened": len(done.rescreened),
                    "hits": [
                        {"account": acc, "case": r.case_id, "matches": [h.entry_name for h in r.hits]}
                        for acc, r in done.rescreened
                        if r.is_hit
                    ],
                },
            )
        return 0

    return _guard(body)


def sanctions_status(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body() -> int:
        _emit(out, _service(settings).status())
        return 0

    return _guard(body)


def screen_name(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body() -> int:
        r = _service(settings).screen_name(args.name, args.dob, args.country, account_id=args.account)
        _emit(
            out,
            {
                "decision": r.decision,
                "name": r.name,
                "list": r.list_version,
                "threshold": r.threshold,
                "case": r.case_id,
                "hits": [h.as_json() for h in r.hits],
                "dismissed": [h.as_json() for h in r.dismissed],
            },
        )
        return 1 if r.is_hit else 0

    return _guard(body)


def screen_address(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body() -> int:
        r = _service(settings).screen_address(args.chain, args.address)
        _emit(
            out,
            {
                "decision": r.decision,
                "chain": r.chain,
                "address": r.address,
                "list": r.list_version,
                "hits": [
                    {"uid": h.entry_uid, "name": h.entry_name, "ticker": h.ticker, "listed": h.listed} for h in r.hits
                ],
            },
        )
        return 1 if r.hits else 0

    return _guard(body)


# ------------------------------------------------------------------------------------------- backtest


def run_backtest(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body() -> int:
        rules = load_rules(args.rules)
        sources: list[EventSource] = [JsonlEventSource(p) for p in args.events]
        listed: Callable[[str], str | None] | None = None
        if not args.no_trades:
            sources.append(TradeEventSource(open_engine(settings.database_url, settings.database_schema)))
        if not args.no_list:
            loaded = _service(settings).loaded
            if loaded is not None:
                listed = loaded.listing_reason
        since = int(datetime.combine(args.since, datetime.min.time(), tzinfo=UTC).timestamp() * 1000)
        result = backtest(
            rules,
            sources,
            since,
            high_risk_countries=settings.screening.high_risk_countries,
            listed_address=listed,
            anomaly_min_training=settings.screening.anomaly_min_training,
        )
        out.write(format_backtest(result, rules, since))
        return 0

    return _guard(body)


# ------------------------------------------------------------------------------------------- cases


def _case_json(s: Screening, case_id: int, full: bool = False) -> dict[str, Any]:
    c = s.cases.get(case_id)
    obj: dict[str, Any] = {
        "case": c.case_id,
        "kind": c.kind,
        "state": c.state,
        "account": c.account_id,
        "summary": c.summary,
        "openedBy": c.opened_by,
        "assignee": c.assignee,
        "investigator": c.investigator,
        "closedBy": c.closed_by,
        "resolution": c.resolution,
        "funds": c.funds,
        "sarFiled": c.sar_filed,
    }
    holds = s.cases.holds_of(case_id)
    obj["holds"] = [
        {
            "hold": h.hold_id,
            "direction": h.direction,
            "ref": h.ref,
            "asset": h.asset,
            "amount": format(h.amount, "f"),
            "status": h.status,
        }
        for h in holds
    ]
    if full:
        obj["evidence"] = c.evidence
        obj["log"] = [
            {"actor": e.actor, "action": e.action, "text": e.text, "time": e.time_ms} for e in s.cases.history(case_id)
        ]
    return obj


def cases_list(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body() -> int:
        s = _service(settings)
        for c in s.cases.find(state=args.state, account_id=args.account):
            _emit(out, _case_json(s, c.case_id))
        return 0

    return _guard(body)


def cases_show(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout

    def body() -> int:
        _emit(out, _case_json(_service(settings), args.case, full=True))
        return 0

    return _guard(body)


def _case_action(act: Callable[[Screening, argparse.Namespace], Any]) -> Callable[..., int]:
    def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
        out = out or sys.stdout

        def body() -> int:
            s = _service(settings)
            act(s, args)
            _emit(out, _case_json(s, args.case))
            return 0

        return _guard(body)

    return run


cases_assign = _case_action(lambda s, a: s.cases.assign(a.case, a.operator, a.actor))
cases_investigate = _case_action(lambda s, a: s.cases.investigate(a.case, a.actor))
cases_note = _case_action(lambda s, a: s.cases.note(a.case, a.text, a.actor))
cases_escalate = _case_action(lambda s, a: s.cases.escalate(a.case, a.actor, a.reason))
cases_close = _case_action(
    lambda s, a: s.cases.close(a.case, a.actor, resolution=a.resolution, funds=a.funds, sar_filed=a.sar_filed)
)


# ------------------------------------------------------------------------------------------- parsers


def add_parsers(sub: argparse._SubParsersAction) -> None:
    comp = sub.add_parser("compliance", help="sanctions screening, AML backtests, cases and tax reports")
    csub = comp.add_subparsers(dest="compliance_command", required=True)
    tax_commands.add_parser(csub)

    sanc = csub.add_parser("sanctions", help="the OFAC SDN list: load, status, screen a name or an address")
    ssub = sanc.add_subparsers(dest="sanctions_command", required=True)
    p = ssub.add_parser("load", help="load SDN_ADVANCED.XML, or SDN.CSV [ALT.CSV ADD.CSV]; re-screens customers")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--published", type=_date, help="publication date of CSV files (they do not carry one)")
    p.add_argument("--actor", default="cli", help="who loads it (recorded)")
    p.set_defaults(run=sanctions_load)
    p = ssub.add_parser("status", help="loaded versions, customers and hits")
    p.set_defaults(run=sanctions_status)
    p = ssub.add_parser("screen-name", help="screen a name (exit 1 on a hit, which opens a case)")
    p.add_argument("name")
    p.add_argument("--dob", help="birth date YYYY-MM-DD (rules out listed people born otherwise)")
    p.add_argument("--country")
    p.add_argument("--account", type=int, help="remember as this account's customer (re-screened on updates)")
    p.set_defaults(run=screen_name)
    p = ssub.add_parser("screen-address", help="screen a crypto address (exit 1 on a hit)")
    p.add_argument("chain", help="e.g. BTC, ETH, BSC, TRX")
    p.add_argument("address")
    p.set_defaults(run=screen_address)

    p = csub.add_parser("backtest", help="replay history through a rules file and print what it would flag")
    p.add_argument("rules", type=Path)
    p.add_argument("--since", type=_date, required=True, help="YYYY-MM-DD: events before it are history only")
    p.add_argument(
        "--events",
        type=Path,
        action="append",
        default=[],
        help="a JSON-lines file of deposits/withdrawals (repeatable)",
    )
    p.add_argument("--no-trades", action="store_true", help="leave out the trades in the wallets store")
    p.add_argument("--no-list", action="store_true", help="do not consult the loaded sanctions list")
    p.set_defaults(run=run_backtest)

    cases = csub.add_parser("cases", help="list, show and decide cases")
    casub = cases.add_subparsers(dest="cases_command", required=True)
    p = casub.add_parser("list", help="cases as JSON lines")
    p.add_argument("--state", choices=["open", "investigating", "escalated", "closed"])
    p.add_argument("--account", type=int)
    p.set_defaults(run=cases_list)
    p = casub.add_parser("show", help="a case with its evidence and log")
    p.add_argument("case", type=int)
    p.set_defaults(run=cases_show)
    p = casub.add_parser("assign", help="assign a case to an operator")
    p.add_argument("case", type=int)
    p.add_argument("operator")
    p.add_argument("--actor", required=True)
    p.set_defaults(run=cases_assign)
    p = casub.add_parser("investigate", help="take an open case into investigation")
    p.add_argument("case", type=int)
    p.add_argument("--actor", required=True)
    p.set_defaults(run=cases_investigate)
    p = casub.add_parser("note", help="add a note")
    p.add_argument("case", type=int)
    p.add_argument("text")
    p.add_argument("--actor", required=True)
    p.set_defaults(run=cases_note)
    p = casub.add_parser("escalate", help="escalate a case")
    p.add_argument("case", type=int)
    p.add_argument("--reason", default="")
    p.add_argument("--actor", required=True)
    p.set_defaults(run=cases_escalate)
    p = casub.add_parser("close", help="close a case (another operator than its opener and investigator)")
    p.add_argument("case", type=int)
    p.add_argument("--resolution", required=True)
    funds = p.add_mutually_exclusive_group()
    funds.add_argument(
        "--release",
        dest="funds",
        action="store_const",
        const="release",
        help="credit the held deposit / send the held withdrawal",
    )
    funds.add_argument(
        "--return",
        dest="funds",
        action="store_const",
        const="return",
        help="return the held money to its sender / the client",
    )
    p.add_argument("--sar-filed", action="store_true", help="a suspicious activity report was filed")
    p.add_argument("--actor", required=True)
    p.set_defaults(run=cases_close, funds=None)
