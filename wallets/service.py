"""``Wallets``: the store, the account directory, API keys, the ledger and the order store, opened together."""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import Settings
from wallets.accounts import Accounts
from wallets.db import Store
from wallets.keys import KeyVault, load_master_key
from wallets.ledger import Ledger
from wallets.orders import OrderStore


@dataclass
class Wallets:
    """Everything durable, over one ``Store`` (one writer task per process)."""

    store: Store
    accounts: Accounts
    keys: KeyVault
    ledger: Ledger
    orders: OrderStore

    @classmethod
    def open(
        cls,
        url: str,
        *,
        master_key: bytes,
        schema: str | None = None,
        sqlite_synchronous: str = "FULL",
        max_batch: int = 4096,
    ) -> Wallets:
        """Open (and create if needed) the database at ``url`` and load what lives in memory."""
        store = Store.open(url, schema=schema, sqlite_synchronous=sqlite_synchronous, max_batch=max_batch)
        accounts = Accounts(store)
        return cls(store, accounts, KeyVault(store, accounts, master_key), Ledger(store, accounts), OrderStore(store))

    @classmethod
    def from_settings(cls, settings: Settings) -> Wallets:
        key = load_master_key(
            settings.master_key.get_secret_value() if settings.master_key else None, settings.master_key_file
        )
        return cls.open(
            settings.database_url,
            master_key=key,
            schema=settings.database_schema,
            sqlite_synchronous=settings.sqlite_synchronous,
            max_batch=settings.db_max_batch,
        )

    async def start(self) -> None:
        """Start the writer on the running event loop."""
        await self.store.start()

    async def close(self) -> None:
        """Commit what is queued and close the database."""
        await self.store.close()
