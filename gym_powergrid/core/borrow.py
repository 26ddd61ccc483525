""":func:`borrow`: an array without its reference-counted owner, for use inside one call.

Every view of an owned array (a slice, a row of a stacked array, an argument passed on to
another compiled function) increments and decrements its owner's reference count with an
atomic instruction. The step kernels make a few hundred of them per grid-step; on a busy
machine, and above all in the vector kernel, whose threads share the owners of the stacked
arrays (one cache line bounced between the cores at every view), they cost more than the
rules and the observation together. A borrowed array, and every view of it, skips them.
"""

from __future__ import annotations

from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def borrow(typingctx, arr):
    """The same array (same type, data, shape and strides) with no owner (``meminfo``).

    Only for arrays that the caller keeps alive for the whole call, and never returned or
    stored: nothing keeps a borrowed array's memory alive.
    """
    def codegen(context, builder, signature, args):
        src = context.make_array(arr)(context, builder, value=args[0])
        dst = context.make_array(arr)(context, builder)
        dst.meminfo = cgutils.get_null_value(dst.meminfo.type)
        dst.parent = cgutils.get_null_value(dst.parent.type)
        dst.nitems = src.nitems
        dst.itemsize = src.itemsize
        dst.data = src.data
        dst.shape = src.shape
        dst.strides = src.strides
        return dst._getvalue()

    return arr(arr), codegen
