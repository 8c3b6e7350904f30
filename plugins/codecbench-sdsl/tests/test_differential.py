"""Differential test: codecbench's own ``wavelet-tree`` (both shapes) against sdsl-lite, answer for
answer, on 1,000 seeded generated sequences (every kind of ``codecbench.testing.make_symbols``, small
and edge-of-type alphabets, lengths 0..300), for every sdsl variant.

Each sequence is encoded by ``wavelet-tree`` with ``shape = "huffman"`` and ``"balanced"`` and by the
``sdsl`` codec in all four variants; the six opened sequences must give identical answers to the
same queries: ``access`` (every position of short sequences, ends and random ones of longer
ones), ``extract`` over the whole sequence and random and edge ranges, ``rank`` of
present and absent symbols at many positions, ``select_many`` of every occurrence of a few symbols
(``select`` of a sample of them), and the same documented error for a select beyond the count. numpy answers too, so
a disagreement names who is wrong.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "codecbench_sdsl",
    reason="codecbench-sdsl is not installed (it needs libsdsl-dev and a C++ compiler: see plugins/codecbench-sdsl/README.md)",
)

from codecbench_sdsl import VARIANTS  # noqa: E402

from codecbench.registry import get_registry  # noqa: E402
from codecbench.testing.strategies import EDGE_ALPHABETS, KINDS, make_symbols  # noqa: E402

SEQUENCES = 1000
MAX_N = 300
SMALL_ALPHABETS = (1, 2, 3, 4, 5, 7, 8, 16, 31, 64, 100, 255, 256, 300)


def generated(count: int, seed: int = 2024):
    """``count`` (symbols, alphabet_size) pairs, seeded; every kind x many alphabets."""
    rng = np.random.default_rng(seed)
    alphabets = SMALL_ALPHABETS + EDGE_ALPHABETS
    for j in range(count):
        sigma = int(alphabets[j % len(alphabets)])
        kind = KINDS[(j // len(alphabets)) % len(KINDS)]
        n = int(rng.integers(0, MAX_N + 1)) if j % 10 else int(rng.integers(0, 4))
        yield make_symbols(n, sigma, kind, int(rng.integers(0, 2**32))), sigma


def codecs_under_test() -> list[tuple[str, object, dict]]:
    registry = get_registry()
    ours, sdsl = registry.codec("wavelet-tree"), registry.codec("sdsl")
    rows = [(f"wavelet-tree[{shape}]", ours, {"shape": shape}) for shape in ("huffman", "balanced")]
    rows += [(f"sdsl[{variant}]", sdsl, {"variant": variant}) for variant in VARIANTS]
    return rows


def access_positions(n: int, rng: np.random.Generator) -> list[int]:
    """Every position of a short sequence; the ends and 48 random ones of a longer one."""
    if n <= 64:
        return list(range(n))
    return sorted({0, 1, n - 2, n - 1, *rng.integers(0, n, size=48).tolist()})


def select_ks(total: int, rng: np.random.Generator) -> list[int]:
    """Every k of a rare symbol; the ends and 16 random ks of a frequent one (select_many takes all)."""
    if total <= 24:
        return list(range(1, total + 1))
    return sorted({1, 2, total - 1, total, *rng.integers(1, total + 1, size=16).tolist()})


def answers(seq, s: np.ndarray, sigma: int, rng: np.random.Generator) -> dict:
    """Every query's answer, keyed by the query (the same keys for every codec: rng is re-seeded)."""
    n = s.size
    out: dict = {"len": len(seq), "alphabet": seq.alphabet_size}
    out["access"] = {i: int(seq.access(i)) for i in access_positions(n, rng)}
    ranges = [(0, n), (0, 0), (n, n), (0, min(n, 1)), (max(0, n - 1), n)]
    ranges += [tuple(sorted(rng.integers(0, n + 1, size=2).tolist())) for _ in range(6)]
    out["extract"] = {r: seq.extract(*r).tolist() for r in ranges}
    present = np.unique(s).tolist()
    probe = sorted(set(present[:3] + present[-2:] + rng.integers(0, sigma, size=3).tolist() + [0, sigma - 1]))
    positions = sorted({0, n, *rng.integers(0, n + 1, size=6).tolist()})
    out["rank"] = {(c, i): int(seq.rank(c, i)) for c in probe for i in positions}
    out["select"] = {}
    for c in probe:
        total = out["rank"][(c, n)]
        ks = np.arange(1, total + 1)
        out["select"][c] = {k: int(seq.select(c, k)) for k in select_ks(total, rng)}
        out["select_many", c] = seq.select_many(c, ks[::-1]).tolist()
        with pytest.raises(IndexError):
            seq.select(c, total + 1)
    return out


def reference(s: np.ndarray, sigma: int, rng: np.random.Generator) -> dict:
    """numpy's answers to the same queries (the same rng draws as :func:`answers`)."""
    n = s.size
    out: dict = {"len": n, "alphabet": sigma}
    out["access"] = {i: int(s[i]) for i in access_positions(n, rng)}
    ranges = [(0, n), (0, 0), (n, n), (0, min(n, 1)), (max(0, n - 1), n)]
    ranges += [tuple(sorted(rng.integers(0, n + 1, size=2).tolist())) for _ in range(6)]
    out["extract"] = {(a, b): s[a:b].tolist() for a, b in ranges}
    present = np.unique(s).tolist()
    probe = sorted(set(present[:3] + present[-2:] + rng.integers(0, sigma, size=3).tolist() + [0, sigma - 1]))
    positions = sorted({0, n, *rng.integers(0, n + 1, size=6).tolist()})
    out["rank"] = {(c, i): int(np.count_nonzero(s[:i] == c)) for c in probe for i in positions}
    out["select"] = {}
    for c in probe:
        where = np.flatnonzero(s == c)
        out["select"][c] = {k: int(where[k - 1]) for k in select_ks(where.size, rng)}
        out["select_many", c] = where[::-1].tolist()
    return out


def test_wavelet_tree_and_sdsl_agree_answer_for_answer() -> None:
    rows = codecs_under_test()
    compared = 0
    for index, (s, sigma) in enumerate(generated(SEQUENCES)):
        expected = reference(s, sigma, np.random.default_rng(index))
        got = {}
        for label, codec, params in rows:
            seq = codec.open(codec.encode(s, sigma, **params))
            got[label] = answers(seq, s, sigma, np.random.default_rng(index))
        first = rows[0][0]
        for label, result in got.items():
            for key in expected:
                assert result[key] == got[first][key], (
                    f"sequence {index} (n={s.size}, alphabet {sigma}): {label} and {first} disagree on {key}; "
                    f"numpy agrees with {label if result[key] == expected[key] else first if got[first][key] == expected[key] else 'neither'}"
                )
        assert got[first] == expected, f"sequence {index}: every codec agrees, numpy does not"
        compared += 1
    assert compared == SEQUENCES >= 1000
