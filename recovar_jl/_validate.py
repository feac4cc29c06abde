"""Argument checks shared by every wrapper: validate, convert where safe, name the argument.

Every public function converts its inputs with these helpers before Julia is touched, so
bad input raises ValueError/TypeError naming the argument instead of a JuliaError or a crash.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

_REAL_KINDS = "biuf"


def as_array(x, name: str) -> np.ndarray:
    """`np.asarray(x)`, refusing object, string and structured data (TypeError)."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged sequences and the like
        raise TypeError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return arr


def as_real_array(x, name: str) -> np.ndarray:
    """:func:`as_array` in its own dtype (bool/int/float), complex refused (TypeError)."""
    arr = as_array(x, name)
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    return arr


def _native(dtype) -> np.dtype:
    """The dtype in native byte order ('>f8' → 'f8'), so precision follows the value type."""
    d = np.dtype(dtype)
    return d.newbyteorder("=") if d.byteorder not in ("=", "|") else d


def real_dtype(dtype) -> np.dtype:
    """float64 stays float64; every other real or integer dtype computes in float32."""
    return np.dtype(np.float64) if _native(dtype) == np.float64 else np.dtype(np.float32)


def complex_dtype(dtype) -> np.dtype:
    """complex128 for 64-bit real/complex inputs, complex64 otherwise."""
    d = _native(dtype)
    return np.dtype(np.complex128) if d in (np.float64, np.complex128) else np.dtype(np.complex64)


def _aligned(arr: np.ndarray) -> np.ndarray:
    return arr if arr.flags.aligned else arr.copy()


def real_array(x, name: str, dtype=None, ndim=None, finite=True) -> np.ndarray:
    """C-contiguous float32/float64 array (ints, bools, float16 → float32; complex refused)."""
    arr = as_real_array(x, name)
    target = np.dtype(dtype) if dtype is not None else real_dtype(arr.dtype)
    arr = _aligned(np.asarray(arr, dtype=target, order="C"))  # keeps 0-d arrays 0-d
    check_ndim(arr, name, ndim)
    if finite:
        check_finite(arr, name)
    return arr


def numeric_array(x, name: str, dtype=None, ndim=None, finite=True) -> np.ndarray:
    """C-contiguous float32/float64/complex64/complex128 array (ints, bools, float16 → float32)."""
    arr = as_array(x, name)
    if dtype is not None:
        target = np.dtype(dtype)
    elif arr.dtype.kind == "c":
        target = np.dtype(np.complex128) if _native(arr.dtype) == np.complex128 else np.dtype(np.complex64)
        if arr.dtype.itemsize > 16:
            raise TypeError(f"{name} has unsupported dtype {arr.dtype}")
    else:
        target = real_dtype(arr.dtype)
    arr = _aligned(np.asarray(arr, dtype=target, order="C"))  # keeps 0-d arrays 0-d
    check_ndim(arr, name, ndim)
    if finite:
        check_finite(arr, name)
    return arr


def int_array(x, name: str, dtype=np.int64, ndim=None) -> np.ndarray:
    """C-contiguous integer array; floats are accepted only when integral."""
    arr = as_array(x, name)
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be integer, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integers")
    arr = _aligned(np.asarray(arr, dtype=dtype, order="C"))
    check_ndim(arr, name, ndim)
    return arr


def check_ndim(arr: np.ndarray, name: str, ndim) -> None:
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise ValueError(f"{name} must be {want}-dimensional, got shape {arr.shape}")


def check_shape(arr: np.ndarray, name: str, shape: tuple, what: str = "") -> None:
    """Exact shape check; `None` entries match anything."""
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        pretty = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {pretty}{what}, got {arr.shape}")


