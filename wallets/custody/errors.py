"""Errors of the custody package: each says what was wrong, so a refused command can be fixed."""

from __future__ import annotations

from wallets.errors import WalletError


class CustodyError(WalletError):
    """A custody operation was refused."""


class InvalidAddress(CustodyError):
    """A withdrawal destination is not a valid address of the network (message says why)."""


class KeyFileError(CustodyError):
    """A key file cannot be read: wrong role, wrong passphrase or master key, tampered, or not a key file."""


class SpendMismatch(CustodyError):
    """A transaction (PSBT or signed EVM transaction) differs from the approved request."""
