"""A Braid API server in its own process for the fault suite: fixed venue books, paper execution, wallets on
``DATA_DIR`` (SQLite) or on ``BRAID_FAULT_DB_URL`` (+ ``BRAID_FAULT_SCHEMA``). First start: a tenant, funded
accounts and keys (DATA_DIR/creds.json). Every start: open orders restored. Prints ``READY <port> <restored>``.

``BRAID_FAULT_ROOM``: once started, the disk is nearly full: no file of the server (or of its writer process) may
grow beyond the largest data file's size at that moment plus this many bytes; writes beyond fail with EFBIG, as
on a full disk (SIGXFSZ is ignored, so nothing is killed).

    python -m tests.faults.server DATA_DIR
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sys
from pathlib import Path

import structlog

from tests.gateway.kill_server import port_of, start_stack


async def main(data_dir: str) -> None:
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(int(os.environ.get("BRAID_FAULT_LOG_LEVEL") or 50)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file over its size limit fails with EFBIG, kills nothing
    site, wallets, restored = await start_stack(data_dir, "BRAID_FAULT", "faults")
    room = os.environ.get("BRAID_FAULT_ROOM")
    if room:  # the disk is full from now on: this process and its writer process (by pid) may not grow files
        fsize = max(p.stat().st_size for p in Path(data_dir).iterdir()) + int(room)  # noqa: ASYNC240 - once
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))
        writer = getattr(wallets.store, "_proc", None)
        if writer is not None:
            resource.prlimit(writer.pid, resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))
    print(f"READY {port_of(site)} {restored}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
