"""A GPT-2-style decoder, compressed losslessly with float-split and run from the store.

python examples/gpt2_float_split.py [OUT_DIR] [--layers 4] [--width 256] [--vocab 4096]

The model is defined here (token and position embeddings, pre-norm blocks of causal
attention and a GELU MLP, an untied language-model head), randomly initialised as GPT-2 is
(normal, std 0.02): nothing is downloaded. For bfloat16 and float32 it is compressed with
float-split + huffman-fast (sign and exponent entropy-coded, mantissa bits kept), run from the
store on a seeded batch of tokens, and checked bit for bit against the dense model. It prints
each store's size as a share of the weights (DFloat11 reports 67.6-69.5 % for trained bfloat16
LLMs: a reference point, these weights are initialised), against the entropy bound
of float-split's symbols (H0 of the sign+exponent symbols, plus the mantissa bits stored as
they are), and the time of a forward from the store against the dense one.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import codecbench
from codecbench.compression.measure import Pair, measure_layer
from codecbench.dtypes import to_numpy
from codecbench.executor.runner import same_bits

DFLOAT11_BFLOAT16 = (67.6, 69.5)  # % of the bfloat16 weights, as the DFloat11 paper reports


class Block(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab: int = 4096, d: int = 256, layers: int = 4, heads: int = 4, context: int = 128) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(context, d)
        self.h = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def make_model(dtype: torch.dtype, seed: int, **shape: int) -> GPT:
    torch.manual_seed(seed)
    model = GPT(**shape)
    for name, p in model.named_parameters():  # GPT-2's initialisation
        if p.ndim >= 2:
            nn.init.normal_(p, std=0.02 / math.sqrt(2 * len(model.h)) if name.endswith("proj.weight") else 0.02)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
    return model.to(dtype).eval()


def bound_bytes(model: nn.Module) -> tuple[int, float]:
    """(weight bytes, entropy bound in bytes) of the float-split-coded tensors."""
    weights, bound = 0, 0.0
    for p in model.state_dict().values():
        if p.ndim >= 2:
            result, _ = measure_layer(to_numpy(p), Pair("float-split", "huffman-fast"), time_it=False)
            weights += p.numel() * p.element_size()
            bound += result.n_symbols * result.h0_bits / 8 + result.side_bytes
    return weights, bound


def timed(model: nn.Module, ids: torch.Tensor, reps: int = 5) -> tuple[torch.Tensor, float]:
    times = []
    with torch.inference_mode():
        for _ in range(reps + 1):  # the first pass warms up (fetches chunks, loads kernels)
            start = time.perf_counter()
            y = model(ids)
            times.append(time.perf_counter() - start)
    return y, sorted(times[1:])[reps // 2]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="directory for the stores (default: a temporary one)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=4096)
    args = parser.parse_args(argv)
    shape = {"layers": args.layers, "d": args.width, "vocab": args.vocab}
    out = Path(args.out or tempfile.mkdtemp(prefix="codecbench-gpt-"))
    out.mkdir(parents=True, exist_ok=True)
    ids = torch.randint(0, args.vocab, (1, 64), generator=torch.Generator().manual_seed(0))
    ok = True
    for dtype in (torch.bfloat16, torch.float32):
        dense = make_model(dtype, 0, **shape)
        path = codecbench.compress(dense, out / f"gpt-{str(dtype).split('.')[-1]}.zarr", overwrite=True)
        store = codecbench.open(path)
        summary = store.summary()
        weights, bound = bound_bytes(dense)
        coded = sum(store.info(k)["stored_nbytes"] for k in store.keys() if store.info(k)["storage"] == "codecbench")
        model = store.load_model(make_model(dtype, 1, **shape))  # other weights: the store's are loaded
        y, seconds = timed(model, ids)
        y_dense, dense_seconds = timed(dense, ids)
        identical = same_bits(y, y_dense)
        ok &= identical
        line = (
            f"{dtype}: {summary['original_bytes']:,} -> {summary['stored_bytes']:,} bytes "
            f"({100 * summary['stored_bytes'] / summary['original_bytes']:.1f} % of the model; "
            f"weight matrices {100 * coded / weights:.1f} %, entropy bound {100 * bound / weights:.1f} %, "
            f"stored / bound {coded / bound:.4f}); forward {seconds * 1e3:.1f} ms vs dense "
            f"{dense_seconds * 1e3:.1f} ms ({seconds / dense_seconds:.2f}x); "
            f"{'bit-identical' if identical else 'NOT bit-identical'}"
        )
        if dtype == torch.bfloat16:
            line += f"; DFloat11 reports {DFLOAT11_BFLOAT16[0]}-{DFLOAT11_BFLOAT16[1]} % for bfloat16 LLMs"
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
