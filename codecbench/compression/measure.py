"""Per-layer measurements shared by ``compress --auto`` and ``codecbench bench``: what a
(formulation, codec) pair stores for one tensor (the whole chunk: header, dictionaries,
directories, payload) and how long the executor's path through it takes (select the group
delimiters, extract, decode), checked bit-exact before it counts.

What differs per codec comes from its declared capabilities (:mod:`codecbench.codecs.base`),
never from its name: ``variants`` are measured as separate pairs; a ``decodes_from_start``
codec is timed the way it is run (the whole layer in one extract, one pass); a ``slow`` one is
encoded for its size on every layer but timed only up to ``slow_max_symbols``; alphabets beyond
its ``practical_alphabet`` are skipped, saying so.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import google_crc32c
import numpy as np

from codecbench.codecs.base import open_sequence
from codecbench.formulations.base import DEFAULT_GROUP_WEIGHTS, group_spans, unit_groups
from codecbench.fused import decode_span
from codecbench.registry import get_registry
from codecbench.store import chunk
from codecbench.succinct.entropy import h0

#: default ``slow_max_symbols``: about 10 s of decode per layer for a pure-Python codec
SLOW_MAX_SYMBOLS = 2**23
#: a formulation's alphabet beyond this is pointless to code (every value distinct) and slow
MAX_ALPHABET = 2**20
#: a layer of at least this many symbols is timed in one pass without a warm-up: a pass takes
#: long enough (tens of ms even for the fastest codec) that one is stable, and the full
#: benchmark's fc layers (up to 2 x 10**8 symbols) would otherwise dominate its run time
LONG_PASS_SYMBOLS = 2**24


@dataclass(frozen=True)
class Pair:
    """One (formulation, codec) choice with parameters, and its column label."""

    formulation: str
    codec: str
    codec_params: tuple[tuple[str, Any], ...] = ()
    formulation_params: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        params = ",".join(f"{k}={v}" for k, v in self.codec_params)
        return f"{self.formulation}/{self.codec}" + (f"[{params}]" if params else "")

    def plan_fields(self) -> dict[str, Any]:
        return {
            "formulation": self.formulation,
            "codec": self.codec,
            "formulation_params": dict(self.formulation_params),
            "codec_params": dict(self.codec_params),
        }


def codec_variants(names: list[str] | None = None) -> list[tuple[str, tuple[tuple[str, Any], ...]]]:
    """Every registered codec (or those in ``names``) once per declared variant (its ``variants``
    capability: ``wavelet-tree`` in both shapes), as ``(name, sorted params)``."""
    registry = get_registry()
    out: list[tuple[str, tuple[tuple[str, Any], ...]]] = []
    for name in registry.names("codec"):
        if names is None or name in names:
            out += [(name, tuple(sorted(v.items()))) for v in registry.entry("codec", name).cls.variants]
    return out


@dataclass
class LayerResult:
    """One tensor through one pair: stored bytes, H0 bound, timing; or why it was skipped."""

    stored_bytes: int | None = None
    n_symbols: int = 0
    alphabet: int = 0
    h0_bits: float = 0.0
    side_bytes: int = 0
    encode_s: float | None = None
    decode_s: float | None = None
    skipped: str | None = None
    #: why a stored pair has no decode time (a slow codec on a long layer)
    untimed: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def measure_layer(
    tensor: np.ndarray,
    pair: Pair,
    *,
    reps: int = 3,
    time_it: bool = True,
    group_weights: int = DEFAULT_GROUP_WEIGHTS,
    ras: Any = None,
    h0_bits: float | None = None,
    slow_max_symbols: int = SLOW_MAX_SYMBOLS,
) -> tuple[LayerResult, bytes | None]:
    """Encode ``tensor`` with ``pair``; time the executor's path; returns the result and the chunk.
    ``ras``: the formulation's encoding of ``tensor`` with the pair's parameters, when the
    caller already has it (one encode per formulation and layer, shared by every codec), and
    ``h0_bits`` its empirical entropy per symbol."""
    registry = get_registry()
    # effective parameters (defaults filled in), as a store records them and its chunks hold
    fparams = {**registry.entry("formulation", pair.formulation).cls.params, **dict(pair.formulation_params)}
    cparams = {**registry.entry("codec", pair.codec).cls.params, **dict(pair.codec_params)}
    if ras is None:
        try:
            ras = encode_ras(tensor, pair)
        except ValueError as exc:
            return LayerResult(skipped=f"formulation refuses: {exc}"), None
    result = LayerResult(
        n_symbols=int(ras.symbols.size),
        alphabet=int(ras.alphabet_size),
        h0_bits=h0(ras.symbols) if h0_bits is None else h0_bits,
        side_bytes=int(sum(a.nbytes for a in ras.arrays.values())),
    )
    codec = registry.entry("codec", pair.codec).cls
    if ras.alphabet_size > MAX_ALPHABET:
        result.skipped = f"alphabet {ras.alphabet_size} > {MAX_ALPHABET} (nearly every value distinct)"
        return result, None
    if ras.alphabet_size > codec.practical_alphabet:
        result.skipped = f"alphabet {ras.alphabet_size} > {codec.practical_alphabet}, this codec's practical limit"
        return result, None
    try:
        t0 = time.perf_counter()
        payload = registry.codec(pair.codec).encode(ras.symbols, ras.alphabet_size, **cparams)
        result.encode_s = time.perf_counter() - t0
    except ValueError as exc:
        result.skipped = f"codec refuses: {exc}"
        return result, None
    blob = chunk.pack_chunk(ras, payload, pair.formulation, pair.codec, fparams, cparams)
    blob += np.uint32(google_crc32c.value(blob)).tobytes()  # the stored chunk object ends with its CRC-32C
    result.stored_bytes = len(blob)
    if time_it and codec.slow and ras.symbols.size > slow_max_symbols:
        result.untimed = f"{ras.symbols.size} symbols > {slow_max_symbols} for this pure-Python codec: size only"
    elif time_it:
        if codec.decodes_from_start:  # as it runs: the whole layer in one extract, one pass
            result.decode_s = time_decode(blob, tensor, reps=1, group_weights=max(1, tensor.size), warm=False)
        elif ras.symbols.size >= LONG_PASS_SYMBOLS:
            result.decode_s = time_decode(blob, tensor, reps=1, group_weights=group_weights, warm=False)
        else:
            result.decode_s = time_decode(blob, tensor, reps=reps, group_weights=group_weights)
    return result, blob


def encode_ras(tensor: np.ndarray, pair: Pair) -> Any:
    """The formulation's symbol sequence of ``tensor`` with the pair's formulation parameters."""
    registry = get_registry()
    fparams = {**registry.entry("formulation", pair.formulation).cls.params, **dict(pair.formulation_params)}
    return registry.formulation(pair.formulation).encode(tensor, **fparams)


def measure_pair(
    tensor: np.ndarray, pair: Pair, encoded: dict[Any, Any], **options: Any
) -> tuple[LayerResult, bytes | None]:
    """:func:`measure_layer` with the formulation's encoding of ``tensor`` kept in ``encoded``
    (one dict per tensor): every codec of one formulation reuses one encode. Only the latest
    formulation's encoding is kept (callers go through pairs formulation by formulation; a
    fully connected layer's symbols run to hundreds of MB)."""
    key = (pair.formulation, pair.formulation_params)
    if key not in encoded:
        encoded.clear()
        try:
            ras = encode_ras(tensor, pair)
            encoded[key] = (ras, h0(ras.symbols))
        except ValueError as exc:
            encoded[key] = LayerResult(skipped=f"formulation refuses: {exc}")
    if isinstance(encoded[key], LayerResult):
        return encoded[key], None
    ras, bits = encoded[key]
    return measure_layer(tensor, pair, ras=ras, h0_bits=bits, **options)


