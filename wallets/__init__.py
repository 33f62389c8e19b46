"""The durable half of Braid: accounts of brokers (tenants) and their end users, API keys, the double-entry
ledger, and client orders and trades, all committed through one group-commit writer.

Public face: ``Wallets`` (opens everything from settings), ``Store`` and ``Batch`` (group commit; pass one
``Batch`` to several calls to commit them atomically), ``Accounts``/``Tenant``/``Account``, ``KeyVault``/
``ApiKey``, ``Ledger``/``Balance``/``Settlement``/``BalanceSheet``, ``OrderStore``/``OrderRecord``/
``TradeRecord``, and the errors the API maps to Binance's codes.
"""

from wallets.accounts import (
    EXTERNAL,
    HOUSE_FEES,
    INTERNAL,
    Account,
    Accounts,
    Tenant,
    venue_account,
)
from wallets.db import Batch, Conflict, Store, StoreError, drop_schema
from wallets.errors import (
    DuplicateOrder,
    InsufficientBalance,
    UnknownAccount,
    UnknownOrder,
    WalletError,
)
from wallets.keys import ApiKey, ApiKeyError, KeyVault, load_master_key
from wallets.ledger import Balance, BalanceSheet, Ledger, Settlement
from wallets.orders import OrderRecord, OrderStore, TradeRecord
from wallets.service import Wallets

__all__ = [
    "EXTERNAL",
    "HOUSE_FEES",
    "INTERNAL",
    "Account",
    "Accounts",
    "ApiKey",
    "ApiKeyError",
    "Balance",
    "BalanceSheet",
    "Batch",
    "Conflict",
    "DuplicateOrder",
    "InsufficientBalance",
    "KeyVault",
    "Ledger",
    "OrderRecord",
    "OrderStore",
    "Settlement",
    "Store",
    "StoreError",
    "Tenant",
    "TradeRecord",
    "UnknownAccount",
    "UnknownOrder",
    "WalletError",
    "Wallets",
    "drop_schema",
    "load_master_key",
    "venue_account",
]
