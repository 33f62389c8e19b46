"""Compliance: KYC tiers and limits, AML screening, sanctions, tax export, the audit log and encryption of
personal data (DESIGN.md). It sits beside the router; the gateway, the order path and custody call it.

Public face, screening and monitoring: ``Screening`` (names at onboarding and on list updates; deposit
sources and withdrawal destinations, with the AML rules, through ``check_deposit``/``check_withdrawal``/
``observe_trade`` returning a ``GateDecision`` and its ``Hold``), the SDN list readers (``load_files``),
the AML rules and event type (``MoneyEvent``, ``load_rules``), the anomaly model, the backtest, and
``CaseService`` (cases, holds, the four-eyes close) with its ``Authorizer`` hook.
"""
# --- screening, AML monitoring and cases (compliance/sanctions, names, screening, aml, anomaly, backtest, cases)
from compliance.aml import (
    Alert,
    MoneyEvent,
    Monitor,
    RuleError,
    RuleSet,
    load_rules,
    parse_rules,
)
from compliance.anomaly import AnomalyModel
from compliance.backtest import (
    BacktestResult,
    EventSource,
    JsonlEventSource,
    TradeEventSource,
    backtest,
)
from compliance.cases import (
    AllowAll,
    Authorizer,
    Case,
    CaseError,
    CaseNotFound,
    CaseService,
    CaseStateError,
    FourEyesViolation,
    Hold,
    PermissionDenied,
)
from compliance.models import create_screening_tables, open_engine
from compliance.sanctions import (
    SanctionsFormatError,
    SanctionsList,
    SdnEntry,
    load_files,
)
from compliance.screening import (
    AddressScreening,
    GateDecision,
    LoadResult,
    NoListLoaded,
    Screening,
    ScreeningResult,
    screening_from_settings,
)

__all__ = [
    # screening, AML monitoring and cases
    "AddressScreening", "Alert", "AllowAll", "AnomalyModel", "Authorizer", "BacktestResult", "Case", "CaseError",
    "CaseNotFound", "CaseService", "CaseStateError", "EventSource", "FourEyesViolation", "GateDecision", "Hold",
    "JsonlEventSource", "LoadResult", "MoneyEvent", "Monitor", "NoListLoaded", "PermissionDenied", "RuleError", "RuleSet",
    "SanctionsFormatError", "SanctionsList", "Screening", "ScreeningResult", "SdnEntry", "TradeEventSource",
    "backtest", "create_screening_tables", "load_files", "load_rules", "open_engine", "parse_rules", "screening_from_settings",
]
