"""Compliance test fixtures: the SDN fixture files, and a database on SQLite and on the real PostgreSQL."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from compliance import Screening, create_screening_tables, load_files, open_engine
from compliance.aml import RuleSet
from compliance.sanctions import SanctionsList
from tests.wallets.conftest import Db, db  # noqa: F401 - ``db`` is the fixture the engine is opened on

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


class Clock:
    """A settable clock (ms) so records and rule windows are exact."""

    def __init__(self, t: int = 1_767_225_600_000) -> None:  # 2026-01-01T00:00:00Z
        self.t = t

    def __call__(self) -> int:
        return self.t


@pytest.fixture
def make_screening(engine: Engine, sdn: SanctionsList) -> Callable[..., Screening]:
    def make(rules: RuleSet | None = None, load: bool = True, **kw: Any) -> Screening:
        kw.setdefault("clock", Clock())
        s = Screening(engine, rules=rules, **kw)
        if load:
            s.load(sdn, actor="test")
        return s

    return make
