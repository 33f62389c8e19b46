"""Compliance test fixtures: the SDN fixture files, and a database on SQLite and on the real PostgreSQL."""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from compliance import Screening, create_screening_tables, load_files, open_engine
from compliance.aml import RuleSet
from compliance.sanctions import SanctionsList
from tests.wallets.conftest import PG_URL, _pg_reachable
from wallets import drop_schema

OFAC = Path(__file__).resolve().parent / "fixtures" / "ofac"
PUBLISHED = date(2024, 5, 3)


def fixture_list() -> SanctionsList:
    return load_files([OFAC / "sdn.csv", OFAC / "alt.csv", OFAC / "add.csv"], published=PUBLISHED)


@pytest.fixture(scope="session")
def sdn() -> SanctionsList:
    return fixture_list()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        e = open_engine(f"sqlite:///{tmp_path}/braid.db")
        create_screening_tables(e)
        yield e
        e.dispose()
        return
    problem = _pg_reachable()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {problem}")
        pytest.skip(f"PostgreSQL at {PG_URL} not reachable: {problem}")
    schema = f"braid_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    e = open_engine(PG_URL, schema)
    try:
        create_screening_tables(e, schema)
        yield e
    finally:
        e.dispose()
        drop_schema(PG_URL, schema)


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
