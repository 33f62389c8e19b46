"""Tenants (brokers), their sub-accounts, and the system accounts on the other side of every transfer.

Every lookup an API caller can reach takes the caller's scope: ``account(account_id, tenant_id=...)`` refuses
an account of another tenant exactly as it refuses one that does not exist, so a broker cannot even learn
that another broker's account id is taken.

The directory is small and read on every request, so it lives in memory (loaded on open) and is written
through the store. Other processes on the same database (``braid accounts ...``, other servers) are seen:
an account id not in memory is looked up once, a tenant's markup is re-read every few seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select

from config.settings import VENUES
from domain import now_ms
from wallets import models
from wallets.db import Batch, Insert, Store, Update
from wallets.errors import UnknownAccount, WalletError

AccountKind = Literal["client", "broker", "system"]
EXTERNAL = "external"  # the world outside: admin credits, deposits and withdrawals
INTERNAL = "internal"  # clearing for client-vs-client matches (nets to zero)
HOUSE_FEES = "house:fees"  # Braid's own fees on internal matches


def venue_account(venue: str) -> str:
    """The system account name of a venue (our inventory there)."""
    return f"venue:{venue}"


REFRESH_S = 5.0  # markups are re-read this often (another process may have changed one)
MISS_S = 1.0  # an unknown account id is looked up in the database at most this often

SYSTEM_ACCOUNTS = (EXTERNAL, INTERNAL, HOUSE_FEES, *(venue_account(v) for v in VENUES))


@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: int
    name: str
    markup_rate: Decimal
    broker_account_id: int
    created: int


@dataclass(frozen=True, slots=True)
class Account:
    account_id: int
    tenant_id: int | None
    kind: AccountKind
    name: str
    created: int


class Accounts:
    """The directory of tenants and accounts (in memory, written through the store)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._tenants: dict[int, Tenant] = {}
        self._tenant_names: set[str] = set()
        self._accounts: dict[int, Account] = {}
        self._by_name: dict[tuple[int | None, str], int] = {}
        self.system_ids: set[int] = set()
        self._misses: dict[int, float] = {}  # account id -> until when not to look it up again
        self._tenants_read = 0.0
        self.reload()

    def reload(self) -> None:
        """Load the directory from the database."""

        def load(conn: object) -> tuple[list[Tenant], list[Account]]:
            ts = [
                Tenant(int(r.tenant_id), r.name, r.markup_rate, int(r.broker_account_id), int(r.created))
                for r in conn.execute(select(models.tenants))  # type: ignore[attr-defined]
            ]
            acs = [
                Account(
                    int(r.account_id), None if r.tenant_id is None else int(r.tenant_id), r.kind, r.name, int(r.created)
                )
                for r in conn.execute(select(models.accounts))  # type: ignore[attr-defined]
            ]
            return ts, acs

        ts, acs = self.store.read_sync(load)
        self._tenants = {t.tenant_id: t for t in ts}
        self._tenants_read = time.monotonic()
        self._tenant_names = {t.name for t in ts}
        self._accounts = {a.account_id: a for a in acs}
        self.system_ids = {a.account_id for a in acs if a.kind == "system"}  # what the ledger lets go below zero
        self._by_name = {(a.tenant_id, a.name): a.account_id for a in sorted(acs, key=lambda a: -a.account_id)}
        if not self.store.running:
            self._ensure_system_accounts()

    # -- tenants -------------------------------------------------------------------------------------

    async def create_tenant(self, name: str, markup_rate: Decimal = Decimal(0)) -> Tenant:
        """A new broker with its own account (where its markup is credited)."""
        if not name or len(name) > 128:
            raise WalletError(f"tenant name must be 1-128 characters, was {name!r}")
        if name in self._tenant_names:
            raise WalletError(f"tenant {name!r} exists")
        _check_rate(markup_rate)
        self._tenant_names.add(name)
        ts = now_ms()
        tenant = Tenant(self.store.next_id("tenant"), name, markup_rate, self.store.next_id("account"), ts)
        broker = Account(tenant.broker_account_id, tenant.tenant_id, "broker", f"broker:{name}", ts)
        batch = Batch()
        batch.add(Insert(models.tenants, _tenant_row(tenant)))
        batch.add(Insert(models.accounts, _account_row(broker)))
        batch.after_failure.append(lambda: self._tenant_names.discard(name))
        await self.store.write(batch)
        self._tenants[tenant.tenant_id] = tenant
        self._remember(broker)
        return tenant

    async def set_markup(self, tenant_id: int, markup_rate: Decimal) -> Tenant:
        """Set the broker's commission markup (a fraction of each fill's received amount)."""
        _check_rate(markup_rate)
        tenant = replace(self.tenant(tenant_id), markup_rate=markup_rate)
        await self.store.write([Update(models.tenants, (tenant_id,), {"markup_rate": markup_rate})])
        self._tenants[tenant_id] = tenant
        return tenant

    def tenant(self, tenant_id: int) -> Tenant:
        found = self._tenants.get(tenant_id)
        if found is None and self._fetch_tenants():
            found = self._tenants.get(tenant_id)
        if found is None:
            raise UnknownAccount(f"tenant {tenant_id} does not exist")
        return found

    def tenant_by_name(self, name: str) -> Tenant:
        for t in self._tenants.values():
            if t.name == name:
                return t
        raise UnknownAccount(f"tenant {name!r} does not exist")

    def tenants(self) -> list[Tenant]:
        return sorted(self._tenants.values(), key=lambda t: t.tenant_id)

    # -- accounts ------------------------------------------------------------------------------------

    async def create_account(self, tenant_id: int, name: str) -> Account:
        """A sub-account (an end user) of a tenant; ``name`` (e.g. an email) is unique within the tenant."""
        self.tenant(tenant_id)
        if not name or len(name) > 255:
            raise WalletError(f"account name must be 1-255 characters, was {name!r}")
        if (tenant_id, name) in self._by_name:
            raise WalletError(f"account {name!r} exists")
        account = Account(self.store.next_id("account"), tenant_id, "client", name, now_ms())
        self._remember(account)
        batch = Batch([Insert(models.accounts, _account_row(account))])
        batch.after_failure.append(lambda: self._forget(account))
        await self.store.write(batch)
        return account

    def account(self, account_id: int, *, tenant_id: int | None = None) -> Account:
        """The account; with ``tenant_id``, only if it belongs to that tenant (else ``UnknownAccount``)."""
        found = self._get(account_id)
        if found is None or found.kind == "system" or (tenant_id is not None and found.tenant_id != tenant_id):
            raise UnknownAccount(f"account {account_id} does not exist")
        return found

    def accounts_of(self, tenant_id: int, *, include_broker: bool = False) -> list[Account]:
        """A tenant's accounts (sub-accounts; with ``include_broker`` also its own)."""
        self.tenant(tenant_id)
        kinds = ("client", "broker") if include_broker else ("client",)
        self._fetch_accounts(models.accounts.c.tenant_id == tenant_id)  # include those another process made
        return sorted(
            (a for a in self._accounts.values() if a.tenant_id == tenant_id and a.kind in kinds),
            key=lambda a: a.account_id,
        )

    def is_system(self, account_id: int) -> bool:
        return account_id in self.system_ids

    def exists(self, account_id: int) -> bool:
        return self._get(account_id) is not None

    def markup_of(self, account_id: int) -> tuple[Decimal, int | None]:
        """The markup rate charged on this account's fills and the broker account credited with it."""
        acc = self._accounts.get(account_id)
        if acc is None or acc.kind != "client" or acc.tenant_id is None:
            return Decimal(0), None
        if time.monotonic() - self._tenants_read > REFRESH_S:  # a markup set by another process
            self._fetch_tenants()
        t = self.tenant(acc.tenant_id)
        return t.markup_rate, t.broker_account_id

    def system_account(self, name: str) -> int:
        """The id of a system account (``UnknownAccount`` if it was never created)."""
        found = self._by_name.get((None, name))
        if found is None:
            raise UnknownAccount(f"system account {name!r} does not exist")
        return found

    async def ensure_system_account(self, name: str) -> int:
        """The id of a system account, created if missing (e.g. a venue added later)."""
        found = self._by_name.get((None, name))
        if found is not None:
            return found
        account = Account(self.store.next_id("account"), None, "system", name, now_ms())
        await self.store.write([Insert(models.accounts, _account_row(account))])
        self._remember(account)
        return account.account_id

    def _ensure_system_accounts(self) -> None:
        missing = [n for n in SYSTEM_ACCOUNTS if (None, n) not in self._by_name]
        if not missing:
            return
        made = [Account(self.store.next_id("account"), None, "system", n, now_ms()) for n in missing]
        self.store.write_sync([Insert(models.accounts, _account_row(a)) for a in made])
        for a in made:
            self._remember(a)

    def all_accounts(self) -> list[Account]:
        return sorted(self._accounts.values(), key=lambda a: a.account_id)

    # -- other processes (the command line, other servers) add accounts and change markups -------------

    def _get(self, account_id: int) -> Account | None:
        found = self._accounts.get(account_id)
        if found is None and self._misses.get(account_id, 0.0) < time.monotonic():
            if not self._fetch_accounts(models.accounts.c.account_id == account_id):
                self._misses[account_id] = time.monotonic() + MISS_S
                if len(self._misses) > 10_000:
                    self._misses.clear()
            found = self._accounts.get(account_id)
        return found

    def _fetch_accounts(self, where: Any) -> int:
        rows = self.store.read_sync(lambda c: c.execute(select(models.accounts).where(where)).all())
        for r in rows:
            if int(r.account_id) not in self._accounts:
                tid = None if r.tenant_id is None else int(r.tenant_id)
                self._remember(Account(int(r.account_id), tid, r.kind, r.name, int(r.created)))
                if tid is not None and tid not in self._tenants:
                    self._fetch_tenants()
        return len(rows)

    def _fetch_tenants(self) -> bool:
        rows = self.store.read_sync(lambda c: c.execute(select(models.tenants)).all())
        self._tenants_read = time.monotonic()
        for r in rows:
            self._tenants[int(r.tenant_id)] = Tenant(
                int(r.tenant_id), r.name, r.markup_rate, int(r.broker_account_id), int(r.created)
            )
            self._tenant_names.add(r.name)
        return bool(rows)

    def _remember(self, a: Account) -> None:
        self._accounts[a.account_id] = a
        self._by_name[(a.tenant_id, a.name)] = a.account_id
        if a.kind == "system":
            self.system_ids.add(a.account_id)

    def _forget(self, a: Account) -> None:
        self._accounts.pop(a.account_id, None)
        self._by_name.pop((a.tenant_id, a.name), None)
        self.system_ids.discard(a.account_id)


def _check_rate(rate: Decimal) -> None:
    if not isinstance(rate, Decimal) or not (Decimal(0) <= rate < Decimal("0.1")):
        raise WalletError(f"markup rate must be a Decimal in [0, 0.1), was {rate!r}")
    if rate != rate.quantize(models.QUANTUM):
        raise WalletError(f"markup rate has more than {models.SCALE} decimals, was {rate}")


def _tenant_row(t: Tenant) -> dict[str, object]:
    return {
        "tenant_id": t.tenant_id,
        "name": t.name,
        "markup_rate": t.markup_rate,
        "broker_account_id": t.broker_account_id,
        "created": t.created,
    }


def _account_row(a: Account) -> dict[str, object]:
    return {"account_id": a.account_id, "tenant_id": a.tenant_id, "kind": a.kind, "name": a.name, "created": a.created}
