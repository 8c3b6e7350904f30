"""``CodecConformance``: the tests every codec, built-in or plugin, runs against the codec contract.

Subclass it in a test module (the name must start with ``Test`` for pytest to collect it)::

    from codecbench.testing import CodecConformance

    class TestZstd(CodecConformance):
        codec_name = "zstd"
        distribution = "codecbench-zstd"          # optional: who must have registered it
        extra_params = [{"block_size": 64}]       # optional: more parameter sets to exercise

No test method takes a fixture except the slow end-to-end one (``tmp_path``, ``capsys``), so a
test can also instantiate a suite and call one check directly (that is how the suite's own tests show
that it catches broken codecs). What is checked (see each method's docstring):

- the codec is in the registry under its name (and from the declared distribution); its
  ``params`` are declared and unknown parameters raise ``ValueError`` naming them;
- fixed edge cases and hypothesis-generated sequences, for every parameter set:
  ``access``/``rank``/``select``/``select_many``/``extract`` against a naive numpy reference,
  including every documented ``IndexError``/``ValueError`` and oversized (``2**64``) arguments;
- round trips through ``bytes``, ``bytearray``, ``memoryview`` and (unaligned) numpy buffers;
  ``encode`` deterministic, accepting lists and any integer dtype, rejecting bad input;
- one longer sequence (``long_n`` symbols) crossing many blocks/sync points;
- hostile buffers: truncations, appended bytes, bit flips in the header and the body, random
  garbage: ``CorruptDataError`` or a valid-but-different answer, never a crash or a hang;
- the codec inside a store chunk (the ``element`` formulation, ``group_spans``, ``decode_units``);
- (``slow``) AlexNet end to end: ``codecbench compress alexnet ... --codec NAME``, then
  ``codecbench run STORE --check``: bit-identical to the dense model.

Class attributes tune cost; the defaults keep one codec's suite to seconds (without the slow case).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from codecbench.errors import CorruptDataError
from codecbench.testing.checks import (
    _may_parse,
    check_codec_roundtrip,
    check_hostile_buffers,
    check_oversized_arguments,
    check_sequence_against,
    naive_rank,
    naive_select,
)
from codecbench.testing.strategies import make_symbols, symbol_sequences

#: fixed cases every codec must get right: name -> (symbols, alphabet_size)
FIXED_CASES: dict[str, tuple[np.ndarray, int]] = {
    "empty-a1": (np.array([], dtype=np.uint32), 1),
    "empty-a256": (np.array([], dtype=np.uint32), 256),
    "n1-a1": (np.array([0], dtype=np.uint32), 1),
    "n1-a2": (np.array([1], dtype=np.uint32), 2),
    "n1-a300": (np.array([299], dtype=np.uint32), 300),
    "n1-a2**32": (np.array([2**32 - 1], dtype=np.uint32), 2**32),
    "a1-n100": (np.zeros(100, dtype=np.uint32), 1),
    "a2-alternating": (np.arange(257, dtype=np.uint32) % 2, 2),
    "a3-all-one-symbol": (np.full(70, 2, dtype=np.uint32), 3),
    "a2**32-large-values": (
        np.array([2**32 - 1, 0, 2**31, 2**32 - 2, 1, 2**31 - 1, 2**32 - 1, 12345678, 0, 2**32 - 1], dtype=np.uint32),
        2**32,
    ),
    "a257-uniform-1000": (make_symbols(1000, 257, "uniform", 1), 257),
    "a65537-few-values-700": (make_symbols(700, 2**16 + 1, "few-values", 2), 2**16 + 1),
}

#: ``encode`` input the contract says must raise ``ValueError``: name -> (symbols, alphabet_size)
BAD_INPUT: dict[str, tuple[Any, int]] = {
    "symbol-equal-to-alphabet": (np.array([0, 1, 3], dtype=np.uint32), 3),
    "single-symbol-too-big": (np.array([5], dtype=np.uint8), 5),
    "negative-symbol": (np.array([0, -1], dtype=np.int64), 3),
    "symbol-2**32": (np.array([2**32], dtype=np.uint64), 2**32),
    "2-d": (np.array([[0, 1], [1, 0]], dtype=np.uint32), 2),
    "0-d": (np.array(1, dtype=np.uint32), 2),
    "float64": (np.array([0.0, 1.0]), 2),
    "float32": (np.array([0.0, 1.0], dtype=np.float32), 2),
    "alphabet-0": (np.array([0, 1], dtype=np.uint32), 0),
    "alphabet-negative": (np.array([0, 1], dtype=np.uint32), -3),
    "alphabet-2**32+1": (np.array([0, 1], dtype=np.uint32), 2**32 + 1),
}


class CodecConformance:
    """Base class of a codec's conformance tests. Set :attr:`codec_name`; tune the rest if needed."""

    #: the registered name of the codec under test (required)
    codec_name: ClassVar[str] = ""
    #: the distribution that must have registered it (``"codecbench"`` for built-ins); None: any
    distribution: ClassVar[str | None] = None
    #: encode parameters every check uses (merged over the codec's defaults by the codec itself)
    params: ClassVar[dict[str, Any]] = {}
    #: more parameter sets: each runs the fixed cases, the generated sequences and the long one
    #: (small block sizes or sync intervals, so that short sequences cross many boundaries)
    extra_params: ClassVar[list[dict[str, Any]]] = []
    #: hypothesis examples per parameter set, longest generated sequence, largest alphabet
    max_examples: ClassVar[int] = 20
    max_n: ClassVar[int] = 1500
    max_alphabet: ClassVar[int] = 2**32
    #: length of the one long sequence (Gaussian-like over 256 values, delimiters every ~100)
    long_n: ClassVar[int] = 100_000
    #: hostile-buffer checks: bytes whose every bit is flipped, whether a payload records its own
    #: length (so truncations and appended bytes must raise), random body flips, payload length
    header_size: ClassVar[int] = 64
    strict_length: ClassVar[bool] = True
    body_flips: ClassVar[int] = 32
    hostile_n: ClassVar[int] = 2000
    #: the slow AlexNet case: True, or a string saying why it is skipped (e.g. covered elsewhere)
    alexnet: ClassVar[bool | str] = True
    #: weight levels of the AlexNet case, and extra ``codecbench run`` arguments (e.g. a larger
    #: ``--group-weights`` for codecs that decode from the start of the stream)
    alexnet_levels: ClassVar[int] = 256
    alexnet_run_args: ClassVar[list[str]] = []

    # ------------------------------------------------------------------ helpers

    def registry(self) -> Any:
        from codecbench.registry import get_registry

        return get_registry()

    def codec(self) -> Any:
        """The codec under test (from the registry; override to test an unregistered class)."""
        if not self.codec_name:
            raise TypeError(f"{type(self).__name__} must set codec_name")
        return self.registry().codec(self.codec_name)

    def param_sets(self) -> list[dict[str, Any]]:
        return [dict(self.params), *(dict(p) for p in self.extra_params)]

    def encode(self, symbols: Any, alphabet_size: int, params: dict[str, Any] | None = None) -> bytes:
        return self.codec().encode(symbols, alphabet_size, **(self.params if params is None else params))

    # ------------------------------------------------------------------ registry and parameters

    def test_registered(self) -> None:
        """The registry knows the codec by its name, from the declared distribution."""
        registry = self.registry()
        assert self.codec_name in registry.names("codec"), f"codec {self.codec_name!r} is not registered"
        entry = registry.entry("codec", self.codec_name)
        assert entry.cls.name == self.codec_name
        if self.distribution is not None:
            assert entry.distribution == self.distribution, f"registered by {entry.source}"
        codec = self.codec()
        assert codec.name == self.codec_name
        assert callable(codec.encode) and callable(codec.open)

    def test_params_declared(self) -> None:
        """Parameters the suite uses are declared in ``Codec.params``; unknown ones raise naming them."""
        codec = self.codec()
        assert isinstance(codec.params, dict)
        for params in self.param_sets():
            undeclared = set(params) - set(codec.params)
            assert not undeclared, f"parameters {sorted(undeclared)} are not in {type(codec).__name__}.params"
        with pytest.raises(ValueError, match="no_such_parameter_xyz"):
            codec.encode(np.array([0, 1], dtype=np.uint32), 2, no_such_parameter_xyz=1)

    # ------------------------------------------------------------------ queries against the reference

    @pytest.mark.parametrize("case", sorted(FIXED_CASES))
    def test_fixed_cases(self, case: str) -> None:
        """Edge cases (empty, one symbol, alphabet 1 and 2**32, ...) in every buffer flavour."""
        symbols, alphabet_size = FIXED_CASES[case]
        codec = self.codec()
        for params in self.param_sets():
            data = check_codec_roundtrip(codec, symbols, alphabet_size, np.random.default_rng(1), **params)
            check_oversized_arguments(codec.open(data))

    def test_generated_sequences(self) -> None:
        """Hypothesis-generated sequences (every kind of :data:`~codecbench.testing.strategies.KINDS`,
        small and edge-of-type alphabets): every query against the naive reference."""
        codec = self.codec()
        for params in self.param_sets():
            self._reference_property(codec, params)()

    def _reference_property(self, codec: Any, params: dict[str, Any]) -> Any:
        @settings(
            max_examples=self.max_examples,
            deadline=None,
            database=None,
            report_multiple_bugs=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(case=symbol_sequences(max_n=self.max_n, max_alphabet=self.max_alphabet))
        def run(case: tuple[np.ndarray, int]) -> None:
            symbols, sigma = case
            seq = codec.open(codec.encode(symbols, sigma, **params))
            check_sequence_against(seq, symbols, sigma, np.random.default_rng(symbols.size))

        return run

    def test_encode_is_deterministic_and_accepts_any_integer_input(self) -> None:
        """The same symbols give the same bytes from a list or any integer dtype; input is not mutated."""
        symbols = make_symbols(300, 7, "skewed", 3)
        for params in self.param_sets():
            reference = self.encode(symbols, 7, params)
            kept = symbols.copy()
            assert self.encode(symbols, 7, params) == reference
            assert self.encode(symbols.tolist(), 7, params) == reference
            for dtype in (np.uint8, np.int16, np.int64, np.uint64):
                assert self.encode(symbols.astype(dtype), 7, params) == reference, dtype
            assert self.encode(symbols[::-1][::-1], 7, params) == reference  # a strided view
            np.testing.assert_array_equal(symbols, kept)

    @pytest.mark.parametrize("case", sorted(BAD_INPUT))
    def test_encode_rejects_bad_input(self, case: str) -> None:
        """Symbols outside the alphabet, wrong shapes or dtypes, alphabets outside [1, 2**32]: ValueError."""
        symbols, alphabet_size = BAD_INPUT[case]
        with pytest.raises(ValueError):
            self.encode(symbols, alphabet_size)

    def test_long_sequence(self) -> None:
        """``long_n`` symbols over 257 (a delimiter every ~100): full and partial extracts, access,
        rank, select and select_many against the reference, across many blocks."""
        n = self.long_n
        rng = np.random.default_rng(7)
        s = np.clip(np.rint(rng.normal(128, 20, size=n)), 0, 255).astype(np.uint32)
        s[rng.integers(0, n, size=max(1, n // 100))] = 256
        codec = self.codec()
        for params in self.param_sets():
            seq = codec.open(codec.encode(s, 257, **params))
            assert len(seq) == n and seq.alphabet_size == 257
            np.testing.assert_array_equal(seq.extract(0, n), s)
            for _ in range(12):
                a = int(rng.integers(0, n))
                b = int(rng.integers(a, min(n, a + 5000) + 1))
                np.testing.assert_array_equal(seq.extract(a, b), s[a:b], err_msg=f"extract({a}, {b})")
            for i in rng.integers(0, n, size=40).tolist():
                assert seq.access(i) == s[i], f"access({i})"
            for c in (256, 128, 0, 255):
                for i in sorted({0, n, *rng.integers(0, n + 1, size=8).tolist()}):
                    assert seq.rank(c, i) == naive_rank(s, c, i), f"rank({c}, {i})"
            positions = np.flatnonzero(s == 256)
            ks = np.arange(1, positions.size + 1)
            np.testing.assert_array_equal(seq.select_many(256, ks), positions)
            np.testing.assert_array_equal(seq.select_many(256, ks[::-1]), positions[::-1])
            for c in (256, 128):
                total = naive_rank(s, c, n)
                for k in sorted({1, total, *rng.integers(1, total + 1, size=8).tolist()}):
                    assert seq.select(c, k) == naive_select(s, c, k), f"select({c}, {k})"

    # ------------------------------------------------------------------ hostile bytes

    def hostile_payloads(self) -> dict[str, bytes]:
        """Good payloads the hostile checks damage (override to add codec-specific ones)."""
        n = self.hostile_n
        return {
            "empty": self.encode(np.empty(0, dtype=np.uint32), 1),
            "n50-a5": self.encode(make_symbols(50, 5, "skewed", 4), 5),
            f"n{n}-a300": self.encode(make_symbols(n, 300, "delimited", 5), 300),
        }

    def test_hostile_buffers(self) -> None:
        """Truncations, appended bytes, every header bit flipped, random body bits flipped, garbage:
        ``CorruptDataError`` or a valid-but-different answer; queries raise only documented errors."""
        codec = self.codec()
        for name, good in self.hostile_payloads().items():
            try:
                check_hostile_buffers(
                    codec,
                    good,
                    header_size=self.header_size,
                    strict_length=self.strict_length,
                    rng=np.random.default_rng(len(good)),
                    body_flips=self.body_flips,
                )
            except AssertionError as exc:
                raise AssertionError(f"payload {name!r}: {exc}") from exc

    def test_garbage_buffers(self) -> None:
        """An empty buffer raises ``CorruptDataError``; short random or zero buffers never crash."""
        codec = self.codec()
        with pytest.raises(CorruptDataError):
            codec.open(b"")
        rng = np.random.default_rng(99)
        for size in (1, 7, 8, 31, 32, 63, 64, 65, 200, 1000):
            _may_parse(codec, rng.integers(0, 256, size=size, dtype=np.uint8).tobytes(), f"{size} random bytes")
            _may_parse(codec, bytes(size), f"{size} zero bytes")

    # ------------------------------------------------------------------ inside a store

    def test_store_chunk(self) -> None:
        """A tensor through the ``element`` formulation and this codec in a store chunk: whole-tensor
        decode and per-group ``group_spans`` + ``decode_units`` are bit-exact."""
        from codecbench.formulations.base import group_spans
        from codecbench.store.chunk import check_sequence, decode_chunk, encode_chunk, parse_chunk

        rng = np.random.default_rng(11)
        tensor = (rng.integers(-8, 8, size=(37, 3, 3, 3)) * 0.125).astype(np.float32)
        tensor[5, 0, 0, 0] = -0.0
        blob = encode_chunk(tensor, "element", self.codec_name, codec_params=self.params)
        decoded = decode_chunk(blob)
        assert decoded.dtype == tensor.dtype and decoded.shape == tensor.shape
        assert decoded.tobytes() == tensor.tobytes()
        parsed = parse_chunk(blob)
        formulation = self.registry().formulation("element")
        seq = self.codec().open(parsed.payload)
        check_sequence(parsed, seq)
        cuts = [0, 1, 2, 10, 36, 37]
        spans = group_spans(seq, parsed.ras, cuts)
        for (k0, k1), (start, stop) in zip(zip(cuts[:-1], cuts[1:], strict=True), spans.tolist(), strict=True):
            got = formulation.decode_units(parsed.ras, seq.extract(start, stop), k0, k1)
            assert got.tobytes() == tensor[k0:k1].tobytes(), f"units [{k0}, {k1})"

    # ------------------------------------------------------------------ end to end

    @pytest.mark.slow
    def test_alexnet_run_check(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``codecbench compress alexnet --weights Q --config C`` then ``codecbench run --check``:
        the compressed model's outputs are bit-identical to the dense model's. The config codes
        every conv and the last fc layer (6.5M weights) with this codec and keeps fc6/fc7 (54M,
        the same kind of layer as fc8) plain: the end-to-end path is the same and the case runs
        in a fifth of the time."""
        if self.alexnet is not True:
            pytest.skip(str(self.alexnet) or "AlexNet case disabled")
        from codecbench.cli import main
        from codecbench.testing.models import quantized_alexnet_weights

        weights = quantized_alexnet_weights(self.alexnet_levels)
        store = tmp_path / f"alexnet-{self.codec_name}.zarr"
        config = tmp_path / "codec.toml"
        config.write_text(
            f'[default]\nformulation = "element"\ncodec = {json.dumps(self.codec_name)}\n'
            + (f"codec_params = {_toml_inline(self.params)}\n" if self.params else "")
            + '\n[[rules]]\nmatch = "classifier.[14].weight"\nstorage = "plain"\n'
        )
        argv = ["compress", "alexnet", "--weights", str(weights), "-o", str(store), "--quiet", "--config", str(config)]
        assert main(argv) == 0
        capsys.readouterr()
        assert main(["run", str(store), "--check", "--json", *self.alexnet_run_args]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["bit_identical"] is True
        from codecbench.executor.runner import open_model_store

        opened = open_model_store(store)
        assert opened.info("classifier.6.weight")["codec"] == self.codec_name
        assert opened.info("features.0.weight")["codec"] == self.codec_name
        assert opened.info("classifier.1.weight")["storage"] == "plain"


def _toml_inline(params: dict[str, Any]) -> str:
    """``{ key = value, ... }`` for JSON-like scalars (TOML and JSON agree on these)."""
    items = []
    for key, value in params.items():
        if not isinstance(value, str | int | float | bool):
            raise TypeError(f"parameter {key!r}: only scalars can go into a config here, got {value!r}")
        items.append(f"{key} = {json.dumps(value)}")
    return "{ " + ", ".join(items) + " }"
