"""Four float64 lanes as one LLVM vector, for the "lanes" kernels of :mod:`xbar.crossbar.kernels`.

numba compiles with LLVM's SLP vectoriser off (it miscompiled code, numba PR 8852),
so the four inputs of a lane group written as a tuple of four floats ran as four
scalar instructions each.  The intrinsics here emit LLVM's ``<4 x double>`` directly:
one load, one store, one multiply or add for the four lanes (measured on the
256x256 lane sweeps: 2 to 3 times faster in cache).

A value of type :data:`vec4` lives in registers (it is never an array element and
never crosses into Python).  Arrays in the lanes' layout are (n, 4) and C-contiguous;
float32 arrays are widened on load and rounded on store (arithmetic stays float64).
Shared (n,) arrays give their node's value in all four lanes (:func:`lane`).

The arithmetic carries LLVM's fast-math flags, as the kernels that use it are
compiled with ``fastmath=True``.  The readable twin is plain numpy on (n, 4)
arrays; tests compare the lanes kernels with the other kernels and with the sparse
reference, and :func:`lane`, :func:`put` with plain indexing.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model

__all__ = ["vec4", "lane", "put", "vsplat", "vmake", "vget", "vadd", "vsub", "vmul", "vdiv", "vfma"]

WIDTH = 4  # lanes per vector (the kernels' LANES)


class Vec4Type(types.Type):
    """numba type of four float64 lanes held as one LLVM vector."""

    def __init__(self) -> None:
        super().__init__(name="vec4f64")


vec4 = Vec4Type()
_V = ir.VectorType(ir.DoubleType(), WIDTH)
_I32 = ir.IntType(32)
_FAST = ("fast",)


@register_model(Vec4Type)
class _Vec4Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type) -> None:
        super().__init__(dmm, fe_type, _V)


def _number(t) -> bool:
    return isinstance(t, (types.Float, types.Integer))


@intrinsic
def vsplat(typingctx, x):
    """The scalar ``x`` in all four lanes."""
    if not _number(x):
        return None

    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[0], sig.args[0], types.float64)
        out = ir.Constant(_V, ir.Undefined)
        for k in range(WIDTH):
            out = builder.insert_element(out, v, ir.Constant(_I32, k))
        return out

    return vec4(x), codegen


@intrinsic
def vmake(typingctx, a, b, c, d):
    """The four lanes ``(a, b, c, d)``."""
    if not all(_number(t) for t in (a, b, c, d)):
        return None

    def codegen(context, builder, sig, args):
        out = ir.Constant(_V, ir.Undefined)
        for k in range(WIDTH):
            v = context.cast(builder, args[k], sig.args[k], types.float64)
            out = builder.insert_element(out, v, ir.Constant(_I32, k))
        return out

    return vec4(a, b, c, d), codegen


@intrinsic
def vget(typingctx, v, k):
    """Lane ``k`` of ``v`` (a float64)."""
    if v is not vec4 or not isinstance(k, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        idx = context.cast(builder, args[1], sig.args[1], types.int32)
        return builder.extract_element(args[0], idx)

    return types.float64(v, k), codegen


def _binary(name: str, doc: str):
    @intrinsic
    def op(typingctx, a, b):
        if a is not vec4 or b is not vec4:
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, name)(args[0], args[1], flags=_FAST)

        return vec4(a, b), codegen

    op.__doc__ = doc
    return op


vadd = _binary("fadd", "``a + b`` lane-wise.")
vsub = _binary("fsub", "``a - b`` lane-wise.")
vmul = _binary("fmul", "``a * b`` lane-wise.")
vdiv = _binary("fdiv", "``a / b`` lane-wise.")


@intrinsic
def vfma(typingctx, a, b, c):
    """``a * b + c`` lane-wise (fused where the target has FMA)."""
    if not (a is vec4 and b is vec4 and c is vec4):
        return None

    def codegen(context, builder, sig, args):
        m = builder.fmul(args[0], args[1], flags=_FAST)
        return builder.fadd(m, args[2], flags=_FAST)

    return vec4(a, b, c), codegen


def _lanes_array(a) -> bool:
    return (
        isinstance(a, types.Array)
        and a.ndim == 2
        and a.layout == "C"
        and a.dtype in (types.float64, types.float32)
    )


def _row_pointer(context, builder, aryty, ary, s):
    """Pointer to ``a[s, 0]`` as a pointer to a vector of four of its elements."""
    arr = context.make_array(aryty)(context, builder, ary)
    s = context.cast(builder, s[0], s[1], types.intp)
    ptr = cgutils.get_item_pointer(
        context, builder, aryty, arr, [s, ir.Constant(s.type, 0)], wraparound=False
    )
    et = context.get_data_type(aryty.dtype)
    return builder.bitcast(ptr, ir.VectorType(et, WIDTH).as_pointer()), et


@intrinsic
def _vload(typingctx, a, s):
    if not _lanes_array(a) or not isinstance(s, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        vp, et = _row_pointer(context, builder, sig.args[0], args[0], (args[1], sig.args[1]))
        v = builder.load(vp, align=et.get_abi_alignment(context.target_data))
        return builder.fpext(v, _V) if sig.args[0].dtype == types.float32 else v

    return vec4(a, s), codegen


@intrinsic
def _vstore(typingctx, a, s, v):
    if not _lanes_array(a) or not isinstance(s, types.Integer) or v is not vec4:
        return None

    def codegen(context, builder, sig, args):
        vp, et = _row_pointer(context, builder, sig.args[0], args[0], (args[1], sig.args[1]))
        val = args[2]
        if sig.args[0].dtype == types.float32:
            val = builder.fptrunc(val, ir.VectorType(et, WIDTH))
        builder.store(val, vp, align=et.get_abi_alignment(context.target_data))
        return context.get_dummy_value()

    return types.none(a, s, v), codegen


def lane(a, s):
    """The four lanes of node ``s``: ``a[s, :]`` of an (n, 4) array, ``a[s]`` in all
    four lanes of a shared (n,) array, or ``fix[s] + g[s, :]`` for a pair ``(fix, g)``
    (a sum computed where it is read instead of stored)."""
    raise NotImplementedError("numba only")


def put(a, s, v):
    """``a[s, :] = v`` for an (n, 4) array (rounded to its dtype)."""
    raise NotImplementedError("numba only")


@overload(lane, inline="always")
def _lane(a, s):
    if isinstance(a, types.BaseTuple) and len(a) == 2:  # (fix, g): fix[s] + g[s, :]
        return lambda a, s: vadd(vsplat(a[0][s]), lane(a[1], s))
    if isinstance(a, types.Array) and a.ndim == 1:
        return lambda a, s: vsplat(a[s])
    if _lanes_array(a):
        return lambda a, s: _vload(a, s)
    if isinstance(a, types.Array) and a.ndim == 2:  # another layout: element by element
        return lambda a, s: vmake(a[s, 0], a[s, 1], a[s, 2], a[s, 3])
    return None


@overload(put, inline="always")
def _put(a, s, v):
    if _lanes_array(a):
        return lambda a, s, v: _vstore(a, s, v)
    if isinstance(a, types.Array) and a.ndim == 2:

        def elementwise(a, s, v):
            for k in range(WIDTH):
                a[s, k] = vget(v, k)

        return elementwise
    return None
