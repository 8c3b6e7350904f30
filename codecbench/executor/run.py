"""One run of a store's model: options in, a JSON-ready result record out.

``codecbench run`` parses its arguments into :class:`RunOptions`, calls :func:`run_model` and
prints the record; the benchmark calls the very same function (in a process of its own, see
:mod:`codecbench.bench.harness`), so what is timed is what users run.

The record (``run --json`` prints it as is):

- ``seconds`` (median of ``repeat`` timed forwards after ``warmup`` untimed ones), ``times``,
  ``top1``, ``mode`` (``compressed`` or ``dense``), ``batch``, ``seed``, ``torch_threads``;
- memory: ``peak_rss_mb`` (the whole process), ``baseline_rss_mb`` (when the run started:
  the interpreter with torch and codecbench imported), ``forward_rss_mb`` (what the forward
  passes added at their peak, the model load's transients excluded; Linux only, else None),
  ``stored_bytes``, and for compressed runs ``workset_peak_bytes`` and ``cache``;
- compressed runs: ``compute`` (``exact`` or ``fast``), ``fast_layers`` (the layers fast mode
  computed from their tuples; empty in exact mode, and in fast mode on a store with no
  ``pq-*`` linear layer, which then runs exactly), ``workers``, ``depth``; with ``profile``,
  per-layer seconds (``profile``); with ``shapes``, ``activation_bytes`` (one more untimed pass);
- with ``check``: ``dense_seconds``, ``bit_identical`` and, when they differ, ``max_abs_diff``;
  in fast mode also ``bound`` (per fast layer, the largest observed fraction of the forward
  error bound: :mod:`codecbench.executor.bound`) and ``top1_agreement`` (agreement with the dense model
  over 64 seeded inputs); and ``passed``: what ``run --check`` exits on (exact mode: bit-identical;
  fast mode: every element within its bound and every top-1 equal).
"""

from __future__ import annotations

import importlib
import os
import resource
import statistics
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from codecbench.errors import CodecbenchError, ConfigError
from codecbench.executor.bound import check_layers, top1_agreement
from codecbench.executor.engine import CONV_GROUP_WEIGHTS, DEFAULT_DEPTH, DEFAULT_WORKERS
from codecbench.executor.modules import fast_linears
from codecbench.executor.runner import (
    INPUT_SHAPE,
    MODES,
    model_engine,
    open_model_store,
    same_bits,
    seeded_input,
    timed_forward,
)

_PROFILE_FIELDS = ("select", "extract", "decode", "compute", "wait", "wall")


@dataclass(frozen=True)
class RunOptions:
    """What ``codecbench run`` takes (its flags, by the same names)."""

    store: str
    storage_options: dict[str, Any] | None = None
    batch: int = 1
    seed: int = 0
    #: also run the dense model; the record says whether the outputs are bit-identical
    check: bool = False
    #: run the dense (decoded) model only, for comparison
    dense: bool = False
    #: weights per unit group (None: per layer kind; the conv size at batch > 1)
    group_weights: int | None = None
    repeat: int = 1
    warmup: int = 0
    cache_mb: float = 0.0
    workers: int | None = None
    depth: int | None = None
    #: ``exact`` (bit-identical to the dense model) or ``fast`` (pq-* linear layers from their tuples)
    compute: str = "exact"
    profile: bool = False
    #: also measure the largest activation (one more untimed pass, after timing)
    shapes: bool = False
    #: ``package.module:factory`` returning the nn.Module to run (default: the store's built-in model)
    model: str | None = None
    #: one input's shape, batch excluded (default: 3 x 224 x 224, the built-in models')
    input_shape: tuple[int, ...] | None = None

    def validate(self) -> None:
        """Raise a one-line ConfigError naming the option at fault."""
        if self.batch < 1 or self.repeat < 1 or self.warmup < 0:
            raise ConfigError("--batch and --repeat must be >= 1, --warmup >= 0")
        if self.dense and self.check:
            raise ConfigError("--dense and --check exclude each other")
        if self.group_weights is not None and self.group_weights < 1:
            raise ConfigError("--group-weights must be >= 1")
        if self.cache_mb < 0 or (self.workers is not None and self.workers < 0) or (self.depth or 1) < 1:
            raise ConfigError("--cache-mb and --workers must be >= 0, --depth >= 1")
        if self.compute not in MODES:
            raise ConfigError(f"--mode must be one of {', '.join(MODES)}, not {self.compute!r}")
        if self.dense and (self.compute != "exact" or self.profile or self.cache_mb):
            raise ConfigError("--dense runs the plain torch model: no --mode fast, --profile or --cache-mb")
        if self.input_shape is not None and (not self.input_shape or min(self.input_shape) < 1):
            raise ConfigError("--input-shape must be positive sizes, e.g. 3,224,224")


