"""Bit-level helpers the kernels share, as numba intrinsics: an unaligned little-endian 64-bit
load from a byte array (one instruction on x86-64 and arm64, where a pair of aligned word loads,
shifts and a branch-free merge took twice as long per weight)."""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic


@intrinsic
def load_u64(typingctx, array, index):  # noqa: ARG001 - numba's intrinsic signature
    """``array[index : index + 8]`` (``array``: a contiguous uint8 array) as a little-endian
    uint64, from any byte offset. No bounds check: the caller keeps ``index + 8 <= len(array)``."""
    sig = types.uint64(array, types.int64)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0])
        pointer = builder.gep(data.data, [args[1]])
        return builder.load(builder.bitcast(pointer, ir.IntType(64).as_pointer()), align=1)

    return sig, codegen
