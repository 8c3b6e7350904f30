"""The built-in codecs and formulations run the very conformance suite plugins run (``codecbench.testing``).

Codec-specific behaviour (byte layouts, batch methods, size guarantees) stays in each codec's own
test module; the whole-AlexNet cases of the built-in codecs live in ``tests/test_executor.py``.
"""

from __future__ import annotations

from codecbench.testing import CodecConformance, FormulationConformance

ALEXNET_ELSEWHERE = "built-in codecs run AlexNet end to end in tests/test_executor.py"


class TestRaw(CodecConformance):
    codec_name = "raw"
    distribution = "codecbench"
    header_size = 32
    alexnet = ALEXNET_ELSEWHERE


class TestWaveletTreeHuffman(CodecConformance):
    codec_name = "wavelet-tree"
    distribution = "codecbench"
    params = {"shape": "huffman"}
    extra_params = [{"shape": "huffman", "max_code_length": 8}]
    alexnet = ALEXNET_ELSEWHERE


class TestWaveletTreeBalanced(CodecConformance):
    codec_name = "wavelet-tree"
    distribution = "codecbench"
    params = {"shape": "balanced"}
    alexnet = ALEXNET_ELSEWHERE


class TestHuffmanFast(CodecConformance):
    codec_name = "huffman-fast"
    distribution = "codecbench"
    extra_params = [{"sync_every": 64, "count_every": 256}]
    alexnet = ALEXNET_ELSEWHERE


class TestHuffman(CodecConformance):
    """The paper's baseline decodes from the start of the stream for every query: small sizes."""

    codec_name = "huffman"
    distribution = "codecbench"
    max_examples = 10
    max_n = 400
    long_n = 5_000
    hostile_n = 300
    body_flips = 16
    alexnet = ALEXNET_ELSEWHERE


class TestElement(FormulationConformance):
    formulation_name = "element"
    distribution = "codecbench"
    dtypes = ["float32", "float16", "float64", "int8", "int32", "uint8", "bool"]


FLOATS_AND_INTS = ["float32", "float16", "float64", "bfloat16", "int8", "uint8", "bool"]


class TestBlock(FormulationConformance):
    formulation_name = "block"
    distribution = "codecbench"
    dtypes = FLOATS_AND_INTS


class TestBlockOfThree(FormulationConformance):
    formulation_name = "block"
    distribution = "codecbench"
    params = {"block_size": 3}  # does not divide most unit sizes: padded last blocks
    dtypes = ["float32", "int8"]


class TestPQElement(FormulationConformance):
    formulation_name = "pq-element"
    distribution = "codecbench"
    dtypes = FLOATS_AND_INTS
    fixed_unit_length = False  # a unit holds as many tuples as it has nonzeros


class TestPQBlock(FormulationConformance):
    formulation_name = "pq-block"
    distribution = "codecbench"
    params = {"block_size": 2, "gap_bits": 1}  # gaps overflow: fillers everywhere
    dtypes = FLOATS_AND_INTS
    fixed_unit_length = False


class TestPQJoint(FormulationConformance):
    formulation_name = "pq-joint"
    distribution = "codecbench"
    params = {"gap_bits": 1}  # gaps overflow: fillers everywhere
    dtypes = FLOATS_AND_INTS
    fixed_unit_length = False


class TestFloatSplit(FormulationConformance):
    formulation_name = "float-split"
    distribution = "codecbench"
    dtypes = ["float32", "float16", "float64", "bfloat16"]

    def rejected_tensors(self):
        import numpy as np

        return {**super().rejected_tensors(), "int32": np.ones((2, 2), np.int32), "bool": np.ones((2, 2), bool)}
