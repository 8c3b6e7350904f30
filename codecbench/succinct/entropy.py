"""The order-0 empirical entropy H0: the bound every table in codecbench compares sizes with
(``n * H0 / 8`` bytes is what no order-0 coder of a stream can beat)."""

from __future__ import annotations

import numpy as np


def entropy(weights: np.ndarray) -> float:
    """Shannon entropy in bits of the distribution proportional to ``weights`` (counts or
    probabilities; zeros ignored); 0.0 for an empty or all-zero one."""
    w = np.asarray(weights, dtype=np.float64)
    w = w[w > 0]
    if w.size == 0:
        return 0.0
    p = w / w.sum()
    return float(-(p * np.log2(p)).sum())


def h0(symbols: np.ndarray) -> float:
    """H0 of ``symbols`` (non-negative integers) in bits per symbol; 0.0 for an empty array."""
    symbols = np.asarray(symbols).reshape(-1)
    if symbols.size == 0:
        return 0.0
    counts = np.bincount(symbols) if int(symbols.max()) < 2**24 else np.unique(symbols, return_counts=True)[1]
    return entropy(counts)