def model_from_factory(spec: str) -> nn.Module:
    """The module returned by ``package.module:factory`` (called with no arguments); the current
    directory is importable, as with ``python -m``. Every failure is one line naming ``spec``."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--model {spec!r}: expected package.module:factory")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        factory: Any = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: any failure is theirs to read
        raise ConfigError(f"--model {spec!r}: cannot import {module_name!r} ({_cause(exc)})") from None
    for part in attr.split("."):
        factory = getattr(factory, part, None)
    if not callable(factory):
        raise ConfigError(f"--model {spec!r}: {module_name} has no callable {attr!r}")
    try:
        model = factory()
    except Exception as exc:
        raise ConfigError(f"--model {spec!r}: {attr}() failed ({_cause(exc)})") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"--model {spec!r}: {attr}() returned a {type(model).__name__}, not a torch nn.Module")
    return model


def _cause(exc: Exception) -> str:
    """``Type: first line of the message``: the user's exception, on the error's one line."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def run_model(options: RunOptions) -> dict[str, Any]:
    """Open the store, build its model (compressed, or dense with ``options.dense``), run it on
    a seeded input and return the record described in the module docstring."""
    options.validate()
    baseline_mb = peak_rss_mb()  # the interpreter with torch and codecbench imported
    store = open_model_store(options.store, options.storage_options)
    if options.model is None and not store.model:
        raise ConfigError(
            f"{store.label}: the store records no built-in model (a checkpoint's tensors); "
            "run it with --model package.module:factory"
        )
    fresh = (lambda: model_from_factory(options.model)) if options.model else (lambda: None)
    x = seeded_input(options.batch, options.seed, options.input_shape or INPUT_SHAPE).to(store.input_dtype())
    group_weights = options.group_weights
    if group_weights is None and options.batch > 1:
        # measured: at batch > 1 a linear layer's many small cache-sized groups cost more in
        # per-call gemm overhead than they save in memory traffic; use the conv group size
        group_weights = CONV_GROUP_WEIGHTS
    if options.dense:
        model = store.dense_model(fresh())
    else:
        model = store.load_model(
            fresh(),
            group_weights=group_weights,
            cache_bytes=int(options.cache_mb * (1 << 20)),
            workers=DEFAULT_WORKERS if options.workers is None else options.workers,
            depth=options.depth or DEFAULT_DEPTH,
            mode=options.compute,
            profile=options.profile,
        )
    engine = model_engine(model)
    loaded_peak_mb = peak_rss_mb()
    before_forward_mb = reset_rss_peak()  # so the passes' own peak can be read below
    for _ in range(options.warmup):
        timed_forward(model, x)
    if engine is not None and options.warmup:
        engine.reset_stats()  # profile and cache counters of the timed passes only
    times = []
    for _ in range(options.repeat):
        y, seconds = timed_forward(model, x)
        times.append(seconds)
    result: dict[str, Any] = {
        "store": str(options.store),
        "model": options.model or store.model,
        "mode": "dense" if options.dense else "compressed",
        "batch": options.batch,
        "seed": options.seed,
        "seconds": statistics.median(times),
        "times": times,
        "top1": y.argmax(dim=1).tolist(),
        "peak_rss_mb": max(loaded_peak_mb, peak_rss_mb()),
        "baseline_rss_mb": baseline_mb,
        "forward_rss_mb": None if before_forward_mb is None else proc_status_mb("VmHWM") - before_forward_mb,
        "stored_bytes": stored_bytes(store),
        "torch_threads": torch.get_num_threads(),
    }
    if engine is not None:
        result.update(
            compute=options.compute,
            fast_layers=fast_layers(model),
            workers=engine.workers,
            depth=engine.depth,
            cache=engine.cache.stats(),
            workset_peak_bytes=engine.workset_peak,
        )
        if options.profile:
            layers = [s.as_dict() for s in engine.stats.values()]
            result["profile"] = {"passes": options.repeat, "layers": layers, "total": profile_total(layers)}
    if options.shapes:  # one more (untimed, batch-1) pass for the shapes, after the stats were read
        result["activation_bytes"] = activation_bytes(model, x)
    if options.check:
        result.update(_check(store, fresh(), x, y))
        if result["fast_layers"]:
            result.update(_check_fast(model, store.dense_model(fresh()), x, options))
    return result


