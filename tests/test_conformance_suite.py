"""The conformance suites catch broken codecs and formulations (a suite that cannot fail proves nothing).

Each broken plugin below differs from a correct built-in in one way; the named suite checks must
fail on it, while the same checks pass on the correct built-in (``tests/test_conformance_builtin.py``).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest

from codecbench.codecs.raw import RawCodec, RawSequence
from codecbench.formulations.element import ElementFormulation
from codecbench.testing import CodecConformance, FormulationConformance
from codecbench.testing.strategies import KINDS, make_symbols

SUITE_FAILURE = (AssertionError, pytest.fail.Exception)


class RankOffByOne(RawSequence):
    def rank(self, c: int, i: int) -> int:
        c, i = self._check_rank_args(c, i)
        return super().rank(c, min(i + 1, len(self)))  # counts s[i] too


class SelectOffByOne(RawSequence):
    def select(self, c: int, k: int) -> int:
        return super().select(c, k) + 1


class SelectManyIgnoresOrder(RawSequence):
    def select_many(self, c: int, ks: Any) -> np.ndarray:
        return np.sort(super().select_many(c, ks))


class ExtractLosesLastSymbol(RawSequence):
    def extract(self, start: int, stop: int) -> np.ndarray:
        out = super().extract(start, stop)
        if out.size > 64:
            out[-1] = 0
        return out


class AccessWithoutBoundsCheck(RawSequence):
    def access(self, i: int) -> int:
        i = int(i)
        return 0 if i >= len(self) else super().access(i % max(len(self), 1))


class SelectBeyondCountReturnsMinusOne(RawSequence):
    def select(self, c: int, k: int) -> int:
        try:
            return super().select(c, k)
        except IndexError:
            if k >= 1:
                return -1
            raise


def broken_codec(sequence_class: type[RawSequence]) -> RawCodec:
    class Broken(RawCodec):
        name = "raw"

        def open(self, buffer: Any) -> RawSequence:
            seq = super().open(buffer)
            seq.__class__ = sequence_class
            return seq

    return Broken()


class TrustingOpen(RawCodec):
    """Parses the header without checking the buffer length: short buffers crash."""

    name = "raw"

    def open(self, buffer: Any) -> RawSequence:
        data = bytes(buffer)
        _, _, width, n, sigma = struct.unpack_from("<8sIIQQ", data, 0)  # struct.error on short input
        words = np.frombuffer(data[32:], dtype="<u8")
        return RawSequence(words, width, n, sigma, len(data))


class NondeterministicEncode(RawCodec):
    name = "raw"
    calls = 0

    def encode(self, symbols: Any, alphabet_size: int, **params: Any) -> bytes:
        type(self).calls += 1
        data = super().encode(symbols, alphabet_size, **params)
        return data if type(self).calls % 2 else data + bytes(8)


def suite_for(codec: Any) -> CodecConformance:
    class Suite(CodecConformance):
        codec_name = "raw"
        max_examples = 25

        def codec(self) -> Any:
            return codec

    return Suite()


@pytest.mark.parametrize(
    ("sequence_class", "checks"),
    [
        (RankOffByOne, ["test_fixed_cases", "test_generated_sequences", "test_long_sequence"]),
        (SelectOffByOne, ["test_fixed_cases", "test_generated_sequences", "test_long_sequence"]),
        (SelectManyIgnoresOrder, ["test_generated_sequences", "test_long_sequence"]),
        (ExtractLosesLastSymbol, ["test_fixed_cases", "test_generated_sequences", "test_long_sequence"]),
        (AccessWithoutBoundsCheck, ["test_fixed_cases", "test_generated_sequences"]),
        (SelectBeyondCountReturnsMinusOne, ["test_fixed_cases", "test_generated_sequences"]),
    ],
)
def test_codec_suite_catches_wrong_answers(sequence_class: type[RawSequence], checks: list[str]) -> None:
    suite = suite_for(broken_codec(sequence_class))
    for check in checks:
        method = getattr(suite, check)
        with pytest.raises(SUITE_FAILURE):
            method("a257-uniform-1000") if check == "test_fixed_cases" else method()


def test_codec_suite_passes_the_same_checks_on_the_correct_codec() -> None:
    suite = suite_for(RawCodec())
    suite.test_fixed_cases("a257-uniform-1000")
    suite.test_generated_sequences()
    suite.test_long_sequence()
    suite.test_hostile_buffers()
    suite.test_garbage_buffers()


def test_codec_suite_catches_unchecked_lengths() -> None:
    suite = suite_for(TrustingOpen())
    with pytest.raises((*SUITE_FAILURE, struct.error, ValueError)):
        suite.test_garbage_buffers()
    with pytest.raises((*SUITE_FAILURE, struct.error, ValueError)):
        suite.test_hostile_buffers()


def test_codec_suite_catches_nondeterministic_encode() -> None:
    with pytest.raises(SUITE_FAILURE):
        suite_for(NondeterministicEncode()).test_encode_is_deterministic_and_accepts_any_integer_input()


def test_codec_suite_catches_a_missing_registration() -> None:
    class Unregistered(CodecConformance):
        codec_name = "no-such-codec-registered"

    with pytest.raises(SUITE_FAILURE):
        Unregistered().test_registered()

    class WrongDistribution(CodecConformance):
        codec_name = "raw"
        distribution = "codecbench-somebody-else"

    with pytest.raises(SUITE_FAILURE):
        WrongDistribution().test_registered()


def test_codec_suite_catches_an_undeclared_parameter() -> None:
    class Undeclared(CodecConformance):
        codec_name = "raw"
        params = {"block_size": 64}

    with pytest.raises(SUITE_FAILURE):
        Undeclared().test_params_declared()


# --------------------------------------------------------------------------- formulations


class OffsetUnits(ElementFormulation):
    """Ignores k0: always decodes as if the symbols started at unit 0 (shape right, values wrong)."""

    def decode_units(self, ras: Any, symbols: np.ndarray, k0: int, k1: int) -> np.ndarray:
        out = super().decode_units(ras, symbols, k0, k1)
        if k0 > 0 and out.size:
            out = out.copy()
            out.reshape(-1).view(np.uint8)[0] ^= 1
        return out


class TrustingCheckRas(ElementFormulation):
    def check_ras(self, ras: Any) -> None:
        return None


class LenientDecode(ElementFormulation):
    """Accepts a missing delimiter (decodes by position only)."""

    def decode_units(self, ras: Any, symbols: np.ndarray, k0: int, k1: int) -> np.ndarray:
        symbols = np.where(np.arange(symbols.size) % (ras.unit_size + 1) == ras.unit_size, ras.delimiter, symbols)
        return super().decode_units(ras, symbols.astype(np.uint32), k0, k1)


def formulation_suite_for(formulation: Any) -> FormulationConformance:
    class Suite(FormulationConformance):
        formulation_name = "element"

        def formulation(self) -> Any:
            return formulation

    return Suite()


@pytest.mark.parametrize(
    ("formulation", "check"),
    [
        (OffsetUnits(), "test_units_round_trip"),
        (OffsetUnits(), "test_through_codec_and_group_spans"),
        (TrustingCheckRas(), "test_store_chunk_and_check_ras"),
        (LenientDecode(), "test_decode_units_errors"),
    ],
)
def test_formulation_suite_catches_broken_formulations(formulation: Any, check: str) -> None:
    with pytest.raises(SUITE_FAILURE):
        getattr(formulation_suite_for(formulation), check)()


def test_formulation_suite_passes_on_the_correct_formulation() -> None:
    suite = formulation_suite_for(ElementFormulation())
    for check in (
        "test_units_round_trip",
        "test_through_codec_and_group_spans",
        "test_store_chunk_and_check_ras",
        "test_decode_units_errors",
    ):
        getattr(suite, check)()


# --------------------------------------------------------------------------- generators


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sigma", [1, 2, 3, 256, 2**16 + 1, 2**32])
def test_make_symbols_stays_in_the_alphabet(kind: str, sigma: int) -> None:
    s = make_symbols(500, sigma, kind, 3)
    assert s.dtype == np.uint32 and s.shape == (500,)
    assert int(s.max()) < sigma
    if kind != "single":
        assert int(s.max()) == sigma - 1
    np.testing.assert_array_equal(make_symbols(500, sigma, kind, 3), s)
    assert make_symbols(0, sigma, kind, 3).size == 0


def test_make_symbols_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="zigzag"):
        make_symbols(10, 4, "zigzag", 0)
