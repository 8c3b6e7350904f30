"""Build runnable models from a store: compressed (weights stay in the store's encoding) or
dense (every tensor decoded and sha256-checked), and run them on a seeded input."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from codecbench.dtypes import to_numpy, to_torch
from codecbench.errors import ConfigError, StoreError
from codecbench.executor.engine import (
    CONV_GROUP_WEIGHTS,
    DEFAULT_DEPTH,
    DEFAULT_WORKERS,
    LINEAR_GROUP_WEIGHTS,
    Engine,
)
from codecbench.executor.modules import (
    CompressedConv2d,
    CompressedEmbedding,
    CompressedEmbeddingBag,
    CompressedLinear,
    LazyTensor,
)
from codecbench.models import model_skeleton
from codecbench.store.reader import StoreReader, open_store
from codecbench.store.writer import PLAIN

INPUT_SHAPE = (3, 224, 224)
#: how compressed layers compute: bit-identical to the dense model, or pq-* linear layers from their tuples
MODES = ("exact", "fast")
#: compressed layers whose chunks a running layer prefetches (see :func:`compress_model_inplace`)
DEFAULT_READAHEAD = 2


class ModelStore(StoreReader):
    """A :class:`StoreReader` that can also build the model it holds."""

    def load_model(
        self,
        model: nn.Module | None = None,
        *,
        group_weights: int | None = None,
        readahead: int = DEFAULT_READAHEAD,
        cache_bytes: int = 0,
        workers: int = DEFAULT_WORKERS,
        depth: int = DEFAULT_DEPTH,
        mode: str = "exact",
        profile: bool = False,
    ) -> nn.Module:
        """A torch module (eval mode) whose Conv2d/Linear weights stay compressed.

        ``model`` is any module whose ``state_dict`` keys match the store; by default the
        built-in architecture recorded in the store, created on the meta device so no dense
        weights are ever allocated for it. Weight chunks are fetched on first use; each layer
        prefetches the next ``readahead`` layers' chunks in the background (0: none).

        ``group_weights``: weights per unit group (default: per layer kind, see
        :mod:`codecbench.executor.modules`). ``workers``/``depth``: decode threads and groups
        in flight; ``cache_bytes``: decoded-unit cache budget; ``mode``: ``"exact"`` (outputs
        bit-identical to the dense model) or ``"fast"`` (``pq-*`` linear layers computed from
        their tuples, within the forward error bound, NOT bit-exact); ``profile``: collect
        per-layer timings. All in :mod:`codecbench.executor.engine`; :func:`model_engine`
        returns the model's engine (stats, cache counters).
        """
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if model is None:
            model = self._skeleton()
        compress_model_inplace(
            model,
            self,
            group_weights=group_weights,
            readahead=readahead,
            engine=Engine(workers=workers, depth=depth, cache_bytes=cache_bytes, fast=mode == "fast", profile=profile),
        )
        return model.eval()

    def dense_model(self, model: nn.Module | None = None) -> nn.Module:
        """The same model with every tensor decoded, each checked against its sha256."""
        if model is None:
            model = self._skeleton()
        check_keys(model, self)
        state = {}
        for name in self.keys():
            self.verify(name)
            state[name] = to_torch(np.array(self.tensor(name)))
        _load_state(model, state, self.label)
        return model.eval()

    def input_dtype(self) -> torch.dtype:
        """The dtype inputs need: that of the first weight tensor (ndim >= 2) in the store."""
        for name in self.keys():
            info = self.info(name)
            if len(info["shape"]) >= 2:
                return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float64": torch.float64}.get(
                    info["dtype"], torch.float32
                )
        return torch.float32

    def _skeleton(self) -> nn.Module:
        if not self.model:
            raise StoreError(f"{self.label}: store records no built-in model; pass model= to load_model")
        return model_skeleton(self.model)


def check_keys(model: nn.Module, store: StoreReader) -> set[str]:
    """The model's state_dict keys, which the store must hold exactly; else one line naming the
    first key missing from the store and the first the model does not have."""
    expected = set(model.state_dict().keys())
    stored = set(store.keys())
    missing, unexpected = sorted(expected - stored), sorted(stored - expected)
    problems = [f"lacks tensor {missing[0]!r} that the model needs"] if missing else []
    problems += [f"holds tensor {unexpected[0]!r} that the model does not have"] if unexpected else []
    if problems:
        counts = f" ({len(missing)} missing, {len(unexpected)} unexpected)"
        raise StoreError(f"{store.label}: store {' and '.join(problems)}{counts}")
    return expected


def compress_model_inplace(
    model: nn.Module,
    store: StoreReader,
    *,
    group_weights: int | None = None,
    readahead: int = DEFAULT_READAHEAD,
    engine: Engine | None = None,
) -> nn.Module:
    """Swap each Conv2d/Linear/Embedding/EmbeddingBag whose weight is codecbench-encoded in ``store`` for its
    compressed twin (Linear inside ``nn.MultiheadAttention`` too: the twins answer ``.weight``
    with the decoded weight); load every other tensor densely from the store (bare
    Parameters such as ``in_proj_weight``, norms, biases). The twins share
    ``engine`` (default: a new :class:`Engine` with default settings); a forward pre-hook on
    ``model`` marks each forward pass for the engine's cache.

    The twins fetch their chunks on their first forward, each prefetching the chunks of the
    next ``readahead`` twins on one background thread, in order (module registration order,
    which is execution order for sequential models; for others the read-ahead is only a less
    useful guess, never a change in results). Fetched chunks stay in the store, compressed,
    as they would after one forward anyway."""
    expected = check_keys(model, store)
    if engine is None:
        engine = Engine()
    replaced: set[str] = set()
    twins: list[CompressedConv2d | CompressedLinear] = []
    for name, module in list(model.named_modules()):
        if f"{name}.weight" not in store or store.info(f"{name}.weight")["storage"] == PLAIN:
            continue
        table = {nn.Embedding: CompressedEmbedding, nn.EmbeddingBag: CompressedEmbeddingBag}.get(type(module))
        if table is not None and module.max_norm is None:  # max_norm rewrites rows in place
            _set_submodule(model, name, table(LazyTensor(store, f"{name}.weight"), module))
            replaced.add(f"{name}.weight")
            continue
        if not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        opened = LazyTensor(store, f"{name}.weight")
        bias = None
        if module.bias is not None:
            bias = to_torch(np.array(store.tensor(f"{name}.bias")))
            replaced.add(f"{name}.bias")
        if isinstance(module, nn.Conv2d):
            twin: nn.Module = CompressedConv2d(opened, bias, module, group_weights or CONV_GROUP_WEIGHTS, engine)
        else:
            twin = CompressedLinear(opened, bias, group_weights or LINEAR_GROUP_WEIGHTS, engine)
        twin.profile_name = name
        _set_submodule(model, name, twin)
        replaced.add(f"{name}.weight")
        twins.append(twin)
    if readahead < 0:
        raise ValueError("readahead must be >= 0")
    for i, twin in enumerate(twins):
        twin.ahead = tuple(t.source for t in twins[i + 1 : i + 1 + readahead])
        twin.set_next_layer(twins[i + 1] if i + 1 < len(twins) else None)
    state = {k: to_torch(np.array(store.tensor(k))) for k in sorted(expected - replaced)}
    _load_state(model, state, store.label, strict=False)
    model.codecbench_engine = engine
    model.register_forward_pre_hook(engine.new_pass)
    return model


def model_engine(model: nn.Module) -> Engine | None:
    """The engine of a model built by :func:`compress_model_inplace` (None for others)."""
    return getattr(model, "codecbench_engine", None)


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def _load_state(model: nn.Module, state: dict[str, torch.Tensor], label: str, strict: bool = True) -> None:
    try:
        model.load_state_dict(state, strict=strict, assign=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise StoreError(f"{label}: tensors do not fit the model: {' '.join(first[:2])}") from None


def seeded_input(batch: int, seed: int = 0, shape: tuple[int, ...] = INPUT_SHAPE) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, *shape, generator=generator)


def timed_forward(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, float]:
    with torch.inference_mode():
        start = time.perf_counter()
        y = model(x)
        return y, time.perf_counter() - start


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-for-bit equality (NaNs with equal payloads compare equal, -0.0 != 0.0)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return to_numpy(a).tobytes() == to_numpy(b).tobytes()


def open_model_store(path: Any, storage_options: dict[str, Any] | None = None) -> ModelStore:
    """Open a store lazily (a local directory or ``.zip``, an fsspec URL, or a zarr Store),
    as a :class:`ModelStore`."""
    return open_store(path, cls=ModelStore, storage_options=storage_options)
