"""Settings of sanctions screening and AML monitoring (compliance/): ``Settings.screening``.

Environment variables are ``BRAID_SCREENING__<KNOB>``, e.g. ``BRAID_SCREENING__NAME_THRESHOLD=0.92``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ScreeningSettings(BaseModel):
    # A listed name scoring at least this (0..1, Jaro-Winkler based) is a hit.
    name_threshold: float = Field(default=0.90, gt=0, le=1)
    # AML rules (TOML); empty means the shipped compliance/rules.default.toml.
    rules_file: str = ""
    # ISO 3166 alpha-2 codes the high_risk_jurisdiction rule flags (default: FATF's "call for action" list).
    high_risk_countries: list[str] = Field(default_factory=lambda: ["KP", "IR", "MM"])
    # Withdrawals on record needed before the anomaly model is trained (below it, anomaly rules stay quiet).
    anomaly_min_training: int = Field(default=200, ge=2)
    # Custody's deposits and withdrawals are screened (sanctioned sources and destinations, AML rules): a hit
    # holds the money with a case. On, a sanctions list must be loaded or withdrawals pause and deposits wait.
    custody_checks: bool = True
    # A withdrawal whose IsolationForest anomaly score (about 0.5 ordinary, towards 1 isolated) reaches this
    # needs an operator's approval (once the model is trained).
    anomaly_review_score: float = Field(default=0.70, gt=0, le=1)
