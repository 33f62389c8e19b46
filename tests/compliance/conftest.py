"""KYC tests run on a SQLite file and on the real PostgreSQL (a fresh schema each), like the ledger's."""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from compliance import Kyc, KycStore
from config.kyc import KycSettings
from tests.wallets.conftest import MASTER, Db, db  # noqa: F401 - the shared database fixture

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
