"""Compliance: KYC tiers and limits, AML screening, sanctions, tax export, the audit log, operators and second
factors (DESIGN.md). The gateway, the router and custody call it on their paths."""

# --- operators, second factors, audit log, tax report ---------------------------------------------------------
from compliance.audit import AuditEntry, AuditLog
from compliance.backoffice import BackOffice
from compliance.operators import (
    ROLES,
    LoginFailed,
    NotAuthorized,
    Operator,
    OperatorError,
    Operators,
    SeparationOfDuties,
    authorize,
    check_case_closer,
    check_not_requester,
)
from compliance.tax import METHODS, TaxError, TaxReport, report_from_db
from compliance.totp import (
    SecondFactorError,
    SecondFactorLocked,
    SecondFactorRequired,
    SecondFactors,
)

__all__ = [
    "METHODS", "ROLES", "AuditEntry", "AuditLog", "BackOffice", "LoginFailed", "NotAuthorized", "Operator",
    "OperatorError", "Operators", "SecondFactorError", "SecondFactorLocked", "SecondFactorRequired", "SecondFactors",
    "SeparationOfDuties", "TaxError", "TaxReport", "authorize", "check_case_closer", "check_not_requester",
    "report_from_db",
]
# --- end operators, second factors, audit log, tax report -----------------------------------------------------
