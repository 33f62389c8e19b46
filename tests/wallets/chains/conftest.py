"""Chain fixtures: the Bitcoin simulator on loopback, a watcher store on SQLite and PostgreSQL (the session's
anvil nodes are in tests/wallets/conftest.py, shared with the custody tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import Engine

from wallets.chains import BitcoinRPC, create_chain_tables
from wallets.chains.simulators import BitcoinSimulator
from wallets.db import create_db_engine


@pytest.fixture
async def btc_sim() -> AsyncIterator[BitcoinSimulator]:
    sim = BitcoinSimulator("alice", "secret")
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def rpc(btc_sim: BitcoinSimulator) -> AsyncIterator[BitcoinRPC]:
    client = BitcoinRPC(btc_sim.url, "alice", "secret")
    yield client
    await client.close()


@pytest.fixture
def chain_engine(db: object) -> Iterator[Engine]:
    engine = create_db_engine(db.url, schema=db.schema)  # type: ignore[attr-defined]
    create_chain_tables(engine, db.schema)  # type: ignore[attr-defined]
    yield engine
    engine.dispose()
