"""Chain fixtures: the Bitcoin simulator and anvil nodes on loopback, a watcher store on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import Engine

from wallets.chains import BitcoinRPC, create_chain_tables
from wallets.chains.devchain import Anvil
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
