"""``BackOffice``: the audit log, second factors and operators, opened together on the ledger's database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from compliance.audit import AuditLog
from compliance.operator_models import open_engine
from compliance.operators import Operators
from compliance.sessions import OperatorSessions
from compliance.totp import SecondFactors
from config.backoffice import BackOfficeSettings
from wallets.keys import load_master_key

if TYPE_CHECKING:
    from config.settings import Settings


@dataclass
class BackOffice:
    audit: AuditLog
    factors: SecondFactors
    operators: Operators
    settings: BackOfficeSettings
    sessions: OperatorSessions

    @classmethod
    def open(
        cls, url: str, *, master_key: bytes, schema: str | None = None, settings: BackOfficeSettings | None = None
    ) -> BackOffice:
        """Open (creating the tables if needed) on the database at ``url``."""
        s = settings or BackOfficeSettings()
        engine = open_engine(url, schema)
        audit = AuditLog(engine)
        factors = SecondFactors(engine, master_key, s)
        operators = Operators(engine, factors, audit, s)
        return cls(audit, factors, operators, s, OperatorSessions(engine, operators, audit, s.session_ttl_s))

    @classmethod
    def from_settings(cls, settings: Settings) -> BackOffice:
        key = load_master_key(
            settings.master_key.get_secret_value() if settings.master_key else None, settings.master_key_file
        )
        return cls.open(
            settings.database_url, master_key=key, schema=settings.database_schema, settings=settings.backoffice
        )

    def close(self) -> None:
        self.audit.engine.dispose()
