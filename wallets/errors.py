"""The ledger's errors; the API layer maps them to Binance's codes and texts."""

from __future__ import annotations


class WalletError(Exception):
    """Base of the ledger's refusals (nothing was changed)."""

    code = -1000


class InsufficientBalance(WalletError):
    """Binance -2010: the free balance does not cover the request."""

    code = -2010

    def __init__(self, detail: str = "") -> None:
        super().__init__("Account has insufficient balance for requested action.")
        self.detail = detail


class DuplicateOrder(WalletError):
    """Binance -2010: an open order of the account already has this client order id."""

    code = -2010

    def __init__(self) -> None:
        super().__init__("Duplicate order sent.")


class UnknownAccount(WalletError):
    """The account does not exist, or the caller may not see it (the two are indistinguishable)."""

    code = -1100


class UnknownOrder(WalletError):
    """Binance -2013."""

    code = -2013

    def __init__(self) -> None:
        super().__init__("Order does not exist.")
