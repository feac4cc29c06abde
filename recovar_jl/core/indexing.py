"""recovar_jl.core.indexing (mirrors recovar.core.indexing): volume indices, flat indices, frequencies.

Conventions (docs/conventions.md §4): a volume index (i0, i1, i2) is C-ordered, the flat "vec"
index is ``i0·N1·N2 + i1·N2 + i2``, and the frequency of index i on an axis of N samples is
``i − N//2``. Converting volume indices to flat indices clips each component into range.
"""
from __future__ import annotations


import numpy as np

from .. import _validate as v

__all__ = [
    "vol_indices_to_vec_indices",
    "vec_indices_to_vol_indices",
    "vol_indices_to_frequencies",
    "frequencies_to_vol_indices",
    "vec_indices_to_frequencies",
    "frequencies_to_vec_indices",
    "check_frequencies_in_bound",
    "check_vol_indices_in_bound",
    "check_vec_indices_in_bound",
    "distance_to_max_grid_dist",
]


def _integer_indices(x, name: str) -> np.ndarray:
    arr = v.as_array(x, name)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    return arr


def _shape_for(arr: np.ndarray, shape, name: str, array_name: str) -> tuple:
    shape = v.shape_tuple(shape, name)
    if arr.ndim == 0 or arr.shape[-1] != len(shape):
        raise ValueError(f"{array_name} must have shape (..., {len(shape)}) for {name}={shape}, got {arr.shape}")
    return shape


def _index_dtype(dtype) -> np.dtype:
    """recovar keeps int32/int64 inputs' width; other integer types come back as int64."""
    return np.dtype(dtype) if np.dtype(dtype) in (np.int32, np.int64) else np.dtype(np.int64)


def vol_indices_to_vec_indices(vol_indices, vol_shape):
    """Flat C-order indices of volume indices, each component clipped into ``[0, N_d)``.

    Parameters
    ----------
    vol_indices : array_like of int, shape (..., d)
    vol_shape : tuple of d ints

    Returns
    -------
    ndarray of int, shape (...); int32 input stays int32, otherwise int64.
    """
    idx = _integer_indices(vol_indices, "vol_indices")
    shape = _shape_for(idx, vol_shape, "vol_shape", "vol_indices")
    flat = idx.reshape(-1, len(shape))
    clipped = np.clip(flat.astype(np.int64), 0, np.array(shape, np.int64) - 1)
    strides = np.cumprod((1,) + shape[:0:-1])[::-1].astype(np.int64)
    out = clipped @ strides if len(flat) else np.zeros(0, np.int64)
    return out.astype(_index_dtype(idx.dtype)).reshape(idx.shape[:-1])


def vec_indices_to_vol_indices(vec_indices, vol_shape):
    """Volume indices (..., d) of flat C-order indices.

    Out-of-range indices are clipped into ``[−size, size)`` and negative ones count from the
    end (recovar's ``jnp.unravel_index``). Keeps the input dtype.
    """
    idx = v.as_array(vec_indices, "vec_indices")
    if idx.dtype.kind in "bc":
        raise TypeError(f"vec_indices must be real, got dtype {idx.dtype}")
    v.check_finite(idx, "vec_indices")
    shape = v.shape_tuple(vol_shape, "vol_shape")
    if not shape:
        raise ValueError(f"vol_shape must have at least one entry, got {vol_shape!r}")
    size = int(np.prod(shape))
    work = np.clip(idx, -size, size - 1)
    work = np.where(work < 0, work + size, work)
    components = []
    for n in reversed(shape):
        components.append(work % n)
        work = work // n
    return np.stack(components[::-1], axis=-1).astype(idx.dtype, copy=False)


def _mid_grid(shape: tuple) -> np.ndarray:
    return np.array([n // 2 for n in shape], dtype=np.int64)


def _shift(arr, shape, name: str, sign: int) -> np.ndarray:
    arr = v.as_real_array(arr, name)
    shape = _shape_for(arr, shape, "vol_shape", name)
    mid = _mid_grid(shape)
    if arr.dtype.kind == "f":
        return arr + sign * mid.astype(arr.dtype)
    return arr.astype(np.int64) + sign * mid


def vol_indices_to_frequencies(vol_indices, vol_shape):
    """Frequencies ``v − N//2`` (per axis) of volume indices (..., d); ints → int64, floats keep dtype."""
    return _shift(vol_indices, vol_shape, "vol_indices", -1)


def frequencies_to_vol_indices(vol_indices, vol_shape):
    """Volume indices ``f + N//2`` of frequencies (..., d) (recovar names the argument vol_indices)."""
    return _shift(vol_indices, vol_shape, "vol_indices", +1)


def vec_indices_to_frequencies(vec_indices, vol_shape):
    """Frequencies (..., d) of flat indices."""
    return vol_indices_to_frequencies(vec_indices_to_vol_indices(vec_indices, vol_shape), vol_shape)


def frequencies_to_vec_indices(frequencies, vol_shape):
    """Flat indices of integer frequencies (..., d), through the clipping ravel."""
    freq = _integer_indices(frequencies, "frequencies")
    return vol_indices_to_vec_indices(frequencies_to_vol_indices(freq, vol_shape), vol_shape)


def check_frequencies_in_bound(frequencies, grid_size):
    """True where every component of the last axis lies in ``[−N/2, N/2)``."""
    f = v.as_real_array(frequencies, "frequencies")
    n = v.positive_scalar(grid_size, "grid_size")
    return np.all((f >= -n / 2) & (f < n / 2), axis=-1)


def check_vol_indices_in_bound(vol_indices, grid_size):
    """True where every component of the last axis lies in ``[0, N)``."""
    idx = v.as_real_array(vol_indices, "vol_indices")
    n = v.positive_scalar(grid_size, "grid_size")
    return np.all((idx >= 0) & (idx < n), axis=-1)


def check_vec_indices_in_bound(vec_indices, grid_size):
    """Elementwise ``0 ≤ i < N³``."""
    idx = v.as_real_array(vec_indices, "vec_indices")
    n = v.positive_scalar(grid_size, "grid_size")
    return (idx >= 0) & (idx < n**3)


def distance_to_max_grid_dist(dist):
    """``ceil(dist)`` as int (NumPy int64)."""
    d = v.as_real_array(dist, "dist")
    v.check_finite(d, "dist")
    return np.ceil(d).astype(int)[()]
