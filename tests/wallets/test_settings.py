"""The durable-state settings: defaults under the data directory, DATABASE_URL accepted as well."""

from __future__ import annotations

import pytest

from config.settings import Settings
from wallets.db import create_db_engine


def test_defaults_live_in_the_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("BRAID_DATABASE_URL", raising=False)
    s = Settings(data_dir="/srv/braid")
    assert s.database_url == "sqlite:////srv/braid/braid.db" and s.master_key_file == "/srv/braid/master.key"
    assert Settings().database_url == "sqlite:///var/braid.db" and Settings().sqlite_synchronous == "FULL"


def test_database_url_from_either_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRAID_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert Settings().database_url == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("BRAID_DATABASE_URL", "sqlite:///x.db")
    assert Settings().database_url == "sqlite:///x.db"  # the prefixed one wins
    assert Settings(database_url="sqlite:///y.db").database_url == "sqlite:///y.db"


def test_sqlite_runs_in_wal_mode_with_the_chosen_sync(tmp_path: object) -> None:
    for mode, number in (("FULL", 2), ("NORMAL", 1)):
        engine = create_db_engine(f"sqlite:///{tmp_path}/{mode}.db", sqlite_synchronous=mode)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == number
        engine.dispose()
    with pytest.raises(ValueError):
        create_db_engine(f"sqlite:///{tmp_path}/x.db", sqlite_synchronous="SOMETIMES")
    with pytest.raises(ValueError):
        create_db_engine("sqlite://")
