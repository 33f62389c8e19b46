"""The broker's treasury: inventory per venue and per wallet, and approved rebalancing transfers.

Public face: ``Treasury`` (inventory, plan, propose, approve, execute, reconcile), its records
(``Transfer``, ``Inventory``, ``Holding``), the approval hook (``ApprovalHook``, ``TableApprovals``,
``ApprovalRefused``), the hot wallet's band keeper (``HotCold``: hot -> cold above the ceiling, cold -> hot
below the floor), the protocols it is given (``WalletBalances``, ``HotWalletSender``, ``Authorizer``,
``AuditSink``), ``TreasuryError``.
"""

from treasury.approvals import ApprovalHook, ApprovalRefused, TableApprovals
from treasury.hotcold import COLD_TO_HOT, HOT_TO_COLD, Band, HotBalances, HotCold, NodeHotBalances, bands
from treasury.service import (
    HOT_TO_VENUE,
    VENUE_TO_HOT,
    AuditSink,
    Authorizer,
    Holding,
    HotWalletSender,
    Inventory,
    Transfer,
    Treasury,
    TreasuryError,
    WalletBalances,
)

__all__ = [
    "COLD_TO_HOT",
    "HOT_TO_COLD",
    "Band",
    "HotBalances",
    "HotCold",
    "NodeHotBalances",
    "bands",
    "HOT_TO_VENUE",
    "VENUE_TO_HOT",
    "ApprovalHook",
    "ApprovalRefused",
    "AuditSink",
    "Authorizer",
    "Holding",
    "HotWalletSender",
    "Inventory",
    "TableApprovals",
    "Transfer",
    "Treasury",
    "TreasuryError",
    "WalletBalances",
]
