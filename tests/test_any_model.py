"""Models beyond Conv2d/Linear stacks run from a store bit-identically: Linear layers inside
``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` (which read ``.weight`` directly,
the encoder layer through torch's fast path), bare ``in_proj_weight`` Parameters, LayerNorm,
and ``nn.Embedding``/``nn.EmbeddingBag`` tables whose rows are decoded on lookup, never the
whole table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import codecbench
from codecbench.executor.modules import CompressedEmbedding, CompressedEmbeddingBag, CompressedLinear
from codecbench.executor.runner import model_engine


class TinyEncoder(nn.Module):
    """Token embedding, two encoder layers (attention + MLP, LayerNorm), a linear head."""

    def __init__(self, vocab: int = 300, d: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, nhead=4, dim_feedforward=128, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.encoder(self.embed(ids))))


class Attention(nn.Module):
    """``nn.MultiheadAttention`` called directly (not through an encoder layer's fast path)."""

    def __init__(self, d: int = 48) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, num_heads=3, batch_first=True)
        self.out = nn.Linear(d, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.attn(x, x, x, need_weights=False)
        return self.out(y)


def _fresh(cls: type[nn.Module], seed: int, dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(seed)
    return cls().to(dtype).eval()


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit for bit (bfloat16 included: compared as bytes)."""
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and bytes(a.view(torch.uint8).numpy()) == bytes(b.view(torch.uint8).numpy())
    )


@pytest.mark.parametrize("pair", [None, ("element", "raw"), ("float-split", "wavelet-tree")])
def test_transformer_encoder_bit_identical(tmp_path: Path, pair: tuple[str, str] | None) -> None:
    dense = _fresh(TinyEncoder, 0)
    options = {} if pair is None else {"formulation": pair[0], "codec": pair[1]}
    store = codecbench.open(codecbench.compress(dense, tmp_path / "enc.zarr", **options))
    assert store.info("encoder.layers.0.self_attn.in_proj_weight")["storage"] == "codecbench"
    model = store.load_model(_fresh(TinyEncoder, 1))  # other weights: the store's must be loaded
    assert isinstance(model.encoder.layers[0].self_attn.out_proj, CompressedLinear)
    assert isinstance(model.embed, CompressedEmbedding)
    ids = torch.randint(0, 300, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        y, expected = model(ids), dense(ids)
        assert _same(y, expected)
        assert _same(store.dense_model(_fresh(TinyEncoder, 2))(ids), expected)


def test_multihead_attention_reads_the_decoded_weight(tmp_path: Path) -> None:
    dense = _fresh(Attention, 0)
    store = codecbench.open(codecbench.compress(dense, tmp_path / "a.zarr"))
    model = store.load_model(_fresh(Attention, 1), profile=True)
    x = torch.randn(2, 5, 48, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert _same(model(x), dense(x))
    out_proj = model.attn.out_proj
    assert isinstance(out_proj, CompressedLinear)
    assert out_proj.weight.numpy().tobytes() == dense.attn.out_proj.weight.detach().numpy().tobytes()
    assert model_engine(model).stats["attn.out_proj"].groups > 0  # the decoded weight went through the engine


def test_embedding_decodes_only_the_rows_looked_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    dense = nn.Sequential(nn.Embedding(1000, 16), nn.Linear(16, 4)).eval()
    store = codecbench.open(codecbench.compress(dense, tmp_path / "e.zarr"))
    model = store.load_model(nn.Sequential(nn.Embedding(1000, 16), nn.Linear(16, 4)))
    table = model[0]
    decoded: list[int] = []
    real = table.rows
    monkeypatch.setattr(table, "rows", lambda rows: (decoded.extend(rows.tolist()), real(rows))[1])
    ids = torch.tensor([[5, 6, 7, 999, 0], [7, 7, 500, 6, 0]])  # runs, repeats, both ends
    with torch.inference_mode():
        assert _same(model(ids), dense(ids))
        assert _same(table(torch.tensor([], dtype=torch.long)), dense[0](torch.tensor([], dtype=torch.long)))
    assert decoded == [0, 5, 6, 7, 500, 999]  # each row once, nothing else
    with pytest.raises(IndexError, match="0.weight"):
        table(torch.tensor([1000]))


def test_bfloat16_embedding_and_linear(tmp_path: Path) -> None:
    torch.manual_seed(0)
    dense = nn.Sequential(nn.Embedding(64, 32), nn.Linear(32, 8)).bfloat16().eval()
    store = codecbench.open(codecbench.compress(dense, tmp_path / "b.zarr"))
    assert store.info("0.weight")["dtype"] == "bfloat16"
    model = store.load_model(nn.Sequential(nn.Embedding(64, 32), nn.Linear(32, 8)).bfloat16())
    ids = torch.tensor([[1, 2, 3, 63]])
    with torch.inference_mode():
        assert _same(model(ids), dense(ids))
    assert np.array_equal(model[0].rows(np.array([3])).float().numpy(), dense[0].weight[3:4].float().detach().numpy())


@pytest.mark.parametrize(("mode", "padding_idx"), [("sum", None), ("mean", 3), ("max", None)])
def test_embedding_bag(tmp_path: Path, mode: str, padding_idx: int | None) -> None:
    def make() -> nn.Module:
        return nn.ModuleList([nn.EmbeddingBag(200, 24, mode=mode, padding_idx=padding_idx)])

    torch.manual_seed(0)
    dense_list = make().eval()
    store = codecbench.open(codecbench.compress(dense_list, tmp_path / "bag.zarr"))
    model, dense = store.load_model(make())[0], dense_list[0]
    assert isinstance(model, CompressedEmbeddingBag)
    ids = torch.tensor([3, 7, 7, 150, 3, 199, 0, 42])
    offsets = torch.tensor([0, 3, 3, 6])  # an empty bag included
    weights = torch.rand(8, generator=torch.Generator().manual_seed(1)) if mode == "sum" else None
    with torch.inference_mode():
        assert _same(model(ids, offsets, per_sample_weights=weights), dense(ids, offsets, per_sample_weights=weights))
        assert _same(model(ids.view(2, 4)), dense(ids.view(2, 4)))  # 2-D input: one bag per row
