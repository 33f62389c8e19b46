"""Fixtures of the fault suite: a private PostgreSQL cluster that a test may stop and start at will."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class PrivatePostgres:
    """A throw-away cluster (initdb, trust auth) on a free loopback port; never the machine's shared server."""

    data: Path
    port: int
    as_user: list[str]  # a command prefix: PostgreSQL refuses to run as root

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, "pg_ctl", "-D", str(self.data), "-s", *args], check=True, capture_output=True, timeout=30
        )

    def start(self) -> None:
        self.pg_ctl(
            "-w",
            "-l",
            str(self.data.parent / "pg.log"),
            "-o",
            f"-p {self.port} -k {self.data.parent} -h 127.0.0.1",
            "start",
        )

    def stop_now(self) -> None:
        """Kill it the way a crash or an operator's emergency stop does: no checkpoint, clients cut off."""
        self.pg_ctl("-m", "immediate", "stop")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.skip("initdb/pg_ctl not on PATH")
    as_user: list[str] = []
    home = Path(tempfile.mkdtemp(prefix="braid-faults-pg-"))  # not under tmp_path: the postgres user must reach it
    if os.geteuid() == 0:  # root (a container): run the cluster as the postgres user, in a directory it owns
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        user = pwd.getpwnam("postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
        os.chown(home, user.pw_uid, user.pw_gid)
    data = home / "pg"
    subprocess.run(
        [*as_user, "initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    subprocess.run(
        [*as_user, "sh", "-c", f"printf 'fsync = off\\nshared_buffers = 16MB\\n' >> {data}/postgresql.conf"],
        check=True,
        timeout=10,
    )
    pg = PrivatePostgres(data, free_port(), as_user)
    pg.start()
    try:
        yield pg
    finally:
        subprocess.run(
            [*as_user, "pg_ctl", "-D", str(data), "-s", "-m", "immediate", "stop"], capture_output=True, timeout=30
        )
        shutil.rmtree(home, ignore_errors=True)
