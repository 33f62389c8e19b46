"""A child process for the SIGKILL test: writes orders, reservations and fills as fast as it can and prints
one ``ack`` line for each write only after ``store.write`` returned (i.e. after commit)."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from decimal import Decimal as D

from wallets import Batch, OrderRecord, TradeRecord, Wallets

MASTER = bytes(range(32))


async def main(url: str, schema: str | None, account_id: int) -> None:
    w = Wallets.open(url, master_key=MASTER, schema=schema)
    await w.start()
    counter = itertools.count()
    os.write(1, b"ready\n")

    async def worker() -> None:
        while True:
            i = next(counter)
            batch = Batch()
            o = await w.orders.save_new(
                OrderRecord(0, account_id, "BTCUSDT", f"k{i}", "BUY", "LIMIT", tif="GTC", price=D(1), orig_qty=D(1)),
                batch=batch,
            )
            await w.ledger.reserve(account_id, "USDT", D(1), str(o.order_id), batch=batch)
            filled = i % 3 == 0
            if filled:
                t = await w.orders.add_fill(
                    TradeRecord(
                        0,
                        o.order_id,
                        account_id,
                        "BTCUSDT",
                        D(1),
                        D(1),
                        D(1),
                        D(0),
                        "BTC",
                        True,
                        False,
                        0,
                        "binance",
                        f"x{i}",
                    ),
                    batch=batch,
                )
                await w.ledger.settle_fill(
                    account_id,
                    base="BTC",
                    quote="USDT",
                    side="BUY",
                    qty=D(1),
                    price=D(1),
                    ref=str(t.trade_id),
                    counterparty="venue:binance",
                    batch=batch,
                )
                await w.orders.update(
                    account_id, o.order_id, status="FILLED", executed_qty=D(1), cum_quote=D(1), batch=batch
                )
            await w.store.write(batch)
            os.write(1, f"ack {o.order_id} k{i} {int(filled)}\n".encode())

    await asyncio.gather(*(worker() for _ in range(32)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] or None, int(sys.argv[3])))
