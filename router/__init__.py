"""Routing: the consolidated book (and, in later work, the smart order router, risk and kill switch)."""
from router.consolidated import ConsolidatedBook, ConsolidatedLevel, ConsolidatedMarket, Fill

__all__ = ["ConsolidatedBook", "ConsolidatedLevel", "ConsolidatedMarket", "Fill"]
