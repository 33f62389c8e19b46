"""The withdrawal anomaly model: an IsolationForest over per-withdrawal features.

Features of a withdrawal, from the account's history before it:

1. its value (log10 of 1 + value);
2. its value against the account's earlier withdrawals (log10 of value / their median; 0 with none);
3. hours since the account's last deposit (log10 of 1 + hours; 10 years when it never deposited);
4. whether the destination is new for the account (1) or was used before (0);
5. the account's withdrawals in the 24 hours before (count);
6. its value against what the account deposited in the last 30 days (capped at 10).

The model is trained on the population's withdrawals (each with its own account's history at the time),
with a fixed ``random_state``, so the same history always gives the same scores. The score is the
IsolationForest anomaly score (``-score_samples``): about 0.5 for ordinary withdrawals, towards 1 for
isolated ones. Features and scores are statistics, not money, so binary floats are fine here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from statistics import median
from typing import TYPE_CHECKING

import numpy as np

from compliance.aml import DAY_MS, HOUR_MS, History, MoneyEvent

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest

FEATURES = (
    "log_value",
    "log_vs_median",
    "log_hours_since_deposit",
    "new_address",
    "withdrawals_24h",
    "vs_deposits_30d",
)
NEVER_DEPOSITED_H = 10 * 365 * 24


def withdrawal_features(e: MoneyEvent, history: History) -> list[float]:
    past = history.before(e.account_id, e.time_ms + 1)
    past = [x for x in past if x.ref != e.ref]
    value = float(e.value)
    prior_w = [float(x.value) for x in past if x.kind == "withdrawal"]
    med = median(prior_w) if prior_w else 0.0
    vs_median = math.log10(max(value, 1e-9) / med) if med > 0 else 0.0
    deposits = [x for x in past if x.kind == "deposit"]
    hours = (e.time_ms - deposits[-1].time_ms) / HOUR_MS if deposits else NEVER_DEPOSITED_H
    used = {x.address for x in past if x.kind == "withdrawal" and x.address}
    new_address = 1.0 if e.address and e.address not in used else 0.0
    w24 = sum(1 for x in past if x.kind == "withdrawal" and x.time_ms > e.time_ms - DAY_MS)
    dep30 = sum((x.value for x in deposits if x.time_ms > e.time_ms - 30 * DAY_MS), Decimal(0))
    vs_dep = min(10.0, value / float(dep30)) if dep30 > 0 else 10.0
    return [math.log10(1 + value), vs_median, math.log10(1 + max(hours, 0.0)), new_address, float(w24), vs_dep]


def population_features(events: Iterable[MoneyEvent], retention_ms: int = 90 * DAY_MS) -> list[list[float]]:
    """The features of every withdrawal in ``events`` (time order), each against the history before it."""
    h = History(retention_ms)
    rows: list[list[float]] = []
    for e in sorted(events, key=lambda x: (x.time_ms, x.ref)):
        if e.kind == "withdrawal":
            rows.append(withdrawal_features(e, h))
        h.add(e)
    return rows


class AnomalyModel:
    """An IsolationForest fitted on the population's withdrawal features."""

    def __init__(self, random_state: int = 0, n_estimators: int = 200) -> None:
        self.random_state = random_state
        self.n_estimators = n_estimators
        self._forest: IsolationForest | None = None
        self.trained_on = 0

    @property
    def trained(self) -> bool:
        return self._forest is not None

    def fit(self, rows: Sequence[Sequence[float]]) -> AnomalyModel:
        if len(rows) < 2:
            raise ValueError(f"the anomaly model needs at least 2 withdrawals to learn from, had {len(rows)}")
        # imported on first fit: scikit-learn takes over a second to import, and most commands never train
        from sklearn.ensemble import IsolationForest

        self._forest = IsolationForest(
            n_estimators=self.n_estimators, random_state=self.random_state, contamination="auto"
        ).fit(np.asarray(rows, dtype=float))
        self.trained_on = len(rows)
        return self

    def fit_events(self, events: Iterable[MoneyEvent]) -> AnomalyModel:
        return self.fit(population_features(events))

    def score_features(self, row: Sequence[float]) -> float:
        if self._forest is None:
            raise ValueError("the anomaly model is not trained")
        return float(-self._forest.score_samples(np.asarray([row], dtype=float))[0])

    def score(self, e: MoneyEvent, history: History) -> float | None:
        """The score of withdrawal ``e`` given the history before it; None while untrained."""
        if self._forest is None or e.kind != "withdrawal":
            return None
        return round(self.score_features(withdrawal_features(e, history)), 6)
