"""Chunk encoding on a Dask distributed cluster: ``codecbench compress --dask ADDRESS|local[:N]``.

One task per codecbench tensor (a store holds one chunk per tensor, so per tensor is per
chunk): formulation + codec encode + CRC-32C, run on a worker, returning the chunk object's
bytes. The client scatters each tensor to the cluster, submits every task before writing
anything, then writes the results into the destination store in tensor order through the
usual atomic writer (:func:`codecbench.store.writer.write_store`). The worker runs the very
function zarr's codec runs (:func:`codecbench.store.chunk.encode_chunk`) and appends the CRC
as zarr's ``crc32c`` codec does, so the store is byte-identical to a serial compress.

dask/distributed are optional (``pip install 'codecbench[dask]'``); only their task
transport serializes anything (cloudpickle, in flight); nothing is persisted as a pickle.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import google_crc32c
import numpy as np

from codecbench.errors import ConfigError, StoreError
from codecbench.store import chunk
from codecbench.store.writer import TensorPlan


def encode_chunk_object(
    tensor: np.ndarray,
    formulation: str,
    codec: str,
    formulation_params: dict[str, Any],
    codec_params: dict[str, Any],
) -> bytes:
    """The stored chunk object of one codecbench tensor: its codecbench chunk, then the
    CRC-32C of it as u32 little-endian (what zarr's ``codecbench`` + ``crc32c`` write)."""
    blob = chunk.encode_chunk(tensor, formulation, codec, formulation_params, codec_params)
    return blob + np.uint32(google_crc32c.value(blob)).tobytes()


def parse_dask_spec(spec: str) -> tuple[str | None, int | None]:
    """``local`` -> (None, None): a LocalCluster of one worker per core; ``local:N`` -> (None, N);
    anything else is a scheduler address (``tcp://host:8786``) -> (address, None)."""
    if spec == "local":
        return None, None
    if spec.startswith("local:"):
        text = spec[len("local:") :]
        if not text.isdigit() or int(text) < 1:
            raise ConfigError(f"--dask {spec!r}: local:N needs a worker count N >= 1")
        return None, int(text)
    if not spec or spec.startswith("-"):
        raise ConfigError(f"--dask {spec!r}: expected a scheduler address (tcp://host:8786) or local[:N]")
    return spec, None


class DaskEncoder:
    """A :class:`~codecbench.store.writer.ChunkEncoder` on a Dask cluster; use as a context
    manager (starts a LocalCluster for ``local[:N]``, or connects to a scheduler address)."""

    def __init__(self, spec: str, *, processes: bool = True, connect_timeout: str = "10s") -> None:
        self.spec = spec
        self.address, self.n_workers = parse_dask_spec(spec)
        self.processes = processes
        self.connect_timeout = connect_timeout
        self.client: Any = None
        self.cluster: Any = None

    def __enter__(self) -> DaskEncoder:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ConfigError(
                f"--dask {self.spec}: dask.distributed is not installed ({exc}); pip install 'codecbench[dask]'"
            ) from None
        try:
            if self.address is None:
                self.cluster = LocalCluster(
                    n_workers=self.n_workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=self.processes,
                    memory_limit=0,  # a worker holds what one tensor's encode needs; no spilling
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.client = Client(self.cluster)
            else:
                self.client = Client(self.address, timeout=self.connect_timeout)
        except Exception as exc:  # unreachable scheduler, bad address
            self.__exit__(None, None, None)
            lines = str(exc).strip().splitlines()
            raise StoreError(
                f"--dask {self.spec}: cannot start or reach the cluster ({type(exc).__name__}: "
                f"{lines[0] if lines else ''})"
            ) from None
        return self

    def __exit__(self, *exc: Any) -> None:
        for part in (self.client, self.cluster):
            if part is not None:
                try:
                    part.close()
                except Exception:  # shutting down is best effort
                    pass
        self.client = self.cluster = None

    def submit(self, name: str, tensor: np.ndarray, plan: TensorPlan) -> Any:
        data = self.client.scatter(tensor, hash=False)
        return self.client.submit(
            encode_chunk_object,
            data,
            plan.formulation,
            plan.codec,
            dict(plan.formulation_params),
            dict(plan.codec_params),
            pure=False,
        )

    def result(self, handle: Any) -> bytes:
        blob = handle.result()
        handle.release()
        return blob
