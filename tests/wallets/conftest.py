"""Every persistence test runs twice: on a SQLite file and on the real PostgreSQL (a fresh schema each)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine

from wallets import Wallets, drop_schema
from wallets.chains.devchain import Anvil

PG_URL = os.environ.get("BRAID_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MASTER = bytes(range(32))


@dataclass(frozen=True)
class Db:
    url: str
    schema: str | None

    @property
    def backend(self) -> str:
        return "postgresql" if self.schema else "sqlite"

    def open(self, **kw: object) -> Wallets:
        return Wallets.open(self.url, master_key=MASTER, schema=self.schema, **kw)  # type: ignore[arg-type]


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_URL)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        return repr(exc)
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Db]:
    if request.param == "sqlite":
        yield Db(f"sqlite:///{tmp_path}/braid.db", None)
        return
    problem = _pg_reachable()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {problem}")
        pytest.skip(f"PostgreSQL at {PG_URL} not reachable: {problem}")
    schema = f"braid_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    try:
        yield Db(PG_URL, schema)
    finally:
        drop_schema(PG_URL, schema)


def _start_anvil(chain_id: int) -> Anvil:
    if shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("npm is required in CI (it installs anvil and solc-js for the EVM tests)")
        pytest.skip("npm is not installed: anvil (Foundry) and solc-js come from the npm registry")
    node = Anvil(chain_id)
    node.start()
    return node


@pytest.fixture(scope="session")
def anvil_eth() -> Iterator[Anvil]:
    """One anvil per test run with its default (Ethereum dev) chain id 31337."""
    node = _start_anvil(31337)
    yield node
    node.stop()


@pytest.fixture(scope="session")
def anvil_bsc() -> Iterator[Anvil]:
    """One anvil per test run with BNB Smart Chain's chain id."""
    node = _start_anvil(56)
    yield node
    node.stop()
