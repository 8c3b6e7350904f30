"""Symbol sequences for the conformance suites: seeded numpy generators plus hypothesis strategies.

Sequences are built by numpy from a few drawn parameters (length, alphabet size, shape of the
distribution, seed), so hypothesis shrinks a failure towards short sequences over small
alphabets while each example stays cheap to generate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

#: distribution shapes :func:`make_symbols` knows
KINDS = ("uniform", "skewed", "few-values", "runs", "single", "delimited")

#: alphabet sizes at the edges of the narrow integer types, drawn besides small ones
EDGE_ALPHABETS = (255, 256, 257, 2**16 - 1, 2**16, 2**16 + 1, 2**31 + 7, 2**32)


def make_symbols(n: int, alphabet_size: int, kind: str, seed: int) -> np.ndarray:
    """``n`` uint32 symbols over ``[0, alphabet_size)`` shaped by ``kind`` (see :data:`KINDS`).

    Every kind except ``single`` puts ``alphabet_size - 1`` somewhere when ``n >= 2``, so the top
    of the alphabet (the widest value) is always exercised.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    rng = np.random.default_rng(seed)
    sigma = int(alphabet_size)
    if n == 0:
        return np.empty(0, dtype=np.uint32)
    # a handful of distinct values spread over the whole alphabet, always including both ends
    ends = np.array([0, sigma - 1], dtype=np.uint64)
    spread = np.unique(np.concatenate([ends, rng.integers(0, sigma, size=6, dtype=np.uint64)]))
    if kind == "uniform":
        s = rng.integers(0, sigma, size=n, dtype=np.uint64)
    elif kind == "skewed":  # geometric: a few symbols dominate, a long tail of rare ones
        s = np.minimum(rng.geometric(0.3, size=n) - 1, sigma - 1).astype(np.uint64)
    elif kind == "few-values":
        p = rng.dirichlet(np.full(spread.size, 0.5))
        s = spread[rng.choice(spread.size, size=n, p=p)]
    elif kind == "runs":
        lengths = rng.geometric(0.02, size=n)
        values = spread[rng.integers(0, spread.size, size=n)]
        s = np.repeat(values, lengths)[:n]
    elif kind == "single":
        s = np.full(n, rng.integers(0, sigma, dtype=np.uint64), dtype=np.uint64)
    else:  # "delimited": what an element RAS looks like, units of values with the top symbol between them
        unit = int(rng.integers(1, 40))
        s = np.minimum(rng.geometric(0.1, size=n) - 1, max(sigma - 2, 0)).astype(np.uint64)
        s[unit :: unit + 1] = sigma - 1
    if kind != "single" and n >= 2:
        s[rng.integers(0, n)] = sigma - 1
    return s.astype(np.uint32)


@st.composite
def symbol_sequences(
    draw: Any, max_n: int = 2000, max_alphabet: int = 2**32, kinds: tuple[str, ...] = KINDS
) -> tuple[np.ndarray, int]:
    """``(symbols, alphabet_size)``: small and edge-of-type alphabets, every kind of :data:`KINDS`."""
    edges = [a for a in EDGE_ALPHABETS if a <= max_alphabet]
    small = st.integers(1, min(300, max_alphabet))
    sigma = draw(st.one_of(small, st.sampled_from(edges)) if edges else small)
    n = draw(st.integers(0, max_n))
    kind = draw(st.sampled_from(kinds))
    seed = draw(st.integers(0, 2**32 - 1))
    return make_symbols(n, sigma, kind, seed), sigma
