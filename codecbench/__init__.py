"""codecbench: run neural networks straight from losslessly compressed weights.

>>> import codecbench
>>> store = codecbench.open("alexnet.zarr")      # metadata only
>>> store.keys(), store.info("features.0.weight")
>>> w = store.tensor("features.0.weight")        # one tensor decoded, bit-exact
>>> model = store.load_model()                   # Conv2d/Linear weights stay compressed
>>> codecbench.open("s3://bucket/alexnet.zarr")     # fsspec URLs and .zip files too
>>> codecbench.compress(model, "mine.zarr")          # any module, state_dict or checkpoint file
"""

from __future__ import annotations

from typing import Any

from codecbench.hookspecs import hookimpl
from codecbench.version import __version__

__all__ = ["__version__", "compress", "hookimpl", "open"]


def open(path: Any, storage_options: dict[str, Any] | None = None) -> Any:  # noqa: A001 - mirrors safetensors.safe_open / zarr.open
    """Open a store lazily (reads metadata only); returns a :class:`codecbench.executor.ModelStore`.

    ``path`` is a local directory, a local ``.zip`` file, an fsspec URL (``s3://bucket/m.zarr``,
    ``memory://m.zarr``, ...; ``storage_options`` go to fsspec, e.g. ``{"endpoint_url": ...}``)
    or a zarr Store object.
    """
    from codecbench.executor.runner import open_model_store

    return open_model_store(path, storage_options)


def compress(
    source: Any,
    path: Any,
    *,
    formulation: str | None = None,
    codec: str | None = None,
    config: Any = None,
    prune: Any = None,
    auto: str | None = None,
    storage_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Any:
    """Compress ``source`` into a new store at ``path``; returns the store's path.

    ``source``: an ``nn.Module`` (its ``state_dict``), a mapping of names to torch tensors or
    numpy arrays, a checkpoint file (``.pth``/``.pt``/``.safetensors``), or a built-in model
    name (``"alexnet"``, ``"vgg16"``, seeded weights). ``path`` as for :func:`open`.

    With no ``formulation`` and no ``config``, each tensor gets
    :func:`codecbench.compression.default_plan`: weight-shaped floats float-split (pq-joint
    once pruned and shared, pq-element if pruned only) with ``codec`` (default huffman-fast), everything else plain. ``config``: a
    :class:`~codecbench.store.config.StoreConfig`, a TOML file, or its dict. ``prune``: ``True``
    (Deep Compression defaults), a :class:`~codecbench.models.prune.PruneConfig` or its TOML
    file; lossy, never implied. ``auto``: ``"size"``, ``"speed"`` or ``"balanced"`` (measure
    every pair per tensor, see ``compress --auto``).

    >>> codecbench.compress(model, "m.zarr")
    >>> codecbench.open("m.zarr").load_model(build_my_model())  # runs from the compressed weights
    """
    import os

    from codecbench import compression
    from codecbench.errors import ConfigError
    from codecbench.models.prune import PruneConfig
    from codecbench.store.config import StoreConfig

    if config is not None and (formulation or codec):
        raise ConfigError("compress: config cannot be combined with formulation/codec")
    if isinstance(config, (str, os.PathLike)):
        config = StoreConfig.from_toml(config)
    elif isinstance(config, dict):
        config = StoreConfig.from_dict(config)
    elif config is None:
        config = compression.default_config(formulation, codec)
    if prune is True:
        prune = PruneConfig()
    elif isinstance(prune, (str, os.PathLike)):
        prune = PruneConfig.from_toml(prune)
    elif prune is False:
        prune = None
    options = {
        "overwrite": overwrite,
        "progress": progress,
        "prune": prune,
        "storage_options": storage_options,
        "auto": auto,
        "codec": codec or compression.DEFAULT_CODEC,
    }
    if isinstance(source, (str, os.PathLike)):
        if compression.is_checkpoint(os.fspath(source)):
            return compression.compress_checkpoint(source, path, config, **options)
        return compression.compress_model(os.fspath(source), "init:0", path, config, **options)
    state = source.state_dict() if hasattr(source, "state_dict") else source
    return compression.compress_state_dict(state, path, config, **options)
