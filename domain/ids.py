"""Identifiers.

Account and tenant ids are ``int`` in every layer: the store issues them from integer sequences (they are
the tables' primary keys) and the API shows them as numbers. They used to become strings on their way into
the router and the matching engine, with ``""`` as a default tenant; that silent default is how orders
restored after a restart lost their tenant and with it their self-trade protection. The engine keys its
self-trade-prevention groups by (tenant, account) and needs nothing more than equality from them.
"""

from __future__ import annotations

from typing import TypeAlias

AccountId: TypeAlias = int
TenantId: TypeAlias = int  # 0: no tenant (a desk's own orders, tests, benchmarks)
OrderId: TypeAlias = int
