"""The order-0 empirical entropy H0: the bound every table in codecbench compares sizes with
(``n * H0 / 8`` bytes is what no order-0 coder of a stream can beat)."""

from __future__ import annotations

import numpy as np


def h0(symbols: np.ndarray) -> float:
    """H0 of ``symbols`` (non-negative integers) in bits per symbol; 0.0 for an empty array."""
    symbols = np.asarray(symbols)
    if symbols.size == 0:
        return 0.0
    if int(symbols.max()) < 2**24:
        counts = np.bincount(symbols.reshape(-1))
    else:
        counts = np.unique(symbols, return_counts=True)[1]
    p = counts[counts > 0] / symbols.size
    return float(-(p * np.log2(p)).sum())
