"""Back-office tests run on a SQLite file and on the real PostgreSQL (a fresh schema each), like the ledger's."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest

from compliance import BackOffice
from config.backoffice import BackOfficeSettings
from config.settings import Settings
from tests.wallets.conftest import MASTER, Db, db  # noqa: F401 - the two-database fixture


class Clock:
    """A settable clock (UNIX seconds) for TOTP steps and lockouts."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


def open_backoffice(database: Db, clock: Clock, **knobs: object) -> BackOffice:
    bo = BackOffice.open(database.url, master_key=MASTER, schema=database.schema,
                         settings=BackOfficeSettings(**knobs))  # type: ignore[arg-type]
    bo.factors.clock = clock
    bo.operators.clock = clock
    bo.audit._clock = lambda: int(clock() * 1000)
    return bo


def settings_for(database: Db, tmp_path: Path) -> Settings:
    return Settings(database_url=database.url, database_schema=database.schema, data_dir=str(tmp_path),
                    master_key=base64.b64encode(MASTER).decode())
