"""Compliance: KYC tiers and limits, AML screening, sanctions, tax export, the audit log and encryption of
personal data (DESIGN.md). It sits beside the router; the gateway wires it into the order path and custody
calls its checks on deposits and withdrawals."""

# ----- KYC: tiers and limits, providers' webhooks, personal data, Travel Rule (compliance/kyc*.py,
# tiers.py, pii.py, travel_rule.py, providers/) -----
from compliance.kyc import Audit, Kyc, KycError, KycStore, PriceOf, no_audit
from compliance.pii import KeyRing, PiiError
from compliance.tiers import Decision, PastWithdrawal
from compliance.travel_rule import TravelRule, TravelRuleError, travel_rule_required

__all__ = [
    # KYC
    "Audit", "Decision", "KeyRing", "Kyc", "KycError", "KycStore", "PastWithdrawal", "PiiError", "PriceOf",
    "TravelRule", "TravelRuleError", "no_audit", "travel_rule_required",
]
