"""Compliance: screening and monitoring of clients and their money, operators and the record regulators trust.
The gateway, the order path and custody call it; it sits beside the router.

Public face:
- screening and monitoring: ``Screening`` (names at onboarding and on list updates; deposit sources and
  withdrawal destinations, with the AML rules, through ``check_deposit``/``check_withdrawal``/``observe_trade``
  returning a ``GateDecision`` and its ``Hold``), the SDN list readers (``load_files``), the AML rules and event
  type (``MoneyEvent``, ``load_rules``), the anomaly model, the backtest, and ``CaseService`` (cases, holds, the
  four-eyes close) with its ``Authorizer`` hook;
- operators and roles (``Operators``, ``authorize``, the separation-of-duties checks, ``OperatorAuthorizer``
  which puts case decisions through them), second factors
  (``SecondFactors``), the hash-chained ``AuditLog``, tax reports (``report_from_db``), and ``BackOffice``, which
  opens them together;
- KYC: tiers and their limits (``Kyc``, ``KycStore``; the pre-trade, deposit and withdrawal checks), providers'
  webhooks (``compliance.providers``), personal data encrypted at rest (``KeyRing``) and the Travel Rule
  (``TravelRule``).
"""

# --- operators, second factors, audit log, tax report ---------------------------------------------------------
# --- end operators, second factors, audit log, tax report -----------------------------------------------------
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
from compliance.audit import AuditEntry, AuditLog
from compliance.backoffice import BackOffice
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
from compliance.kyc import Audit, Kyc, KycError, KycStore, PriceOf, no_audit
from compliance.models import create_screening_tables, open_engine
from compliance.operators import (
    ROLES,
    LoginFailed,
    NotAuthorized,
    Operator,
    OperatorAuthorizer,
    OperatorError,
    Operators,
    SeparationOfDuties,
    authorize,
    check_case_closer,
    check_not_requester,
)
from compliance.pii import KeyRing, PiiError
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
from compliance.tax import METHODS, TaxError, TaxReport, report_from_db
from compliance.tiers import Decision, PastWithdrawal
from compliance.totp import (
    SecondFactorError,
    SecondFactorLocked,
    SecondFactorRequired,
    SecondFactors,
)
from compliance.travel_rule import TravelRule, TravelRuleError, travel_rule_required

__all__ = [
    "AddressScreening",
    "Alert",
    "AllowAll",
    "AnomalyModel",
    "Audit",
    "AuditEntry",
    "AuditLog",
    "Authorizer",
    "BackOffice",
    "BacktestResult",
    "Case",
    "CaseError",
    "CaseNotFound",
    "CaseService",
    "CaseStateError",
    "Decision",
    "EventSource",
    "FourEyesViolation",
    "GateDecision",
    "Hold",
    "JsonlEventSource",
    "KeyRing",
    "Kyc",
    "KycError",
    "KycStore",
    "LoadResult",
    "LoginFailed",
    "METHODS",
    "MoneyEvent",
    "Monitor",
    "NoListLoaded",
    "NotAuthorized",
    "Operator",
    "OperatorAuthorizer",
    "OperatorError",
    "Operators",
    "PastWithdrawal",
    "PermissionDenied",
    "PiiError",
    "PriceOf",
    "ROLES",
    "RuleError",
    "RuleSet",
    "SanctionsFormatError",
    "SanctionsList",
    "Screening",
    "ScreeningResult",
    "SdnEntry",
    "SecondFactorError",
    "SecondFactorLocked",
    "SecondFactorRequired",
    "SecondFactors",
    "SeparationOfDuties",
    "TaxError",
    "TaxReport",
    "TradeEventSource",
    "TravelRule",
    "TravelRuleError",
    "authorize",
    "backtest",
    "check_case_closer",
    "check_not_requester",
    "create_screening_tables",
    "load_files",
    "load_rules",
    "no_audit",
    "open_engine",
    "parse_rules",
    "report_from_db",
    "screening_from_settings",
    "travel_rule_required",
]
