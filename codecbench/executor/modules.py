"""Conv2d and Linear modules that compute from compressed weights, a group of units at a time.

On its first forward, a layer finds the symbol spans of its unit groups with one batched
``select`` on the delimiter (and keeps them: two integers per group). Per group, a worker
thread ``extract``s the symbols and decodes them through the formulation into a reusable
buffer while the previous group computes (:mod:`codecbench.executor.engine`); the layer
computes that slice of the output and the buffer goes back for the next group. At most
``depth + 1`` groups' weights are dense at any moment (plus whatever the decoded-unit
cache keeps within its byte budget).

Group sizes: linear layers default to groups of about :data:`LINEAR_GROUP_WEIGHTS` weights,
so that the groups in flight stay in cache and the layer reads its weights from cache (at
batch 1 a dense linear layer is bound by reading its weights from memory); conv layers to
:data:`CONV_GROUP_WEIGHTS`, as each group's conv reads the whole input again.

Bit-exactness: torch (MKL/oneDNN here) may reduce in a different order for a very small
output slice than for the whole layer. Measured on this machine: one-row linear slices and
conv slices of 1 or 8 output channels differ from the full op in the last bits, while every
slice of 48 or more units matched. So groups are multiples of ``unit_align`` (64) units and a
short last group is merged into the one before; tests check whole models bit for bit.

Fetching: a layer built from a :class:`LazyTensor` fetches its chunk from the store on its
first forward (the group cuts come from the metadata shape alone), and, once it has its own,
asks the store to prefetch the chunks of ``ahead`` (the next compressed layers) on a
background thread, so a remote store's downloads overlap this layer's compute. The fetched
bytes are the same either way: results are bit-identical with or without read-ahead.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from codecbench.executor.engine import CONV_GROUP_WEIGHTS, LINEAR_GROUP_WEIGHTS, Engine, torch_dtype
from codecbench.formulations.base import group_spans, unit_groups
from codecbench.fused import decode_span
from codecbench.store.reader import OpenedTensor, StoreReader


class LazyTensor:
    """A compressed tensor of a store, fetched on first use (``get``) or ahead (``prefetch``)."""

    def __init__(self, store: StoreReader, name: str) -> None:
        record = store.info(name)
        self.store, self.name = store, name
        self.shape = tuple(int(d) for d in record["shape"])
        self.nbytes = max(0, int(record.get("stored_nbytes", 4)) - 4)  # the chunk without its CRC

    def get(self) -> OpenedTensor:
        return self.store.open_tensor(self.name)

    def prefetch(self) -> None:
        self.store.prefetch(self.name)


class _Ready:
    """An already opened tensor, for layers built from an OpenedTensor directly."""

    def __init__(self, opened: OpenedTensor) -> None:
        self.opened, self.name, self.shape, self.nbytes = opened, opened.name, tuple(opened.ras.shape), opened.nbytes

    def get(self) -> OpenedTensor:
        return self.opened

    def prefetch(self) -> None:
        return None


class _CompressedLayer(nn.Module):
    def __init__(
        self,
        opened: OpenedTensor | LazyTensor,
        bias: torch.Tensor | None,
        group_weights: int,
        multiple: int = 1,
        engine: Engine | None = None,
    ) -> None:
        super().__init__()
        self.source = opened if isinstance(opened, LazyTensor) else _Ready(opened)
        self.ahead: tuple[LazyTensor, ...] = ()  # read-ahead: prefetched (in order) when this layer runs
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        shape = self.source.shape
        self.out_units = shape[0]
        unit_size = int(np.prod(shape[1:], dtype=np.int64))
        self.cuts = unit_groups(shape[0], unit_size, group_weights, multiple=multiple)
        #: the pipeline, buffers, cache and profile; shared by a model's layers (runner)
        self.engine = engine if engine is not None else Engine()
        self.profile_name = self.source.name  # the runner sets the module's name
        self._spans: tuple[object, list[tuple[int, int]]] | None = None
        self._fast: tuple[object, list[int], list[tuple[int, int]]] | None = None
        self._next: tuple[_CompressedLayer, ...] = ()  # a tuple: not registered as a submodule

    @property
    def next_layer(self) -> _CompressedLayer | None:
        """The compressed layer that runs after this one (the engine starts its first groups
        while this layer's last group computes); None if unknown."""
        return self._next[0] if self._next else None

    def set_next_layer(self, layer: _CompressedLayer | None) -> None:
        # a plain attribute (nn.Module.__setattr__ would register a module as a submodule)
        self._next = () if layer is None else (layer,)

    def computes_fast(self) -> bool:
        return False

    @property
    def cache_key(self) -> str:
        return self.source.name

    # A method, not a property: nn.Module.__getattr__ would turn an AttributeError raised
    # inside a property (say, by a plugin's open) into "module has no attribute 'opened'".
    def fetch(self) -> OpenedTensor:
        """The compressed weight (fetched from the store on first use)."""
        return self.source.get()

    def spans(self, opened: OpenedTensor) -> list[tuple[int, int]]:
        """The ``[start, stop)`` symbol span of each group: one batched select, kept."""
        if self._spans is None or self._spans[0] is not opened:
            self._spans = (opened, _select_spans(opened, self.cuts))
        return self._spans[1]

    def fast_groups(self, opened: OpenedTensor, groups: int) -> tuple[list[int], list[tuple[int, int]]]:
        """Fast mode's unit groups, ``groups`` about equal ones (a task accumulates whole rows
        into the output and needs no weight buffer, so there is no cache-sized bound to keep:
        few groups, few calls; see ``engine.FAST_GROUPS_PER_WORKER``), as ``(cuts, spans)``; kept."""
        if self._fast is None or self._fast[0] is not opened:
            n = self.out_units
            cuts = sorted({int(c) for c in np.linspace(0, n, max(1, min(groups, n)) + 1)})
            self._fast = (opened, cuts, _select_spans(opened, cuts))
        return self._fast[1], self._fast[2]

    def weight_groups(self):
        """Yield ``(k0, k1, weights)`` per group, decoded ahead by the engine's workers. The
        weights tensor is valid until the generator resumes (its buffer is reused for a
        later group); clone it to keep it."""
        return self.engine.groups(self)

    def _bias(self, k0: int, k1: int) -> torch.Tensor | None:
        return None if self.bias is None else self.bias[k0:k1]

    def dense_weight(self) -> torch.Tensor:
        """The whole weight, decoded group by group through the engine (so the profile counts
        it) into a new tensor that is not kept: for modules that read ``.weight`` directly."""
        full = None
        for k0, k1, w in self.weight_groups():
            if full is None:
                full = w.new_empty(self.source.shape)
            full[k0:k1] = w.reshape(k1 - k0, *full.shape[1:])
        return full

    @property
    def weight(self) -> torch.Tensor:
        """What ``nn.Linear.weight`` / ``nn.Conv2d.weight`` would be: modules such as
        ``nn.MultiheadAttention`` (its ``out_proj``) and ``nn.TransformerEncoderLayer``'s fast
        path read it directly. Each read decodes the whole weight (:meth:`dense_weight`)."""
        try:
            return self.dense_weight()
        except AttributeError as exc:  # nn.Module.__getattr__ would report "no attribute 'weight'"
            raise RuntimeError(f"{self.source.name}: {exc}") from exc

    def extra_repr(self) -> str:
        return f"tensor={self.source.name!r}, groups={len(self.cuts) - 1}, compressed_bytes={self.source.nbytes}"


def _select_spans(opened: OpenedTensor, cuts: list[int]) -> list[tuple[int, int]]:
    """The ``[start, stop)`` symbol span of each unit group between ``cuts``: one batched
    select, its failure named after the tensor."""
    try:
        found = group_spans(opened.sequence, opened.ras, cuts).tolist()
    except Exception as exc:
        raise opened.failure(exc) from exc
    return [tuple(s) for s in found]


class CompressedLinear(_CompressedLayer):
    def __init__(
        self,
        opened: OpenedTensor | LazyTensor,
        bias: torch.Tensor | None,
        group_weights: int = LINEAR_GROUP_WEIGHTS,
        engine: Engine | None = None,
    ) -> None:
        shape = opened.shape if isinstance(opened, LazyTensor) else tuple(opened.ras.shape)
        if len(shape) != 2:
            raise ValueError(f"tensor {opened.name!r} has shape {shape}, not a linear weight")
        super().__init__(opened, bias, group_weights, engine=engine)
        self.in_features = shape[1]
        self.out_features = shape[0]

    def computes_fast(self) -> bool:
        """Whether forwards take the fast path (float32 inputs assumed): the engine is in fast
        mode and the formulation can compute this tensor from its symbols."""
        if not self.engine.fast:
            return False
        opened = self.fetch()
        return opened.formulation.can_sparse_linear(opened.ras)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32 and self.computes_fast():
            return self.engine.fast_linear(self, x)  # fast mode, NOT bit-exact (engine docstring)
        out = x.new_empty(*x.shape[:-1], self.out_features)
        for k0, k1, w in self.weight_groups():
            out[..., k0:k1] = F.linear(x, w, self._bias(k0, k1))
        return out


def fast_linears(model: nn.Module) -> list[CompressedLinear]:
    """The layers of ``model`` that fast mode computes from their tuples (float32 inputs)."""
    return [m for m in model.modules() if isinstance(m, CompressedLinear) and m.computes_fast()]


class CompressedConv2d(_CompressedLayer):
    def __init__(
        self,
        opened: OpenedTensor | LazyTensor,
        bias: torch.Tensor | None,
        template: nn.Conv2d,
        group_weights: int = CONV_GROUP_WEIGHTS,
        engine: Engine | None = None,
    ) -> None:
        shape = opened.shape if isinstance(opened, LazyTensor) else tuple(opened.ras.shape)
        if shape != tuple(template.weight.shape):
            raise ValueError(
                f"tensor {opened.name!r} has shape {shape}, the conv expects {tuple(template.weight.shape)}"
            )
        out_per_group = template.out_channels // template.groups
        # a grouped conv is cut only at conv-group boundaries
        super().__init__(
            opened, bias, group_weights, multiple=out_per_group if template.groups > 1 else 1, engine=engine
        )
        self.stride, self.padding, self.dilation = template.stride, template.padding, template.dilation
        self.conv_groups, self.padding_mode = template.groups, template.padding_mode
        self._pad = template._reversed_padding_repeated_twice
        self.out_per_group = out_per_group
        self.in_per_group = template.in_channels // template.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padding = self.padding
        if self.padding_mode != "zeros":  # as nn.Conv2d._conv_forward does
            x, padding = F.pad(x, self._pad, mode=self.padding_mode), 0
        out = None
        for k0, k1, w in self.weight_groups():
            xs, groups = x, 1
            if self.conv_groups > 1:  # cuts fall on conv-group boundaries: slice the matching inputs
                g0, g1 = k0 // self.out_per_group, k1 // self.out_per_group
                xs, groups = x[:, g0 * self.in_per_group : g1 * self.in_per_group], g1 - g0
            y = F.conv2d(xs, w, self._bias(k0, k1), self.stride, padding, self.dilation, groups)
            if k1 - k0 == self.out_units:  # one group: y is the output (no second activation)
                out = y
                continue
            if out is None:
                out = y.new_empty(y.shape[0], self.out_units, *y.shape[2:])
            out[:, k0:k1] = y
        return out


class _CompressedTable(nn.Module):
    """A ``(rows, dim)`` table that stays compressed: :meth:`rows` decodes only the rows asked
    for (their symbol spans found with one batched ``select``, runs of consecutive rows decoded
    together), never the whole table."""

    def __init__(self, opened: OpenedTensor | LazyTensor, template: nn.Embedding | nn.EmbeddingBag) -> None:
        super().__init__()
        self.source = opened if isinstance(opened, LazyTensor) else _Ready(opened)
        shape = tuple(self.source.shape)
        if shape != tuple(template.weight.shape):
            raise ValueError(
                f"tensor {self.source.name!r} has shape {shape}, the table expects {tuple(template.weight.shape)}"
            )
        self.num_embeddings, self.embedding_dim = shape
        self.padding_idx = template.padding_idx
        self.ahead: tuple[LazyTensor, ...] = ()

    def rows(self, rows: np.ndarray) -> torch.Tensor:
        """Rows ``rows`` (ascending, distinct) of the table, decoded, as a new tensor."""
        opened = self.source.get()
        ras, dim = opened.ras, self.embedding_dim
        out = torch.empty(rows.size, dim, dtype=torch_dtype(ras.dtype))
        if not rows.size:
            return out
        bits = out.view(-1).view(torch.uint8).numpy().view(f"u{out.element_size()}")  # kernels write bit patterns
        # runs of consecutive rows: cuts at each run's start and end; the gaps between are skipped
        runs = np.split(rows, np.flatnonzero(np.diff(rows) != 1) + 1)
        cuts = np.unique(np.concatenate([[r[0], r[-1] + 1] for r in runs]))
        try:
            spans = group_spans(opened.sequence, ras, cuts)
            at = {int(k): j for j, k in enumerate(cuts[:-1])}
            done = 0
            for run in runs:
                k0, k1 = int(run[0]), int(run[-1]) + 1
                start, stop = spans[at[k0]]
                decode_span(ras, opened.sequence, opened.formulation, opened.fused, int(start), int(stop), k0, k1,
                            bits[done * dim : (done + k1 - k0) * dim])  # fmt: skip
                done += k1 - k0
        except Exception as exc:
            raise opened.failure(exc) from exc
        return out

    def lookup(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(the distinct rows ``indices`` name, ascending; those rows decoded; ``indices`` as
        positions in them)."""
        flat = indices.reshape(-1)
        if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= self.num_embeddings):
            raise IndexError(f"{self.source.name}: index out of range [0, {self.num_embeddings})")
        rows, inverse = torch.unique(flat, sorted=True, return_inverse=True)
        return rows, self.rows(rows.numpy().astype(np.int64)), inverse.reshape(indices.shape)

    def extra_repr(self) -> str:
        return f"tensor={self.source.name!r}, {self.num_embeddings}, {self.embedding_dim}"


class CompressedEmbedding(_CompressedTable):
    """``nn.Embedding`` whose table stays compressed: a forward decodes only the rows it looks up."""

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        _, table, positions = self.lookup(indices)
        return table[positions]


class CompressedEmbeddingBag(_CompressedTable):
    """``nn.EmbeddingBag`` whose table stays compressed: the rows a forward names are decoded
    into a small table, and torch's ``embedding_bag`` reduces the bags over it, entries in the
    same order as over the whole table (so the same sums)."""

    def __init__(self, opened: OpenedTensor | LazyTensor, template: nn.EmbeddingBag) -> None:
        super().__init__(opened, template)
        self.mode, self.include_last_offset = template.mode, template.include_last_offset

    def forward(
        self, indices: torch.Tensor, offsets: torch.Tensor | None = None, per_sample_weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        rows, table, positions = self.lookup(indices)
        padding = None
        if self.padding_idx is not None:
            hit = torch.nonzero(rows == self.padding_idx)
            padding = int(hit[0, 0]) if hit.numel() else None  # absent from the input: nothing to skip
        return F.embedding_bag(
            positions, table, offsets, mode=self.mode, per_sample_weights=per_sample_weights,
            include_last_offset=self.include_last_offset, padding_idx=padding,
        )  # fmt: skip
