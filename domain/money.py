"""Exact amounts: never binary floats. ``Decimal`` at every edge; hot paths may scale to integers inside."""

from __future__ import annotations

from decimal import Decimal
from typing import TypeAlias

Price: TypeAlias = Decimal  # quote asset per unit of base asset
Quantity: TypeAlias = Decimal  # base asset
Amount: TypeAlias = Decimal  # a balance, fee or notional, in the asset named beside it
