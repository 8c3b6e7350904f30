"""codecbench: run neural networks straight from losslessly compressed weights.

>>> import codecbench
>>> store = codecbench.open("alexnet.zarr")      # metadata only
>>> store.keys(), store.info("features.0.weight")
>>> w = store.tensor("features.0.weight")        # one tensor decoded, bit-exact
>>> model = store.load_model()                   # Conv2d/Linear weights stay compressed
>>> codecbench.open("s3://bucket/alexnet.zarr")     # fsspec URLs and .zip files too
"""

from __future__ import annotations

from typing import Any

from codecbench.hookspecs import hookimpl
from codecbench.version import __version__

__all__ = ["__version__", "hookimpl", "open"]


def open(path: Any, storage_options: dict[str, Any] | None = None) -> Any:  # noqa: A001 - mirrors safetensors.safe_open / zarr.open
    """Open a store lazily (reads metadata only); returns a :class:`codecbench.executor.ModelStore`.

    ``path`` is a local directory, a local ``.zip`` file, an fsspec URL (``s3://bucket/m.zarr``,
    ``memory://m.zarr``, ...; ``storage_options`` go to fsspec, e.g. ``{"endpoint_url": ...}``)
    or a zarr Store object.
    """
    from codecbench.executor.runner import open_model_store

    return open_model_store(path, storage_options)
