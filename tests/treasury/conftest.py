"""Treasury tests run on a SQLite file and on the real PostgreSQL (a fresh schema each), like the ledger's."""

from tests.wallets.conftest import db  # noqa: F401 - the two-database fixture
