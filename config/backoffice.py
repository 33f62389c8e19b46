"""Back-office settings: operator logins, second factors (TOTP), the audit log and tax reports.

One field of ``config.settings.Settings`` (``backoffice``), so environment variables read
``BRAID_BACKOFFICE__<KNOB>``, e.g. ``BRAID_BACKOFFICE__LOGIN_MAX_FAILURES=3``.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field


class BackOfficeSettings(BaseModel):
    # TOTP (RFC 6238): codes one step either side of now are accepted (the RFC's recommended network delay).
    totp_issuer: str = "Braid"
    totp_digits: int = Field(default=6, ge=6, le=8)
    totp_step_s: int = Field(default=30, ge=10)
    totp_window_steps: int = Field(default=1, ge=0, le=2)
    # Wrong second-factor codes in a row before the subject is locked out, and for how long.
    totp_max_failures: int = Field(default=5, ge=1)
    totp_lockout_s: int = Field(default=300, ge=1)
    recovery_codes: int = Field(default=10, ge=1, le=50)
    # Operator logins: failed attempts in a row before the operator is locked, and for how long.
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_s: int = Field(default=900, ge=1)
    # An operator's HTTP session (bearer token, bound to the address that logged in) lasts this long.
    session_ttl_s: int = Field(default=8 * 3600, ge=60)
    # Tax reports: the reporting currency and what one unit of each cash-like asset is worth in it. Assets listed
    # here are money (no lots are kept for them); everything else is valued through recorded trade prices.
    tax_currency: str = "USD"
    tax_cash_rates: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "USD": Decimal(1),
            "USDT": Decimal(1),
            "USDC": Decimal(1),
            "FDUSD": Decimal(1),
            "BUSD": Decimal(1),
            "DAI": Decimal(1),
            "TUSD": Decimal(1),
        }
    )
