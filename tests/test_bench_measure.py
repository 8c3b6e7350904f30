"""Per-layer measurement (``codecbench.compression.measure``): every timed pass is checked bit-exact,
one formulation encode per layer is shared by the codecs, and the paper's slow baseline is
limited and measured whole."""

from __future__ import annotations

import numpy as np
import pytest

from codecbench.compression import measure
from codecbench.compression.measure import Pair, measure_layer, measure_pair, time_decode

rng = np.random.default_rng(11)
LEVELS = np.linspace(-1, 1, 16, dtype=np.float32)
TENSOR = np.where(rng.random((96, 40)) < 0.3, rng.choice(LEVELS, (96, 40)), np.float32(0)).astype(np.float32)


def test_timed_passes_check_every_group() -> None:
    result, blob = measure_layer(TENSOR, Pair("pq-element", "huffman-fast"), reps=2, group_weights=200)
    assert result.stored_bytes == len(blob) and result.decode_s > 0 and result.encode_s > 0
    other = TENSOR.copy()
    other[50, 3] = np.float32(7.0)  # one weight differs: the pass that decodes it must say so
    with pytest.raises(AssertionError, match="WRONG ANSWER: pq-element/huffman-fast units "):
        time_decode(blob, other, reps=1, group_weights=200)


def test_one_formulation_encode_per_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = measure.encode_ras
    monkeypatch.setattr(measure, "encode_ras", lambda t, p: calls.append(p.formulation) or real(t, p))
    encoded: dict = {}
    for codec in ("raw", "huffman-fast", "wavelet-tree"):
        result, _ = measure_pair(TENSOR, Pair("element", codec), encoded, reps=1)
        assert result.stored_bytes and result.h0_bits > 0
    measure_pair(TENSOR, Pair("pq-element", "raw"), encoded, reps=1)
    assert calls == ["element", "pq-element"]


def test_slow_codec_sized_on_long_layers_and_timed_whole() -> None:
    """A ``slow`` codec (the paper's huffman) is encoded on a layer above ``slow_max_symbols``
    for its size (so whole-model totals have its column) but not timed; below, it is timed."""
    pair = Pair("element", "huffman")
    sized, blob = measure_layer(TENSOR, pair, slow_max_symbols=100)
    assert sized.skipped is None and sized.stored_bytes == len(blob) and sized.decode_s is None
    assert sized.untimed == f"{sized.n_symbols} symbols > 100 for this pure-Python codec: size only"
    measured, blob = measure_layer(TENSOR, pair)
    assert measured.untimed is None and measured.decode_s > 0 and measured.stored_bytes == sized.stored_bytes
