"""Raw-memory helpers for the numba kernels: array views on an address, and prefetch.

Why views on addresses: an array made inside a kernel by slicing or ``.view`` shares the
buffer's NRT meminfo, and every call that passes it on increments and decrements that
reference count with a locked (atomic) instruction. In the wavelet-tree kernels those pairs
cost more than the work itself (perf showed ``NRT_incref``/``NRT_decref`` at over half of
``access_many``). A view made with :func:`array_at` (:func:`numba.carray` on a raw address) has no meminfo, so
reference counting it is a null test. The caller keeps the buffer alive.

Why prefetch: a wavelet-tree query reads one cache line per level, each line's address
depending on the previous one. ``llvm.prefetch`` lets a kernel start the next level's
candidate lines while the current one is still in flight.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _pointer(typingctx, address, dtype):
    """``address`` (an integer) as a pointer to ``dtype`` elements."""
    if not isinstance(address, types.Integer) or not isinstance(dtype, (types.NumberClass, types.DType)):
        return None
    pointee = dtype.instance_type if isinstance(dtype, types.NumberClass) else dtype.dtype
    sig = types.CPointer(pointee)(address, dtype)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@intrinsic
def prefetch(typingctx, address):
    """Start loading the cache line holding byte ``address`` (read, keep in all levels).

    A hint only: it never faults, so a speculative address outside the buffer is harmless."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        ptr = builder.inttoptr(args[0], i8p)
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.none(address), codegen


@numba.njit(inline="always")
def array_at(address, count, dtype):
    """A 1-d array of ``count`` ``dtype`` elements at ``address``, without a meminfo."""
    return numba.carray(_pointer(np.int64(address), dtype), np.int64(count))
