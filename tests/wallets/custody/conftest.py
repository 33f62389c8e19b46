"""One dev-mode key ceremony per test session (regtest), shared by the custody tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wallets.custody import PublicWallets, Sealer, run_ceremony
from wallets.custody.ceremony import CeremonyResult

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="session")
def sealer() -> Sealer:
    return Sealer(passphrase=PASSPHRASE)


@pytest.fixture(scope="session")
def ceremony(tmp_path_factory: pytest.TempPathFactory, sealer: Sealer) -> Iterator[CeremonyResult]:
    out = tmp_path_factory.mktemp("custody")
    yield run_ceremony(out, btc_network="regtest", sealer=sealer, dev=True)


@pytest.fixture(scope="session")
def public(ceremony: CeremonyResult) -> PublicWallets:
    return PublicWallets.load(ceremony.public_file)


@pytest.fixture(scope="session")
def cold_dir(ceremony: CeremonyResult) -> Path:
    return ceremony.cold_files[0].parent
