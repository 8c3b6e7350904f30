"""Run torch models whose Conv2d/Linear weights stay compressed in a store."""

from codecbench.executor.modules import CompressedConv2d, CompressedLinear, unit_groups
from codecbench.executor.runner import ModelStore, compress_model_inplace, open_model_store

__all__ = [
    "CompressedConv2d",
    "CompressedLinear",
    "ModelStore",
    "compress_model_inplace",
    "open_model_store",
    "unit_groups",
]
