"""Stores: zarr v3 groups whose chunks are codecbench chunks (``specs/store-format.md``)."""

from codecbench.store.reader import StoreReader, open_store
from codecbench.store.writer import FORMAT_VERSION, TensorPlan, write_store

__all__ = ["FORMAT_VERSION", "StoreReader", "TensorPlan", "open_store", "write_store"]
