"""The benchmarks' seeded synthetic symbol streams, and the sizes every codec is held against.

``gaussian256``: round(N(128, sigma)) clipped to [0, 255], sigma solved for H0 ~ 5.4 bits (the
skewed 8-bit stream of the issues' figures); ``kmeans32``: 32 levels with probabilities
proportional to a Gaussian density at the centroids, H0 ~ 3.9 bits (what 5-bit weight sharing
gives); ``uniform256``: H0 ~ 8 bits (incompressible indices).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from codecbench.succinct.entropy import entropy, h0
from codecbench.succinct.huffman_code import code_lengths


@dataclass
class Dataset:
    name: str
    alphabet_size: int
    symbols: np.ndarray  # uint32
    description: str
    params: dict[str, float] = field(default_factory=dict)


def _solve_increasing(f: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """x in [lo, hi] with f(x) == target, for f increasing (bisection)."""
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def gaussian_pmf(sigma: float, mean: float = 128.0, size: int = 256) -> np.ndarray:
    """P(clip(round(N(mean, sigma)), 0, size-1) == k): bin k is [k-0.5, k+0.5), ends take the tails."""
    edges = np.arange(size + 1, dtype=np.float64) - 0.5
    cdf = np.array([0.5 * (1.0 + math.erf((e - mean) / (sigma * math.sqrt(2.0)))) for e in edges])
    cdf[0], cdf[-1] = 0.0, 1.0
    return np.diff(cdf)


def kmeans_pmf(width: float, levels: int = 32) -> np.ndarray:
    """Cluster masses proportional to a Gaussian density at ``levels`` evenly spaced centroids."""
    k = np.arange(levels, dtype=np.float64)
    d = np.exp(-0.5 * ((k - (levels - 1) / 2) / width) ** 2)
    return d / d.sum()


def make_dataset(name: str, n: int, seed: int) -> Dataset:
    if name == "gaussian256":
        sigma = _solve_increasing(lambda s: entropy(gaussian_pmf(s)), 5.4, 0.5, 64.0)
        rng = np.random.default_rng([seed, 0])
        symbols = np.clip(np.rint(rng.normal(128.0, sigma, n)), 0, 255).astype(np.uint32)
        return Dataset(name, 256, symbols, f"round(N(128, {sigma:.3f})) clipped to [0, 255]", {"sigma": sigma})
    if name == "kmeans32":
        width = _solve_increasing(lambda w: entropy(kmeans_pmf(w)), 3.9, 0.3, 32.0)
        rng = np.random.default_rng([seed, 1])
        symbols = rng.choice(32, size=n, p=kmeans_pmf(width)).astype(np.uint32)
        return Dataset(
            name, 32, symbols, f"32 levels, p ~ Gaussian density (width {width:.3f} levels)", {"width": width}
        )
    if name == "uniform256":
        rng = np.random.default_rng([seed, 2])
        return Dataset(name, 256, rng.integers(0, 256, size=n, dtype=np.uint32), "uniform over [0, 256)")
    raise ValueError(f"unknown data set {name!r}")


DATASETS = ("gaussian256", "kmeans32", "uniform256")


def huffman_bits(symbols: np.ndarray, alphabet_size: int) -> tuple[float, int]:
    """Bits per symbol of an optimal (unlimited) Huffman code of ``symbols``, and its longest
    code; a lone symbol costs one bit per occurrence."""
    counts = np.bincount(symbols, minlength=alphabet_size)
    lengths = code_lengths(counts, 32).astype(np.int64)  # optimal unless it needs codes over 32 bits
    if np.count_nonzero(counts) == 1:
        lengths[counts > 0] = 1
    return float((lengths * counts).sum() / max(1, symbols.size)), int(lengths.max())


__all__ = ["DATASETS", "Dataset", "entropy", "h0", "huffman_bits", "make_dataset"]
