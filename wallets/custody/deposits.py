"""Deposit addresses: one per (account, network), derived from the public keys only, never reused.

``deposit_address(account_id, network)`` returns the account's address, creating it on first call: the next
derivation index of that network is taken from ``custody_address_counters`` inside the inserting
transaction (row lock on PostgreSQL, write lock on SQLite), so two processes never hand out one index, and
unique indexes on (network, account) and (network, address) are the backstop. A loser of a race for the
same account reads the winner's row (its index stays unused: a gap, never a reuse). ``account_for(network, address)``
answers from memory (a dict loaded
from the table and updated on insert; ``refresh()`` picks up rows other processes added), for the watchers.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import structlog
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from domain import now_ms
from wallets.custody import models
from wallets.custody.addresses import normalize
from wallets.custody.errors import CustodyError
from wallets.custody.networks import NETWORKS, Network, network_name
from wallets.custody.public import PublicWallets
from wallets.db import create_db_engine

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DepositAddress:
    network: Network
    account_id: int
    address: str
    derivation_index: int
    path: str


class CustodyAddresses:
    """Deposit addresses of one Braid installation (its public wallet file and its database)."""

    def __init__(self, engine: Engine, public: PublicWallets, *, own_engine: bool = False) -> None:
        self._engine = engine
        self._public = public
        self._own_engine = own_engine
        self._lock = threading.Lock()
        # per network: account -> (address, index), and lookup form -> account (kept small: a watcher may
        # hold millions; paths are re-made on demand)
        self._by_account: dict[str, dict[int, tuple[str, int]]] = {n: {} for n in NETWORKS}
        self._by_lookup: dict[str, dict[str, int]] = {n: {} for n in NETWORKS}
        self._last_id = 0
        self._ensure_counters()
        self.refresh()
        self._check_keys_match()

    @classmethod
    def open(cls, url: str, public: PublicWallets, *, schema: str | None = None) -> CustodyAddresses:
        """Open (and create if needed) the address table at ``url``."""
        engine = create_db_engine(url, writer=True, schema=schema)
        models.create_tables(engine, schema)
        return cls(engine, public, own_engine=True)

    def close(self) -> None:
        if self._own_engine:
            self._engine.dispose()

    @property
    def public(self) -> PublicWallets:
        return self._public

    def _ensure_counters(self) -> None:
        for net in NETWORKS:
            try:
                with self._engine.begin() as conn:
                    if (
                        conn.execute(
                            select(models.address_counters.c.network).where(models.address_counters.c.network == net)
                        ).first()
                        is None
                    ):
                        conn.execute(insert(models.address_counters).values(network=net, next_index=0))
            except IntegrityError:
                pass  # another process created it first

    def _check_keys_match(self) -> None:
        """Refuse to run with a public file that is not the one the table's addresses came from."""
        for net, rows in self._by_account.items():
            if rows:
                address, index = min(rows.values(), key=lambda r: r[1])
                if self._public.deposit_address(net, index) != address:  # type: ignore[arg-type]
                    raise CustodyError(
                        f"the {net} deposit addresses in the database were derived from other keys "
                        "than the custody public file's: wrong file or wrong database"
                    )

    def _get(self, net: Network, account_id: int) -> DepositAddress | None:
        with self._lock:
            found = self._by_account[net].get(account_id)
        if found is None:
            return None
        return DepositAddress(net, account_id, found[0], found[1], self._public.deposit_path(net, found[1]))

    def refresh(self) -> int:
        """Load addresses added since the last load (by any process); returns how many were new."""
        t = models.deposit_addresses
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(t.c.id, t.c.network, t.c.account_id, t.c.address, t.c.lookup, t.c.derivation_index)
                .where(t.c.id > self._last_id)
                .order_by(t.c.id)
            ).all()
        with self._lock:
            for _, net, account_id, address, lookup, index in rows:
                self._by_account[net][account_id] = (address, index)
                self._by_lookup[net][lookup] = account_id
            if rows:
                self._last_id = rows[-1][0]  # ordered by id
        return len(rows)

    def all_addresses(self, network: str) -> list[str]:
        """Every deposit address handed out on ``network`` (as written), for the reserves report."""
        net = network_name(network)
        with self._lock:
            return [address for address, _ in self._by_account[net].values()]

    def deposit_indexes(self, network: str) -> dict[str, int]:
        """Every deposit address handed out on ``network`` -> its derivation index (for sweeps)."""
        net = network_name(network)
        with self._lock:
            return {address: index for address, index in self._by_account[net].values()}

    def deposit_address(self, account_id: int, network: str) -> DepositAddress:
        """The account's deposit address on ``network`` (BTC, ETH, BSC), created on first use."""
        net = network_name(network)
        if not isinstance(account_id, int) or account_id <= 0:
            raise CustodyError(f"account id must be a positive integer, was {account_id!r}")
        known = self._get(net, account_id)
        if known is not None:
            return known
        t, c = models.deposit_addresses, models.address_counters
        try:
            with self._engine.begin() as conn:
                row = conn.execute(select(t).where(t.c.network == net, t.c.account_id == account_id)).mappings().first()
                if row is None:
                    # taking the counter row first serialises allocators of this network
                    index = (
                        conn.execute(
                            update(c)
                            .where(c.c.network == net)
                            .values(next_index=c.c.next_index + 1)
                            .returning(c.c.next_index)
                        ).scalar_one()
                        - 1
                    )
                    if index >= 2**31:
                        raise CustodyError(f"{net} deposit derivation indexes are exhausted")
                    address = self._public.deposit_address(net, index)
                    values = {
                        "network": net,
                        "account_id": account_id,
                        "address": address,
                        "lookup": normalize(net, address),
                        "derivation_index": index,
                        "path": self._public.deposit_path(net, index),
                        "created": now_ms(),
                    }
                    new_id = conn.execute(insert(t).values(**values).returning(t.c.id)).scalar_one()
                    log.info("deposit address created", network=net, account=account_id, index=index)
                else:
                    new_id = None
        except IntegrityError:
            new_id = None  # another process gave this account its address at the same moment: read it
        self.refresh()
        found = self._get(net, account_id)
        if found is None:
            raise CustodyError(f"deposit address of account {account_id} on {net} could not be created (id {new_id})")
        return found

    async def deposit_address_async(self, account_id: int, network: str) -> DepositAddress:
        """``deposit_address`` for an event loop: answered from memory when known, else in a worker thread."""
        known = self._get(network_name(network), account_id)
        if known is not None:
            return known
        return await asyncio.to_thread(self.deposit_address, account_id, network)

    def account_for(self, network: str, address: str) -> int | None:
        """The account whose deposit address this is, or None (memory only: no database round trip)."""
        net = network.upper()
        by_lookup = self._by_lookup.get(net)
        return None if by_lookup is None else by_lookup.get(normalize(net, address))  # type: ignore[arg-type]

    def watched(self, network: str) -> set[str]:
        """Every known deposit address of ``network`` in lookup form (for a watcher's matching set)."""
        with self._lock:
            return set(self._by_lookup.get(network.upper(), ()))
