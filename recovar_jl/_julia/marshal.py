"""Marshalling: a Python call becomes an array of argument descriptors for the Julia thread.

A kernel is called as ``call("name", *args)`` with C-contiguous NumPy arrays, ints, floats
and strings; Julia receives the same memory, no copy (see docs/bridge.md).
"""
from __future__ import annotations

import ctypes

import numpy as np

from .cabi import _ELTYPE_CODES, _MAX_DIMS, _ArgDesc
from .errors import JuliaError
from .runtime import runtime

_MESSAGE_CAPACITY = 8192


def _describe(arg, position: int, kernel: str) -> tuple[_ArgDesc, object]:
    desc = _ArgDesc()
    keep = arg
    if isinstance(arg, np.ndarray):
        code = _ELTYPE_CODES.get(arg.dtype)
        if code is None:
            raise TypeError(f"{kernel}: argument {position} has unsupported dtype {arg.dtype}")
        if not arg.flags.c_contiguous or not arg.flags.aligned:
            raise ValueError(f"{kernel}: argument {position} must be C-contiguous and aligned")
        if arg.ndim > _MAX_DIMS:
            raise ValueError(f"{kernel}: argument {position} has more than {_MAX_DIMS} dimensions")
        desc.kind, desc.eltype, desc.ndim = 0, code, arg.ndim
        desc.ptr = arg.ctypes.data if arg.size else 0
        for i, n in enumerate(arg.shape):
            desc.dims[i] = n
    elif isinstance(arg, (bool, np.bool_)):
        desc.kind, desc.ival = 1, int(arg)
    elif isinstance(arg, (int, np.integer)):
        value = int(arg)
        if not -2**63 <= value < 2**63:  # ctypes would silently keep only the low 64 bits
            raise ValueError(f"{kernel}: argument {position} = {value} does not fit in a 64-bit integer")
        desc.kind, desc.ival = 1, value
    elif isinstance(arg, (float, np.floating)):
        desc.kind, desc.fval = 2, float(arg)
    elif isinstance(arg, str):
        keep = arg.encode()
        desc.kind, desc.ival = 3, len(keep)
        desc.ptr = ctypes.cast(ctypes.c_char_p(keep), ctypes.c_void_p).value or 0
        keep = (keep, ctypes.c_char_p(keep))
    else:
        raise TypeError(f"{kernel}: argument {position} of type {type(arg).__name__} cannot go to Julia")
    return desc, keep


def call(kernel: str, *args) -> None:
    """Run the registered Julia kernel `kernel` on `args` (outputs are written in place).

    Arrays must be C-contiguous with a supported dtype (float32/64, complex64/128, int32/64,
    uint8, bool); validate and convert before calling. Raises JuliaError with Julia's message.
    """
    rt = runtime()
    descs = (_ArgDesc * max(len(args), 1))()
    keep = []
    for i, arg in enumerate(args):
        descs[i], held = _describe(arg, i, kernel)
        keep.append(held)
    message = ctypes.create_string_buffer(_MESSAGE_CAPACITY)
    status = rt.run(kernel.encode(), descs, len(args), message, keep)
    if status != 0:
        raise JuliaError(f"{kernel}: {message.value.decode(errors='replace')}")
