"""Routing: the consolidated book, the smart order router and its planner, paper execution, pre-trade risk
and the kill switch."""

from router.consolidated import ConsolidatedBook, ConsolidatedLevel, ConsolidatedMarket, Fill
from router.inventory import Inventory
from router.killswitch import AnomalyRule, KillSwitch, Scope
from router.market import MarketData
from router.paper import PaperVenue
from router.planner import ChildPlan, Plan, VenueTerms, plan
from router.reasons import Rejection, RejectReason, error_of
from router.report import ExecutionReport, ParentFill, ParentOrder
from router.risk import PreTradeRisk, RiskLimits
from router.sor import SmartOrderRouter

__all__ = [
    "AnomalyRule",
    "ChildPlan",
    "ConsolidatedBook",
    "ConsolidatedLevel",
    "ConsolidatedMarket",
    "ExecutionReport",
    "Fill",
    "Inventory",
    "KillSwitch",
    "MarketData",
    "PaperVenue",
    "ParentFill",
    "ParentOrder",
    "Plan",
    "PreTradeRisk",
    "RejectReason",
    "Rejection",
    "RiskLimits",
    "Scope",
    "SmartOrderRouter",
    "VenueTerms",
    "error_of",
    "plan",
]
