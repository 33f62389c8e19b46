"""A watcher's durable state: the processed blocks and the outbox of observations (see ``models``)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Engine, and_, delete, select, update

from wallets.chains.events import BlockRef, Observation
from wallets.chains.models import chain_blocks, chain_observations


def _now_ms() -> int:
    return int(time.time() * 1000)


def _row_to_observation(row: object) -> Observation:
    r = row._mapping  # type: ignore[attr-defined]
    return Observation(
        chain=r["chain"],
        txid=r["txid"],
        index=r["idx"],
        address=r["address"],
        asset=r["asset"],
        amount=r["amount"],
        block_height=r["block_height"],
        block_hash=r["block_hash"],
        account=r["account"],
        token=r["token"],
        sources=tuple((r["sources"] or "").split()),
    )


class WatcherStore:
    """Synchronous; the watcher calls it from a worker thread. One chain per instance."""

    def __init__(self, engine: Engine, chain: str) -> None:
        self.engine = engine
        self.chain = chain

    def tip(self) -> BlockRef | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(chain_blocks.c.height, chain_blocks.c.hash)
                .where(chain_blocks.c.chain == self.chain)
                .order_by(chain_blocks.c.height.desc())
                .limit(1)
            ).first()
        return None if row is None else BlockRef(row.height, row.hash)

    def hash_at(self, height: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(chain_blocks.c.hash).where(chain_blocks.c.chain == self.chain, chain_blocks.c.height == height)
            ).scalar()

    def apply_block(self, block: BlockRef, observations: Sequence[Observation]) -> None:
        """Record the block and its observations (undelivered) in one transaction."""
        now = _now_ms()
        with self.engine.begin() as conn:
            conn.execute(
                chain_blocks.insert(),
                [{"chain": self.chain, "height": block.height, "hash": block.hash, "seen_ms": now}],
            )
            if observations:
                conn.execute(
                    chain_observations.insert(),
                    [
                        {
                            "chain": o.chain,
                            "txid": o.txid,
                            "idx": o.index,
                            "address": o.address,
                            "account": o.account,
                            "asset": o.asset,
                            "token": o.token,
                            "sources": " ".join(o.sources) or None,
                            "amount": o.amount,
                            "block_height": o.block_height,
                            "block_hash": o.block_hash,
                            "orphaned": False,
                            "delivered": False,
                            "seen_ms": now,
                        }
                        for o in observations
                    ],
                )

    def rollback_to(self, fork_height: int) -> list[Observation]:
        """Forget blocks above ``fork_height``; mark their observations orphaned. Returns those the consumer had
        been told about (they now owe it an ``on_orphaned``); ones never delivered are simply closed."""
        c = chain_observations.c
        above = and_(c.chain == self.chain, c.block_height > fork_height, c.orphaned.is_(False))
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(chain_observations)
                .where(above, c.delivered.is_(True))
                .order_by(c.block_height.desc(), c.id.desc())
            ).all()
            conn.execute(
                update(chain_observations).where(above, c.delivered.is_(False)).values(orphaned=True, delivered=True)
            )
            conn.execute(update(chain_observations).where(above).values(orphaned=True, delivered=False))
            conn.execute(
                delete(chain_blocks).where(chain_blocks.c.chain == self.chain, chain_blocks.c.height > fork_height)
            )
        return [_row_to_observation(r) for r in rows]

    def undelivered(self) -> list[tuple[Observation, bool]]:
        """(observation, orphaned) the consumer has not acknowledged, in the order they happened."""
        c = chain_observations.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(chain_observations).where(c.chain == self.chain, c.delivered.is_(False)).order_by(c.id)
            ).all()
        return [(_row_to_observation(r), bool(r.orphaned)) for r in rows]

    def mark_delivered(self, observations: Sequence[Observation]) -> None:
        if not observations:
            return
        c = chain_observations.c
        with self.engine.begin() as conn:
            for o in observations:
                conn.execute(
                    update(chain_observations)
                    .where(c.chain == o.chain, c.txid == o.txid, c.idx == o.index, c.block_hash == o.block_hash)
                    .values(delivered=True)
                )

    def active_since(self, min_height: int) -> list[Observation]:
        """Observations still on the best chain in blocks at or above ``min_height``."""
        c = chain_observations.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(chain_observations)
                .where(c.chain == self.chain, c.block_height >= min_height, c.orphaned.is_(False))
                .order_by(c.block_height, c.id)
            ).all()
        return [_row_to_observation(r) for r in rows]