def fast_layers(model: nn.Module) -> list[str]:
    """The names of the layers of ``model`` that fast mode computes from their tuples."""
    return [m.profile_name for m in fast_linears(model)]


def _check(store: Any, model: nn.Module | None, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """The dense model's output beside ``y`` (``model``: a fresh instance to load it into, None
    for the store's built-in one): bit-identical, or how far apart."""
    dense = store.dense_model(model)
    y_dense, dense_seconds = timed_forward(dense, x)
    identical = same_bits(y, y_dense)
    out: dict[str, Any] = {"dense_seconds": dense_seconds, "bit_identical": identical, "passed": identical}
    if not identical and y.shape == y_dense.shape and y.dtype == y_dense.dtype:
        out["max_abs_diff"] = (y.double() - y_dense.double()).abs().max().item()
        out["max_abs_dense"] = y_dense.double().abs().max().item()
    return out


def _check_fast(model: nn.Module, dense: nn.Module, x: torch.Tensor, options: RunOptions) -> dict[str, Any]:
    """Fast mode's check (:mod:`codecbench.executor.bound`): each fast layer's outputs within
    the forward error bound, and top-1 equal to the dense model's over 64 seeded inputs."""
    layers = check_layers(model, x)
    top1 = top1_agreement(model, dense, tuple(x.shape[1:]), x.dtype, seed=options.seed)
    within = all(r["violations"] == 0 for r in layers)
    return {
        "bound": {"within": within, "layers": layers},
        "top1_agreement": top1,
        "passed": within and top1["agree"] == top1["inputs"],
    }


def profile_total(layers: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: sum(layer[k] for layer in layers) for k in (*_PROFILE_FIELDS, "groups", "symbols", "cache_hits")}


def stored_bytes(store: Any) -> int:
    total = 0
    for name in store.keys():
        try:
            total += int(store.info(name).get("stored_nbytes", 0))
        except CodecbenchError:
            pass
    return total


def activation_bytes(model: Any, x: torch.Tensor) -> int:
    """The largest input + output of any leaf module in one forward (shape inference on the
    meta device would need dense weights; this runs the model once more on the real input
    only for its shapes, so it is computed after timing)."""
    biggest = 0
    hooks = []

    def hook(module: Any, inputs: Any, output: Any) -> None:
        nonlocal biggest
        size = sum(t.numel() * t.element_size() for t in (*inputs, output) if isinstance(t, torch.Tensor))
        biggest = max(biggest, size)

    for module in model.modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            model(x[:1])
    finally:
        for h in hooks:
            h.remove()
    return biggest * x.shape[0]


def peak_rss_mb() -> float:
    """This process's peak RSS in MiB: ``VmHWM`` where Linux has it, else ``ru_maxrss``.

    Not ``ru_maxrss`` on Linux: it survives ``execve``, so a process started by a large one
    (a benchmark that built stores in-process) reports at least its parent's size at the
    fork; ``VmHWM`` belongs to the new address space only."""
    try:
        return proc_status_mb("VmHWM")
    except (OSError, StopIteration, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def proc_status_mb(field: str) -> float:
    """A memory field of ``/proc/self/status`` (``VmHWM``, ``VmRSS``: kB there), in MiB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(f"{field}:")) / 1024.0


def reset_rss_peak() -> float | None:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs``) and return the RSS now, so
    that ``VmHWM`` later is the forward passes' own peak: ``forward_rss_mb`` is what the passes
    added to memory at their peak (weights fetched and decoded on first use, working buffers,
    activations, torch's workspaces and the code pages they load), without the model load's
    transients. None where unsupported. The reset lowers ``VmHWM``, so the caller reads the peak
    first."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return proc_status_mb("VmRSS")
    except (OSError, StopIteration, ValueError):
        return None
