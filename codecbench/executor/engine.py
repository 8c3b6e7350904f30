"""The executor's engine: a pipeline that extracts and decodes the next unit groups on worker
threads while the current group computes, reusable group buffers, the decoded-unit cache, the
per-layer profile, and fast mode: ``pq-*`` linear layers computed from their tuples.

Pipeline. A compressed layer asks :meth:`Engine.groups` for its weights. The engine submits
the first ``depth`` groups to a pool of ``workers`` threads; each task ``extract``s a group's
symbols and decodes them with the formulation's ``decode_units_into`` straight into a group
buffer (no intermediate array, no ``torch.from_numpy`` copy: the buffer is a torch tensor whose
numpy view the kernel writes). When the layer takes group ``j`` it submits group ``j + depth``,
so the workers extract and decode ahead while group ``j`` computes. The numba kernels run
with the GIL released (``nogil=True``) and torch releases it in conv/linear, so both cores
work. Buffers come back to a small free list once a group's compute is done, so the working
set is about ``depth + 1`` groups (:attr:`Engine.workset_peak`), small enough to stay in
cache for the linear layers' default group size (:data:`LINEAR_GROUP_WEIGHTS`).

Results do not depend on any of this: every group's weights are the same bits whichever
thread decoded them into whichever buffer, and the compute per group is unchanged, so
outputs stay bit-identical to the dense model (tests check with every codec).

Threads. Several threads may run one model at once: each forward's layer takes its own run
of groups (a run started ahead for the next layer goes to whichever forward asks first; the
handoff is taken under the engine's lock), and buffers, the cache and the free list are
shared under locks. Only the profile counters and the cache's notion of "this pass" are
approximate then (``tests/test_hardening.py`` runs 8 threads on one model, bit-exact).

Cache. With ``cache_bytes > 0`` decoded groups are kept in an LRU cache within that byte
budget: a group found there skips extract and decode. One refinement over plain LRU: a group
used during the current forward pass is not evicted to make room for another group of the
same pass (a pass is one forward of the model). Plain LRU over a model that does not fit
evicts every group just before it is needed again (a cyclic scan: zero hits); this way a
budget of a fraction of the model gives about that fraction of hits. Hits, misses,
evictions and refusals are counted (``run --json``).

Fast mode (``fast=True``, off by default: exact mode is the default). A linear layer whose
formulation can compute it from its symbols (the ``can_sparse_linear`` capability: ``pq-*``
float32 matrices, from their ``(gap, entry)`` tuples, accumulating only the nonzeros) never
builds its dense weights: each worker task takes a group of rows, and where the pair has a
fused decoder with ``linear`` (pq-* with raw or huffman-fast) the codec's bytes are decoded a
chunk at a time into an L1 buffer and accumulated at once, else the group is extracted, then
accumulated. It sums in another order than torch's dense kernel, so its results are NOT
bit-identical to the dense model; ``run --mode fast --check`` checks every output element of
every fast layer against the forward error bound of a dot product instead
(:mod:`codecbench.executor.bound`). Conv layers stay on the exact path in fast mode: a conv
from the tuples (im2col, then this accumulation with one column per output position, both
workers) measured 69.5 ms over pruned AlexNet's five convs at batch 1, against 27.4 ms for
fused decode + torch's conv and 22.0 ms for torch's conv on dense weights (pq-joint,
huffman-fast, 2026-12-03): the dense kernel's blocking beats skipping 60% of the products.

Errors. Anything raised while a layer's tensor is fetched, its groups are selected, extracted
or decoded surfaces as one line naming the store, the tensor, its formulation and codec, and
the cause (:func:`codecbench.store.reader.failure`).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from codecbench.dtypes import to_torch
from codecbench.errors import PluginError
from codecbench.formulations.base import DEFAULT_GROUP_WEIGHTS
from codecbench.fused import decode_span

#: weights per group of a linear layer: 1M float32 = 4 MiB, so ``depth + 1`` groups stay in
#: the last-level cache and the layer reads its decoded weights from cache, not from memory
LINEAR_GROUP_WEIGHTS = 1 << 20
#: weights per group of a conv layer: larger, as each group's conv re-reads its whole input
CONV_GROUP_WEIGHTS = DEFAULT_GROUP_WEIGHTS
DEFAULT_WORKERS = max(1, min(2, os.cpu_count() or 1))
#: fast mode's row groups per worker. One: a task costs ~0.1 ms of dispatch besides its work, and
#: measured on pruned AlexNet (pq-joint, batch 1) the forward took 46.9 ms with 1 group per
#: worker against 52.8 ms with 2 and 51.4 ms with 4 (imbalance between halves costs less)
FAST_GROUPS_PER_WORKER = 1
DEFAULT_DEPTH = 2

_TORCH_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
}

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """One process-wide pool per worker count, shared by every engine (no thread per model)."""
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="codecbench-decode")
        return pool


@dataclass
class LayerStats:
    """Seconds spent per layer, summed over forwards. ``select`` and ``extract`` (the codec's
    queries), ``decode`` (the formulation) run on the workers; ``wait`` (blocked on a worker)
    and ``compute`` (conv/linear on a group, fast-mode kernels included) on the calling thread;
    ``wall`` is the layer's elapsed time, less than the sum when work overlaps. ``path``: how its
    groups were decoded: ``fused`` (one kernel from the codec's bytes into the weights, timed
    as decode), ``plain`` (extract, then decode), ``fast`` (fast mode: output accumulated from the
    symbols, one fused kernel, timed as compute) or ``fast-plain`` (fast mode: extract, then
    accumulate)."""

    name: str
    path: str = ""
    calls: int = 0
    groups: int = 0
    symbols: int = 0
    select: float = 0.0
    extract: float = 0.0
    decode: float = 0.0
    compute: float = 0.0
    wait: float = 0.0
    wall: float = 0.0
    cache_hits: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class GroupCache:
    """Decoded weight groups, LRU within ``budget`` bytes (see the module docstring)."""

    def __init__(self, budget: int) -> None:
        if budget < 0:
            raise ValueError("cache budget must be >= 0")
        self.budget = int(budget)
        self._items: OrderedDict[Any, tuple[torch.Tensor, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0
        self.peak_nbytes = 0
        self.hits = self.misses = self.evictions = self.refused = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Any, epoch: int) -> torch.Tensor | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self.hits += 1
            self._items[key] = (item[0], epoch)
            self._items.move_to_end(key)
            return item[0]

    def may_keep(self, nbytes: int) -> bool:
        """Whether a group of ``nbytes`` could ever be kept (decode it into its own tensor)."""
        return 0 < nbytes <= self.budget

    def put(self, key: Any, tensor: torch.Tensor, epoch: int) -> bool:
        nbytes = tensor.numel() * tensor.element_size()
        with self._lock:
            if key in self._items or nbytes > self.budget:
                return False
            victims, free = [], self.budget - self.nbytes
            for old, (t, used) in self._items.items():  # least recently used first
                if free >= nbytes:
                    break
                if used == epoch:  # in use this pass: keep it, refuse the newcomer
                    break
                victims.append(old)
                free += t.numel() * t.element_size()
            if free < nbytes:
                self.refused += 1
                return False
            for old in victims:
                t, _ = self._items.pop(old)
                self.nbytes -= t.numel() * t.element_size()
                self.evictions += 1
            self._items[key] = (tensor, epoch)
            self.nbytes += nbytes
            self.peak_nbytes = max(self.peak_nbytes, self.nbytes)
            return True

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0

    def stats(self) -> dict[str, int]:
        return {
            "budget_bytes": self.budget,
            "bytes": self.nbytes,
            "peak_bytes": self.peak_nbytes,
            "groups": len(self._items),
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
            "refused": self.refused,
        }


class Engine:
    """Shared by the compressed layers of one model. See the module docstring.

    ``workers``: threads that extract and decode (0: everything on the calling thread, in
    order, no overlap). ``depth``: groups in flight ahead of the one computing (>= 1).
    ``cache_bytes``: decoded-unit cache budget (0: nothing kept). ``fast``: fast mode, ``pq-*``
    linear layers computed from their tuples (not bit-exact). ``profile``: collect :class:`LayerStats`.
    """

    def __init__(
        self,
        *,
        workers: int = DEFAULT_WORKERS,
        depth: int = DEFAULT_DEPTH,
        cache_bytes: int = 0,
        fast: bool = False,
        profile: bool = False,
    ) -> None:
        if workers < 0 or depth < 1:
            raise ValueError("workers must be >= 0 and depth >= 1")
        self.workers, self.depth, self.fast, self.profile = int(workers), int(depth), bool(fast), bool(profile)
        self.cache = GroupCache(cache_bytes)
        self.stats: dict[str, LayerStats] = {}
        self.epoch = 0
        self._free: list[torch.Tensor] = []  # reusable group buffers (uint8)
        self._lock = threading.Lock()
        self.workset = 0  # bytes of group buffers alive (computing or in flight)
        self.workset_peak = 0
        self._handoff: _LayerRun | None = None  # the next layer's run, started ahead

    # -- passes and reports ------------------------------------------------------------------

    def new_pass(self, *_: Any) -> None:
        """Mark the start of a forward pass (a pre-hook on the model calls this)."""
        self.epoch += 1

    def layer_stats(self, name: str) -> LayerStats:
        stats = self.stats.get(name)
        if stats is None:
            stats = self.stats[name] = LayerStats(name)
        return stats

    def reset_stats(self) -> None:
        self.stats.clear()
        cache = self.cache
        cache.hits = cache.misses = cache.evictions = cache.refused = 0

    # -- buffers -----------------------------------------------------------------------------

    def _take(self, nbytes: int) -> torch.Tensor:
        with self._lock:
            fits = [i for i, b in enumerate(self._free) if b.numel() >= nbytes]
            buf = self._free.pop(min(fits, key=lambda i: self._free[i].numel())) if fits else None
            self.workset += nbytes
            self.workset_peak = max(self.workset_peak, self.workset)
        return torch.empty(nbytes, dtype=torch.uint8) if buf is None else buf

    def _give(self, buf: torch.Tensor, nbytes: int) -> None:
        with self._lock:
            self.workset -= nbytes
            self._free.append(buf)
            if len(self._free) > self.depth + 1:  # keep one pipeline's worth: drop the smallest
                self._free.sort(key=torch.Tensor.numel)
                del self._free[0]

    # -- the pipeline ------------------------------------------------------------------------

    def groups(self, layer: Any):
        """Yield ``(k0, k1, weights)`` for each unit group of ``layer`` in order. ``weights`` is
        valid until the generator resumes (its buffer is reused): clone it to keep it."""
        started = time.perf_counter()
        with self._lock:
            run, self._handoff = self._handoff, None
        if run is not None and run.layer is not layer:  # the model ran another layer: drop it
            run.drain()
            run = None
        if run is None:
            run = _LayerRun(self, layer)
        for source in layer.ahead:  # overlap the next layers' fetches with this layer's work
            source.prefetch()
        stats = run.stats
        if stats is not None:
            stats.calls += 1
        done = _nothing
        try:
            run.fill()
            for _ in range(run.n_groups):
                k0, k1, weights, done = run.take()
                run.fill()
                if run.next_j == run.n_groups and self._handoff is None:
                    self._start_next(layer)  # the next layer's first groups decode during this compute
                t0 = time.perf_counter()
                yield k0, k1, weights
                if stats is not None:
                    stats.compute += time.perf_counter() - t0
                    stats.groups += 1
                done, finish = _nothing, done
                finish()
        finally:  # abandoned or failed: let in-flight work finish before its buffers go back
            done()
            run.drain()
            if stats is not None:
                stats.wall += time.perf_counter() - started

    def _start_next(self, layer: Any) -> None:
        nxt = getattr(layer, "next_layer", None)
        if nxt is None or (self.fast and getattr(nxt, "computes_fast", lambda: False)()):
            return
        try:
            run = _LayerRun(self, nxt)
            run.fill()
        except Exception:  # noqa: BLE001 - a speculative start: the layer's own run raises it
            return
        with self._lock:
            stale, self._handoff = self._handoff, run
        if stale is not None:
            stale.drain()

    def fast_linear(self, layer: Any, x: torch.Tensor) -> torch.Tensor:
        """``F.linear`` computed from the ``(gap, entry)`` tuples of a ``pq-*`` layer, a group
        per worker task. NOT bit-identical to the dense model (different summation order)."""
        opened = layer.fetch()
        for source in layer.ahead:
            source.prefetch()
        stats = self.layer_stats(layer.profile_name) if self.profile else None
        started = time.perf_counter()
        cuts, spans = layer.fast_groups(opened, FAST_GROUPS_PER_WORKER * max(1, self.workers))
        lead = x.shape[:-1]
        x2 = x.reshape(-1, x.shape[-1])
        xt = np.ascontiguousarray(x2.numpy().T)  # (in_features, batch): one row per weight column
        out = np.empty((layer.out_features, x2.shape[0]), dtype=np.float32)
        if stats is not None:
            stats.path = "fast" if getattr(opened.fused, "computes_linear", False) else "fast-plain"
            stats.calls += 1
            stats.select += time.perf_counter() - started
        args = [(opened, int(a), int(b), cuts[j], cuts[j + 1], xt, out) for j, (a, b) in enumerate(spans)]
        if self.workers == 0 or len(args) < 2:
            results = [_fast_group(*a) for a in args]
        else:
            t0 = time.perf_counter()
            results = list(_pool(self.workers).map(lambda a: _fast_group(*a), args))
            if stats is not None:
                stats.wait += time.perf_counter() - t0
        y = torch.from_numpy(out.T.copy())
        if layer.bias is not None:
            y += layer.bias
        if stats is not None:
            for extract_s, compute_s, n_symbols in results:
                stats.extract += extract_s
                stats.compute += compute_s
                stats.symbols += n_symbols
            stats.groups += len(args)
            stats.wall += time.perf_counter() - started
        return y.reshape(*lead, layer.out_features)


class _LayerRun:
    """One forward's worth of one layer's groups: submitted ahead, taken in order."""

    def __init__(self, engine: Engine, layer: Any) -> None:
        self.engine, self.layer = engine, layer
        self.opened = opened = layer.fetch()  # fetched on the calling thread (once per store)
        self.stats = stats = engine.layer_stats(layer.profile_name) if engine.profile else None
        if stats is not None:
            stats.path = "fused" if opened.fused is not None else "plain"
        t0 = time.perf_counter()
        self.spans = layer.spans(opened)
        if stats is not None:
            stats.select += time.perf_counter() - t0
        self.cuts, ras = layer.cuts, opened.ras
        self.tail = tuple(ras.shape[1:])
        self.dtype = dtype = _TORCH_DTYPES.get(ras.dtype)
        self.itemsize = torch.empty(0, dtype=dtype).element_size() if dtype is not None else 0
        self.bits = np.dtype(f"u{self.itemsize}") if self.itemsize else None  # kernels write bit patterns
        self.n_groups = len(self.cuts) - 1
        self.inline = engine.workers == 0
        self.pool = None if self.inline else _pool(engine.workers)
        self.pending: deque[tuple[int, Future | None, Any, int, bool]] = deque()
        self.next_j = 0

    def fill(self) -> None:
        """Submit groups until ``depth`` are in flight (one at a time without workers)."""
        limit = 1 if self.inline else self.engine.depth
        while self.next_j < self.n_groups and len(self.pending) < limit:
            self._submit(self.next_j)
            self.next_j += 1

    def _submit(self, j: int) -> None:
        engine, ras = self.engine, self.opened.ras
        k0, k1 = self.cuts[j], self.cuts[j + 1]
        if engine.cache.budget:
            hit = engine.cache.get((self.layer.cache_key, k0, k1), engine.epoch)
            if hit is not None:
                if self.stats is not None:
                    self.stats.cache_hits += 1
                self.pending.append((j, None, hit, 0, False))
                return
        nbytes = (k1 - k0) * ras.unit_size * self.itemsize
        keep = self.dtype is not None and engine.cache.may_keep(nbytes)
        if self.dtype is None:  # a dtype torch lacks: the formulation's own array, converted
            buf = None
        elif keep:  # its own tensor, handed to the cache after compute
            buf = torch.empty(nbytes, dtype=torch.uint8)
        else:
            buf = engine._take(nbytes)
        start, stop = self.spans[j]
        args = (self.opened, int(start), int(stop), k0, k1, buf, nbytes, self.bits)
        if self.inline:
            future: Future = Future()
            try:
                future.set_result(_decode_group(*args))
            except Exception as exc:  # noqa: BLE001 - raised by take(), as from a worker
                future.set_exception(exc)
        else:
            future = self.pool.submit(_decode_group, *args)
        self.pending.append((j, future, buf, nbytes, keep))

    def take(self):
        """The next group: ``(k0, k1, weights, done)``; call ``done()`` after its compute."""
        engine, stats = self.engine, self.stats
        j, future, buf, nbytes, keep = self.pending.popleft()
        k0, k1 = self.cuts[j], self.cuts[j + 1]
        if future is None:  # a cache hit
            return k0, k1, buf, _nothing
        t0 = time.perf_counter()
        try:
            extract_s, decode_s, n_symbols, made = future.result()
        except BaseException as exc:
            if buf is not None and not keep:
                engine._give(buf, nbytes)
            if isinstance(exc, Exception):  # one line naming the tensor, its pair and the cause
                raise self.opened.failure(exc) from exc
            raise
        if stats is not None:
            stats.wait += time.perf_counter() - t0
            stats.extract += extract_s
            stats.decode += decode_s
            stats.symbols += n_symbols
        if buf is None:
            return k0, k1, made, _nothing
        weights = buf[:nbytes].view(self.dtype).view(k1 - k0, *self.tail)
        key = (self.layer.cache_key, k0, k1)

        def done() -> None:
            if keep:
                engine.cache.put(key, weights, engine.epoch)
            else:
                engine._give(buf, nbytes)

        return k0, k1, weights, done

    def drain(self) -> None:
        """Wait for the groups still in flight and return their buffers."""
        while self.pending:
            _, future, buf, nbytes, keep = self.pending.popleft()
            if future is None:
                continue
            try:
                future.result()
            except BaseException:  # noqa: BLE001, S110 - the layer's own run raises its errors
                pass
            if buf is not None and not keep:
                self.engine._give(buf, nbytes)


def _nothing() -> None:
    return None


def torch_dtype(name: str) -> torch.dtype | None:
    return _TORCH_DTYPES.get(name)


def _decode_group(
    opened: Any, start: int, stop: int, k0: int, k1: int, buf: torch.Tensor | None, nbytes: int, bits: Any
):
    """Worker task: extract a group's symbols and decode them into ``buf``. Returns
    ``(extract seconds, decode seconds, symbols, weights or None)``."""
    ras = opened.ras
    t0 = time.perf_counter()
    if buf is None:  # a dtype torch lacks: the formulation's own array, converted
        symbols = opened.sequence.extract(start, stop)
        t1 = time.perf_counter()
        made = to_torch(np.ascontiguousarray(opened.formulation.decode_units(ras, symbols, k0, k1)))
        return t1 - t0, time.perf_counter() - t1, int(symbols.size), made
    out = buf.numpy()[:nbytes].view(bits)
    fused = opened.fused
    if fused is not None and fused.decode(ras, opened.sequence, start, stop, k0, k1, out) == 0:
        return 0.0, time.perf_counter() - t0, stop - start, None  # one kernel: counted as decode
    t0 = time.perf_counter()  # plain, or the fused kernel met a corruption: the plain path raises it
    symbols = opened.sequence.extract(start, stop)
    t1 = time.perf_counter()
    decode_span(ras, opened.sequence, opened.formulation, None, start, stop, k0, k1, out, symbols)
    return t1 - t0, time.perf_counter() - t1, int(symbols.size), None


def _fast_group(opened: Any, start: int, stop: int, k0: int, k1: int, xt: np.ndarray, out: np.ndarray):
    """Worker task: a group's rows of ``x @ W.T`` from its symbols: the fused decoder's
    ``linear`` where the pair has one, else extract, then the formulation's ``sparse_linear``
    (which also raises the plain path's own error when the fused kernel meets a corruption).
    Returns ``(extract seconds, compute seconds, symbols)``."""
    fused = opened.fused if getattr(opened.fused, "computes_linear", False) else None
    rows = out[k0:k1]
    try:
        t0 = time.perf_counter()
        if fused is not None and fused.linear(opened.ras, opened.sequence, start, stop, k0, k1, xt, rows) == 0:
            return 0.0, time.perf_counter() - t0, stop - start
        t0 = time.perf_counter()
        symbols = opened.sequence.extract(start, stop)
        t1 = time.perf_counter()
        opened.formulation.sparse_linear(opened.ras, symbols, k0, k1, xt, rows)
        if fused is not None:  # the fused kernel saw a corruption the plain path did not: a bug
            raise PluginError(f"fused decoder {fused.name} disagrees with the plain path")
    except Exception as exc:
        raise opened.failure(exc) from exc
    return t1 - t0, time.perf_counter() - t1, int(symbols.size)
