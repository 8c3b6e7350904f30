"""Compress AlexNet into a store, then run it straight from the compressed weights.

    python examples/compress_and_run.py [STORE] [--model alexnet|vgg16] [--weights init:0]

The same as ``codecbench compress alexnet -o STORE`` then ``codecbench run STORE --check``.
"""

from __future__ import annotations

import argparse

import torch

import codecbench
from codecbench.compression import compress_model
from codecbench.executor.runner import same_bits, seeded_input
from codecbench.store.config import StoreConfig

parser = argparse.ArgumentParser()
parser.add_argument("store", nargs="?", default="alexnet.zarr")
parser.add_argument("--model", default="alexnet")
parser.add_argument("--weights", default="init:0")
args = parser.parse_args()

config = StoreConfig.simple(formulation="element", codec="raw")
compress_model(args.model, args.weights, args.store, config, overwrite=True)

store = codecbench.open(args.store)  # reads metadata only
model = store.load_model()  # Conv2d/Linear weights stay compressed
x = seeded_input(batch=2)
with torch.inference_mode():
    logits = model(x)
    dense_logits = store.dense_model()(x)  # every tensor decoded, sha256-checked

print("top-1:", logits.argmax(dim=1).tolist())
print("bit-identical to the dense model:", same_bits(logits, dense_logits))