def time_decode(
    blob: bytes,
    tensor: np.ndarray,
    *,
    reps: int = 3,
    group_weights: int = DEFAULT_GROUP_WEIGHTS,
    warm: bool | None = None,
) -> float:
    """``blob`` is a stored chunk object (chunk + CRC). Median seconds over ``reps`` passes of
    the executor's path over the whole tensor: one batched select on the delimiters, then per
    unit group the pair's fused kernel where it has one, else extract + decode, into one reused
    buffer. Every pass checks the decoded groups against ``tensor``
    byte for byte, outside the timed spans. ``warm`` (default: when ``reps < 3``, where one
    cold pass would weigh on the median) runs one more pass first, checked and not timed."""
    registry = get_registry()
    parsed = chunk.parse_chunk(np.frombuffer(blob, dtype=np.uint8)[:-4])
    formulation = registry.formulation(parsed.formulation)
    formulation.check_ras(parsed.ras)
    seq = open_sequence(registry.codec(parsed.codec), parsed.payload)
    ras = parsed.ras
    fused = registry.fused(parsed.formulation, parsed.codec)
    fused = fused if fused is not None and fused.applies(ras, seq) else None
    cuts = unit_groups(ras.n_units, ras.unit_size, group_weights)
    tensor_bits = np.ascontiguousarray(tensor).reshape(tensor.shape[0], -1).view(f"u{tensor.dtype.itemsize}")
    out = np.empty(max(np.diff(cuts).max(initial=0), 0) * ras.unit_size, dtype=tensor_bits.dtype)

    def timed_pass() -> float:
        t0 = time.perf_counter()
        spans = group_spans(seq, ras, cuts)
        seconds = time.perf_counter() - t0
        for j, (start, stop) in enumerate(spans.tolist()):
            group = out[: (cuts[j + 1] - cuts[j]) * ras.unit_size]
            t0 = time.perf_counter()
            decode_span(ras, seq, formulation, fused, start, stop, cuts[j], cuts[j + 1], group)
            seconds += time.perf_counter() - t0
            if group.tobytes() != tensor_bits[cuts[j] : cuts[j + 1]].tobytes():
                raise AssertionError(
                    f"WRONG ANSWER: {parsed.formulation}/{parsed.codec} units {cuts[j]}..{cuts[j + 1]}"
                )
        return seconds

    if warm if warm is not None else reps < 3:
        timed_pass()
    return statistics.median([timed_pass() for _ in range(max(1, reps))])
