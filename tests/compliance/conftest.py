"""Compliance test fixtures: a database on SQLite and on the real PostgreSQL (a fresh schema each, like the
ledger's), the back office opened on it, the SDN fixture files and the screening service."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from compliance import BackOffice, Kyc, KycStore, Screening, create_screening_tables, load_files, open_engine
from compliance.aml import RuleSet
from compliance.sanctions import SanctionsList
from config.backoffice import BackOfficeSettings
from config.kyc import KycSettings
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
    bo = BackOffice.open(database.url, master_key=MASTER, schema=database.schema, settings=BackOfficeSettings(**knobs))  # type: ignore[arg-type]
    bo.factors.clock = clock
    bo.operators.clock = clock
    bo.audit._clock = lambda: int(clock() * 1000)
    return bo


def settings_for(database: Db, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database.url,
        database_schema=database.schema,
        data_dir=str(tmp_path),
        master_key=base64.b64encode(MASTER).decode(),
    )


OFAC = Path(__file__).resolve().parent / "fixtures" / "ofac"
PUBLISHED = date(2024, 5, 3)


def fixture_list() -> SanctionsList:
    return load_files([OFAC / "sdn.csv", OFAC / "alt.csv", OFAC / "add.csv"], published=PUBLISHED)


@pytest.fixture(scope="session")
def sdn() -> SanctionsList:
    return fixture_list()


@pytest.fixture
def engine(db: Db) -> Iterator[Engine]:  # noqa: F811 - the imported fixture
    """The compliance tables on SQLite and on the real PostgreSQL (the ledger tests' ``db``: a fresh schema)."""
    e = open_engine(db.url, db.schema)
    create_screening_tables(e, db.schema)
    yield e
    e.dispose()


class MsClock:
    """A settable clock (ms) so records and rule windows are exact."""

    def __init__(self, t: int = 1_767_225_600_000) -> None:  # 2026-01-01T00:00:00Z
        self.t = t

    def __call__(self) -> int:
        return self.t


@pytest.fixture
def make_screening(engine: Engine, sdn: SanctionsList) -> Callable[..., Screening]:
    def make(rules: RuleSet | None = None, load: bool = True, **kw: Any) -> Screening:
        kw.setdefault("clock", MsClock())
        s = Screening(engine, rules=rules, **kw)
        if load:
            s.load(sdn, actor="test")
        return s

    return make


PRICES = {"BTC": Decimal("50000"), "ETH": Decimal("2500")}


def price_of(asset: str) -> Decimal | None:
    return PRICES.get(asset)


@pytest.fixture
def store(db: Db) -> Iterator[KycStore]:  # noqa: F811
    s = KycStore(db.url, MASTER, schema=db.schema)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def audit_log() -> list[tuple]:
    return []


@pytest.fixture
def kyc(store: KycStore, audit_log: list[tuple]) -> Kyc:
    return Kyc(KycSettings(), store, price_of, audit=lambda *entry: audit_log.append(entry))


def make_operators(settings: Settings, **roles: str) -> None:
    """Operators named by the keywords, with those roles, in the back office of ``settings``' database."""
    bo = BackOffice.from_settings(settings)
    try:
        for name, role in roles.items():
            bo.operators.create(name, "correct horse battery", role, actor="test", ip="local")
    finally:
        bo.close()
