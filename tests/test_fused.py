"""Fused decoders (``codecbench.fused``) against the plain path: the same bits for every group of
units, chunk boundaries anywhere, and on corrupted symbols the same error, with nothing written
outside the group's buffer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codecbench.codecs.base import open_sequence
from codecbench.errors import CorruptDataError
from codecbench.fused import CHUNK, decode_span
from codecbench.registry import get_registry

FUSED = get_registry().names("fused")
CANARY = 0xA5


def _tensor(rng: np.random.Generator, formulation: str, shape: tuple[int, ...]) -> np.ndarray:
    if formulation == "float-split":
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)
    levels = np.linspace(-1, 1, 17).astype(np.float32)
    return np.where(rng.random(shape) < 0.3, rng.choice(levels, shape), np.float32(0))


def _opened(formulation: str, codec: str, tensor: np.ndarray, symbols: np.ndarray | None = None, **params):
    registry = get_registry()
    ras = registry.formulation(formulation).encode(tensor)
    symbols = ras.symbols if symbols is None else symbols
    seq = open_sequence(registry.codec(codec), registry.codec(codec).encode(symbols, ras.alphabet_size, **params))
    return ras, seq, registry.formulation(formulation), registry.fused(formulation, codec)


def _decode(ras, seq, formulation, fused, k0: int, k1: int, start: int, stop: int) -> tuple[bytes, str | None]:
    """The group decoded into a buffer with canaries on both sides: (bytes, error or None)."""
    n = (k1 - k0) * ras.unit_size
    padded = np.full(n + 16, CANARY, dtype=np.uint32)
    out = padded[8 : 8 + n]
    try:
        decode_span(ras, seq, formulation, fused, start, stop, k0, k1, out)
        error = None
    except CorruptDataError as exc:
        error = f"{type(exc).__name__}: {exc}"
    assert np.all(padded[:8] == CANARY) and np.all(padded[-8:] == CANARY), "wrote outside the group"
    return out.tobytes(), error


def _spans(seq, ras, cuts):
    from codecbench.formulations.base import group_spans

    return group_spans(seq, ras, cuts).tolist()


@pytest.mark.parametrize("pair", FUSED)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), units=st.integers(1, 40), unit_size=st.sampled_from([1, 7, 300, 4097]))
def test_fused_equals_plain_for_every_group(pair: str, seed: int, units: int, unit_size: int) -> None:
    formulation, codec = pair.split("/")
    rng = np.random.default_rng(seed)
    tensor = _tensor(rng, formulation, (units, unit_size))
    ras, seq, form, fused = _opened(formulation, codec, tensor)
    assert fused is not None and fused.applies(ras, seq)
    inner = sorted(set(rng.integers(1, units, size=min(3, units - 1)).tolist())) if units > 1 else []
    cuts = [0, *inner, units]
    expected = tensor.reshape(units, -1).view(np.uint32)
    for (k0, k1), (start, stop) in zip(zip(cuts[:-1], cuts[1:], strict=True), _spans(seq, ras, cuts), strict=True):
        for decoder in (fused, None):  # both into a buffer of canaries: every unit is written whole
            got, error = _decode(ras, seq, form, decoder, k0, k1, start, stop)
            assert error is None and got == expected[k0:k1].tobytes(), (k0, k1, decoder)


@pytest.mark.parametrize("pair", FUSED)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    mutations=st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 5)), min_size=1, max_size=3),
)
def test_corrupt_symbols_raise_the_plain_error(pair: str, seed: int, mutations: list[tuple[int, int]]) -> None:
    """Symbols mutated at the grammar's edges (delimiter, largest entry, beyond): the fused path
    raises exactly what the plain path raises (or decodes the same bits), inside the buffer."""
    formulation, codec = pair.split("/")
    rng = np.random.default_rng(seed)
    tensor = _tensor(rng, formulation, (9, 1500))
    ras, *_ = _opened(formulation, codec, tensor)
    symbols = ras.symbols.copy()
    edges = [0, 1, ras.delimiter - 1, ras.delimiter, 0, ras.delimiter]
    for at, kind in mutations:
        symbols[at % symbols.size] = edges[kind]
    ras, seq, form, fused = _opened(formulation, codec, tensor, symbols)
    n = len(seq)
    got = _decode(ras, seq, form, fused, 0, ras.n_units, 0, n)
    want = _decode(ras, seq, form, None, 0, ras.n_units, 0, n)
    assert got[1] == want[1]
    if want[1] is None:
        assert got[0] == want[0]


def test_chunks_cross_units_and_groups_start_anywhere() -> None:
    """A group whose span starts mid-chunk and spans several chunks (CHUNK symbols each)."""
    rng = np.random.default_rng(3)
    tensor = _tensor(rng, "float-split", (7, 3 * CHUNK + 5))
    ras, seq, form, fused = _opened("float-split", "raw", tensor)
    cuts = [0, 2, 7]
    for (k0, k1), (start, stop) in zip([(0, 2), (2, 7)], _spans(seq, ras, cuts), strict=True):
        assert start % CHUNK or k0 == 0
        got, error = _decode(ras, seq, form, fused, k0, k1, start, stop)
        assert error is None and got == tensor[k0:k1].tobytes()


@pytest.mark.parametrize("sync_every", [256, 16384])
def test_codec_blocks_smaller_or_larger_than_a_chunk(sync_every: int) -> None:
    """huffman-fast blocks of other sizes than CHUNK: the chunks follow the blocks when larger."""
    rng = np.random.default_rng(4)
    tensor = _tensor(rng, "pq-element", (5, 9000))
    ras, seq, form, fused = _opened("pq-element", "huffman-fast", tensor, sync_every=sync_every)
    assert seq.block_size == sync_every and fused.applies(ras, seq)
    (start, stop), *_ = _spans(seq, ras, [0, 5])
    got, error = _decode(ras, seq, form, fused, 0, 5, start, stop)
    assert error is None and got == tensor.tobytes()


def test_a_pair_without_a_fused_decoder_takes_the_plain_path() -> None:
    assert get_registry().fused("element", "wavelet-tree") is None
    assert {"float-split/raw", "pq-element/raw", "float-split/huffman-fast", "pq-block/huffman-fast"} <= set(FUSED)


@pytest.mark.parametrize("formulation", ["pq-element", "float-split"])
def test_the_engine_takes_the_fused_path_and_says_so(tmp_path, formulation: str) -> None:
    import torch
    from tinynet import TinyNet

    import codecbench
    from codecbench.compression import compress_state_dict
    from codecbench.executor.runner import model_engine, same_bits
    from codecbench.store.config import StoreConfig

    torch.manual_seed(1)
    net = TinyNet().eval()
    state = net.state_dict()
    if formulation == "pq-element":
        state = {
            k: torch.where(torch.rand(v.shape) < 0.3, v, torch.zeros(())) if v.ndim >= 2 else v
            for k, v in state.items()
        }
        net.load_state_dict(state)
    store = compress_state_dict(state, tmp_path / "s.zarr", StoreConfig.simple(formulation, "raw"), progress=False)
    model = codecbench.open(store).load_model(TinyNet(), profile=True, group_weights=5000)
    x = torch.randn(2, 3, 20, 20, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert same_bits(model(x), net(x))
    paths = {s.name: s.path for s in model_engine(model).stats.values()}
    assert set(paths.values()) == {"fused"}, paths
