"""Per-layer measurements shared by ``codecbench bench`` and ``compress --auto``: what a
(formulation, codec) pair stores for one tensor (the whole chunk: header, dictionaries,
directories, payload) and how long the executor's path through it takes (select the group
delimiters, extract, decode), checked bit-exact before it counts."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import google_crc32c
import numpy as np

from codecbench.executor.modules import DEFAULT_GROUP_WEIGHTS, unit_groups
from codecbench.formulations.base import group_spans
from codecbench.registry import get_registry
from codecbench.store import chunk

#: the paper's baseline (dahuffman) builds its code table and decodes in Python
SLOW_CODECS = {"huffman": 2**16}
#: a formulation's alphabet beyond this is pointless to code (every value distinct) and slow
MAX_ALPHABET = 2**20


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
    """Every registered codec with its defaults, and the wavelet tree in both shapes."""
    registered = get_registry().names("codec")
    chosen = [n for n in registered if names is None or n in names]
    out: list[tuple[str, tuple[tuple[str, Any], ...]]] = []
    for name in chosen:
        if name == "wavelet-tree":
            out += [(name, (("shape", "huffman"),)), (name, (("shape", "balanced"),))]
        else:
            out.append((name, ()))
    return out


@dataclass
class LayerResult:
    """One tensor through one pair: stored bytes, H0 bound, timing; or why it was skipped."""

    stored_bytes: int | None = None
    n_symbols: int = 0
    alphabet: int = 0
    h0_bits: float = 0.0
    side_bytes: int = 0
    decode_s: float | None = None
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def h0(symbols: np.ndarray) -> float:
    if symbols.size == 0:
        return 0.0
    counts = np.bincount(symbols) if int(symbols.max()) < 2**24 else np.unique(symbols, return_counts=True)[1]
    p = counts[counts > 0] / symbols.size
    return float(-(p * np.log2(p)).sum())


def measure_layer(
    tensor: np.ndarray, pair: Pair, *, reps: int = 3, time_it: bool = True, group_weights: int = DEFAULT_GROUP_WEIGHTS
) -> tuple[LayerResult, bytes | None]:
    """Encode ``tensor`` with ``pair``; time the executor's path; returns the result and the chunk."""
    registry = get_registry()
    # effective parameters (defaults filled in), as a store records them and its chunks hold
    fparams = {**registry.entry("formulation", pair.formulation).cls.params, **dict(pair.formulation_params)}
    cparams = {**registry.entry("codec", pair.codec).cls.params, **dict(pair.codec_params)}
    try:
        ras = registry.formulation(pair.formulation).encode(tensor, **fparams)
    except ValueError as exc:
        return LayerResult(skipped=f"formulation refuses: {exc}"), None
    result = LayerResult(
        n_symbols=int(ras.symbols.size),
        alphabet=int(ras.alphabet_size),
        h0_bits=h0(ras.symbols),
        side_bytes=int(sum(a.nbytes for a in ras.arrays.values())),
    )
    if ras.alphabet_size > MAX_ALPHABET:
        result.skipped = f"alphabet {ras.alphabet_size} > {MAX_ALPHABET} (nearly every value distinct)"
        return result, None
    limit = SLOW_CODECS.get(pair.codec)
    if limit and ras.alphabet_size > limit:
        result.skipped = f"alphabet {ras.alphabet_size} > {limit} for this baseline"
        return result, None
    try:
        payload = registry.codec(pair.codec).encode(ras.symbols, ras.alphabet_size, **cparams)
    except ValueError as exc:
        result.skipped = f"codec refuses: {exc}"
        return result, None
    blob = chunk.pack_chunk(ras, payload, pair.formulation, pair.codec, fparams, cparams)
    blob += np.uint32(google_crc32c.value(blob)).tobytes()  # the stored chunk object ends with its CRC-32C
    result.stored_bytes = len(blob)
    if time_it:
        result.decode_s = time_decode(blob, tensor, reps=reps, group_weights=group_weights)
    return result, blob


def time_decode(blob: bytes, tensor: np.ndarray, *, reps: int = 3, group_weights: int = DEFAULT_GROUP_WEIGHTS) -> float:
    """``blob`` is a stored chunk object (chunk + CRC). Median seconds of the executor's path over the whole tensor: one batched select on the
    delimiters, then extract + decode per unit group. The decoded groups are checked against
    ``tensor`` byte for byte (once, untimed)."""
    registry = get_registry()
    parsed = chunk.parse_chunk(np.frombuffer(blob, dtype=np.uint8)[:-4])
    formulation = registry.formulation(parsed.formulation)
    formulation.check_ras(parsed.ras)
    seq = registry.codec(parsed.codec).open(parsed.payload)
    ras = parsed.ras
    cuts = unit_groups(ras.n_units, ras.unit_size, group_weights)

    def run(check: bool) -> None:
        spans = group_spans(seq, ras, cuts)
        for j, (start, stop) in enumerate(spans.tolist()):
            w = formulation.decode_units(ras, seq.extract(start, stop), cuts[j], cuts[j + 1])
            if check and w.tobytes() != tensor[cuts[j] : cuts[j + 1]].tobytes():
                raise AssertionError(
                    f"WRONG ANSWER: {parsed.formulation}/{parsed.codec} units {cuts[j]}..{cuts[j + 1]}"
                )

    run(check=True)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run(check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