def check_finite(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind in "fc" and arr.size and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf")


def shape_tuple(shape, name: str, length=None, bounded: bool = True) -> tuple:
    """Tuple of positive Python ints (image_shape, volume_shape, ...).

    Strings, bytes and dicts are refused rather than read as sequences (b"ab" is not (97, 98)).
    With `bounded`, a shape of 2**63 elements or more is refused (NumPy's int64 products wrap
    around); containers that only record a shape pass `bounded=False`.
    """
    if shape is None or isinstance(shape, (numbers.Integral, str, bytes, bytearray, dict)):
        raise TypeError(f"{name} must be a tuple of ints, got {shape!r}")
    try:
        values = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of ints, got {shape!r}") from None
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            if isinstance(v, numbers.Real) and float(v).is_integer():
                v = int(v)
            else:
                raise TypeError(f"{name} must hold integers, got {shape!r}")
        if v <= 0:
            raise ValueError(f"{name} must hold positive sizes, got {shape!r}")
        out.append(int(v))
    if length is not None and len(out) != length:
        raise ValueError(f"{name} must have {length} entries, got {shape!r}")
    if bounded and math.prod(out) >= 2**63:
        raise ValueError(f"{name}={tuple(out)} has more than 2**63 - 1 elements")
    return tuple(out)


def square_image_shape(image_shape, name: str = "image_shape") -> tuple:
    """(N, N) as Python ints: recovar's frequency grids are defined for square images only."""
    shape = shape_tuple(image_shape, name, length=2)
    if shape[0] != shape[1]:
        raise ValueError(f"{name} must be square (recovar's frequency grids are defined for "
                         f"square images only), got {shape}")
    return shape


def rotations(x, name: str = "rotation_matrices", batched: bool = True) -> np.ndarray:
    """Finite float32/float64 rotations as (n, 3, 3); with `batched=False` one (3, 3) becomes (1, 3, 3).

    The shape is checked before finiteness, so a wrong shape is reported as such.
    """
    rot = real_array(x, name, finite=False)
    check_shape(rot, name, (None, 3, 3) if batched else (3, 3))
    check_finite(rot, name)
    return rot if batched else rot[None]


def flag(x, name: str) -> bool:
    """A switch: True/False, a NumPy bool, or 0/1 (Python, NumPy or 0-d array); TypeError otherwise."""
    if isinstance(x, np.ndarray) and x.shape == () and x.dtype.kind in "biu":
        x = x[()]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, numbers.Integral) and x in (0, 1):
        return bool(x)
    raise TypeError(f"{name} must be True or False, got {x!r}")


def number(x, name: str):
    """A real scalar with its type kept (Python or NumPy; a 0-d array becomes its NumPy scalar).

    Bools, complex numbers, strings and arrays with an axis raise TypeError naming `name`.
    The type is kept because it carries meaning downstream: an int radius keeps integer
    box arithmetic, a NumPy float64 voxel size makes float64 grids (as in recovar).
    """
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {x!r}")
    if isinstance(x, numbers.Real):
        return x
    if isinstance(x, np.ndarray) and x.shape == () and x.dtype.kind in "iuf":
        return x[()]
    raise TypeError(f"{name} must be a real number, got {x!r}")


def real_number(x, name: str, *, finite: bool = True, allow_none: bool = False):
    """:func:`number` that is not NaN (and finite unless `finite=False`); None passes with `allow_none`."""
    if x is None and allow_none:
        return None
    value = number(x, name)
    as_float = float(value)
    if math.isnan(as_float):
        raise ValueError(f"{name} must not be NaN")
    if finite and not math.isfinite(as_float):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return value


def integer(x, name: str, *, minimum=None, allow_none: bool = False):
    """A Python int (integral floats and 0-d arrays accepted, bools refused), at least `minimum`."""
    if x is None and allow_none:
        return None
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {x!r}")
    try:
        value = number(x, name)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {x!r}") from None
    if not isinstance(value, numbers.Integral):
        if not (math.isfinite(float(value)) and float(value).is_integer()):
            raise TypeError(f"{name} must be an integer, got {x!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        bound = {0: "non-negative", 1: "positive"}.get(minimum, f">= {minimum}")
        raise ValueError(f"{name} must be {bound}, got {x!r}")
    return value


def voxel_size(x, name: str = "voxel_size"):
    """A positive finite voxel size (Å): NumPy floats keep their type (they set the grid dtype), the rest → float."""
    value = number(x, name)
    if not math.isfinite(float(value)) or float(value) <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {x!r}")
    return value if isinstance(value, np.floating) else float(value)


def positive_scalar(x, name: str) -> float:
    """A finite, strictly positive real number, as float."""
    value = float(number(x, name))
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {x!r}")
    return value


def float_dtype(dtype, name: str, kinds: str = "fc") -> np.dtype:
    """`np.dtype(dtype)` of a floating kind in `kinds` ("f" real only, "fc" real or complex); TypeError otherwise."""
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be a NumPy floating dtype, got {dtype!r}") from None
    if d.kind not in kinds:
        raise TypeError(f"{name} must be a {'real ' if kinds == 'f' else ''}floating dtype, got {d}")
    return d


def check_memory(n_bytes: int, name: str) -> None:
    """Refuse up front an output that cannot fit in this machine's memory."""
    try:
        import os

        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if n_bytes > available:
        raise MemoryError(f"{name} would need {n_bytes / 2**30:.1f} GiB, more than this machine's "
                          f"{available / 2**30:.1f} GiB; process the data in smaller batches")
