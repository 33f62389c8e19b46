"""Treasury tests run on a SQLite file and on the real PostgreSQL (a fresh schema each), like the ledger's; the
hot/cold tests use the custody tests' dev key ceremony and the session's anvil."""

from tests.wallets.conftest import anvil_eth, db  # noqa: F401 - the two-database fixture, the session anvil
from tests.wallets.custody.conftest import ceremony, public, sealer  # noqa: F401 - the dev key ceremony
