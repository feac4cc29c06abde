"""The structures that cross the C ABI, mirrored from julia/RecovarCore/src/cabi.jl."""
import ctypes

import numpy as np

_ELTYPE_CODES = {np.dtype(np.float32): 1, np.dtype(np.float64): 2, np.dtype(np.complex64): 3,
                 np.dtype(np.complex128): 4, np.dtype(np.int32): 5, np.dtype(np.int64): 6,
                 np.dtype(np.uint8): 7, np.dtype(np.bool_): 8}
_MAX_DIMS = 8


class _ArgDesc(ctypes.Structure):
    # Mirrors `ArgDesc` in julia/RecovarCore/src/cabi.jl.
    _fields_ = [("kind", ctypes.c_int64), ("eltype", ctypes.c_int64), ("ndim", ctypes.c_int64),
                ("ptr", ctypes.c_uint64), ("ival", ctypes.c_int64), ("fval", ctypes.c_double),
                ("dims", ctypes.c_int64 * _MAX_DIMS)]


class _JobSlot(ctypes.Structure):
    # Mirrors `JobSlot` in julia/RecovarCore/src/cabi.jl.
    _fields_ = [("name", ctypes.c_char_p), ("args", ctypes.POINTER(_ArgDesc)), ("nargs", ctypes.c_int),
                ("status", ctypes.c_int), ("message", ctypes.c_char_p), ("capacity", ctypes.c_size_t),
                ("stop", ctypes.c_int)]
