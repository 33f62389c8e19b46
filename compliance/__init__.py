"""Compliance: KYC tiers and limits, AML screening, sanctions, tax export, the audit log and encryption of
personal data (DESIGN.md). No issue has asked for these yet, so the package holds nothing so far; it sits
beside the router, and the gateway will call it on the order path."""
