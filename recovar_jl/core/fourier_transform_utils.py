"""Centered Fourier transforms, rfft half-spectrum packing and frequency grids.

Mirrors ``recovar.core.fourier_transform_utils`` (recovar 1.0.5); conventions in
docs/conventions.md §1–3:

* Centered transforms: ``F = fftshift(fftn(fftshift(x)))`` over the transformed axes, inverse
  ``ifftshift(ifftn(ifftshift(F)))``; frequency zero at index ``n // 2`` on every axis. Leading
  axes are batch. float32 (and integer, float16) input gives complex64, float64 gives complex128.
* Half (rfft-packed) layouts pack only the **last** axis to ``n // 2 + 1`` columns: packed
  column ``j`` is centered column ``get_real_fft_packed_last_axis_indices(n)[j]`` (frequencies
  ``0 … n/2 − 1, −n/2`` for even n). Other axes stay centered.
* ``norm`` as in NumPy: ``"backward"`` (default; inverse divides by the number of transformed
  elements), ``"ortho"``, ``"forward"``; ``None`` means ``"backward"``.

The transforms run in Julia (FFTW); grids and packing index maps are NumPy.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _julia
from .. import _validate as V

__all__ = [
    "DEFAULT_FFT_NORM",
    "get_1d_frequency_grid", "get_1d_frequency_grid_rfft",
    "get_k_coordinate_of_each_pixel", "get_k_coordinate_of_each_pixel_3d",
    "get_k_coordinate_of_each_pixel_real", "get_k_coordinate_of_each_pixel_3d_real",
    "get_k_coordinate_of_each_pixel_half",
    "get_grid_of_radial_distances", "get_grid_of_radial_distances_real",
    "get_dft", "get_idft", "get_dft2", "get_idft2", "get_dft3", "get_idft3",
    "get_dft2_real", "get_idft2_real", "get_dft3_real", "get_idft3_real",
    "get_real_fft_packed_shape", "get_real_fft_packed_last_axis_indices",
    "get_shifted_conjugate_partner_indices", "get_real_fft_memory_saving_ratio",
    "image_shape_to_half_image_shape", "volume_shape_to_half_volume_shape",
    "full_image_to_half_image", "half_image_to_full_image",
    "full_volume_to_half_volume", "half_volume_to_full_volume",
]

DEFAULT_FFT_NORM = "backward"

_MAX_KERNEL_AXES = 3  # the Julia kernels transform up to 3 adjacent axes at once


# ---------------------------------------------------------------------------------------------
# Argument helpers
# ---------------------------------------------------------------------------------------------

def _norm_scale(norm, n_elements: int, inverse: bool) -> float:
    if norm is not None and not isinstance(norm, str):
        raise TypeError(f'norm must be "backward", "ortho", "forward" or None, got {norm!r}')
    if norm is None or norm == "backward":
        return 1.0 / n_elements if inverse else 1.0
    if norm == "ortho":
        return 1.0 / np.sqrt(n_elements)
    if norm == "forward":
        return 1.0 if inverse else 1.0 / n_elements
    raise ValueError(f'Invalid norm value {norm!r}; should be "backward", "ortho" or "forward".')


def _axes_tuple(axes, name: str = "axes") -> tuple:
    if isinstance(axes, numbers.Integral) and not isinstance(axes, (bool, np.bool_)):
        return (axes,)
    if isinstance(axes, (str, bytes, bytearray, dict)) or axes is None:
        raise TypeError(f"{name} must be a sequence of ints, got {axes!r}")
    try:
        return tuple(axes)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {axes!r}") from None


def _normalize_axes(axes, ndim: int, name: str = "axes", array_name: str = "the array") -> tuple:
    values = _axes_tuple(axes, name)
    if not values:
        raise ValueError(f"{name} must name at least one axis")
    out = []
    for a in values:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, numbers.Integral):
            raise TypeError(f"{name} must hold integers, got {axes!r}")
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"{name} {axes!r} out of range: {array_name} has {ndim} dimension(s)")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat an axis, got {axes!r}")
    return tuple(out)


def _transform_input(img, name: str, axes, *, real_only=False):
    """Validated C-contiguous input (float32/float64/complex64/complex128), axes normalised."""
    arr = V.as_array(img, name)
    if real_only and arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real for a real-input transform, got dtype {arr.dtype}")
    arr = V.numeric_array(arr, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar")
    axes = _normalize_axes(axes, arr.ndim, array_name=name)
    for a in axes:
        if arr.shape[a] == 0:
            raise ValueError(f"{name} has size 0 along transformed axis {a - arr.ndim} (shape {arr.shape})")
    return arr, axes


def _contiguous_trailing_run(axes: tuple) -> bool:
    return sorted(axes) == list(range(min(axes), max(axes) + 1))


def _julia_range(ndim: int, first_axis: int, last_axis: int) -> tuple:
    """NumPy axes first..last (ascending) → 1-based Julia dims (reversed order)."""
    return ndim - last_axis, ndim - first_axis


def _complex_dtype_of(arr: np.ndarray) -> np.dtype:
    return V.complex_dtype(arr.dtype)


def _real_dtype_of(arr: np.ndarray) -> np.dtype:
    return np.dtype(np.float64) if arr.dtype in (np.float64, np.complex128) else np.dtype(np.float32)


# ---------------------------------------------------------------------------------------------
# Kernel drivers
# ---------------------------------------------------------------------------------------------

def _centered_complex_run(arr: np.ndarray, first: int, last: int, direction: int, norm, out=None) -> np.ndarray:
    """Centered complex transform over the adjacent NumPy axes first..last (≤ 3 of them)."""
    n_elements = int(np.prod(arr.shape[first:last + 1]))
    scale = _norm_scale(norm, n_elements, inverse=direction == 1)
    cdtype = _complex_dtype_of(arr)
    if out is None:
        out = np.empty(arr.shape, dtype=cdtype)
    if arr.size:
        jfirst, jlast = _julia_range(arr.ndim, first, last)
        _julia.call("centered_fft", out, arr, jfirst, jlast, direction, scale)
    return out


def _centered_complex(arr: np.ndarray, axes: tuple, direction: int, norm) -> np.ndarray:
    ndim = arr.ndim
    if _contiguous_trailing_run(axes):
        lo, hi = min(axes), max(axes)
        out = None
        src = arr
        # More than three adjacent axes: the transform is separable, do it in groups.
        for start in range(lo, hi + 1, _MAX_KERNEL_AXES):
            stop = min(start + _MAX_KERNEL_AXES - 1, hi)
            out = _centered_complex_run(src, start, stop, direction, norm, out=out)
            src = out
        return out
    # Scattered axes: bring them to the end, transform, put them back.
    k = len(axes)
    moved = np.ascontiguousarray(np.moveaxis(arr, axes, range(ndim - k, ndim)))
    result = _centered_complex(moved, tuple(range(ndim - k, ndim)), direction, norm)
    return np.ascontiguousarray(np.moveaxis(result, range(ndim - k, ndim), axes))


def _packed_layout_ok(axes: tuple) -> bool:
    """Direct kernel call possible: adjacent axes, ≤ 3, packed axis (axes[-1]) the last of them."""
    return len(axes) <= _MAX_KERNEL_AXES and _contiguous_trailing_run(axes) and axes[-1] == max(axes)


def _centered_real_forward(arr: np.ndarray, axes: tuple, norm) -> np.ndarray:
    ndim = arr.ndim
    if not _packed_layout_ok(axes):
        k = len(axes)
        moved = np.ascontiguousarray(np.moveaxis(arr, axes, range(ndim - k, ndim)))
        result = _centered_real_forward(moved, tuple(range(ndim - k, ndim)), norm)
        return np.ascontiguousarray(np.moveaxis(result, range(ndim - k, ndim), axes))
    packed = axes[-1]
    n_elements = int(np.prod([arr.shape[a] for a in axes]))
    scale = _norm_scale(norm, n_elements, inverse=False)
    rdtype = _real_dtype_of(arr)
    arr = np.ascontiguousarray(arr, dtype=rdtype)
    out_shape = list(arr.shape)
    out_shape[packed] = arr.shape[packed] // 2 + 1
    out = np.empty(out_shape, dtype=V.complex_dtype(rdtype))
    if arr.size:
        jfirst, jlast = _julia_range(ndim, min(axes), max(axes))
        _julia.call("centered_rfft", out, arr, jfirst, jlast, scale)
    return out


def _centered_real_inverse(arr: np.ndarray, axes: tuple, real_sizes: tuple, norm) -> np.ndarray:
    """Inverse of `_centered_real_forward`; `real_sizes[i]` is the output size along axes[i]."""
    ndim = arr.ndim
    if not _packed_layout_ok(axes):
        k = len(axes)
        moved = np.ascontiguousarray(np.moveaxis(arr, axes, range(ndim - k, ndim)))
        result = _centered_real_inverse(moved, tuple(range(ndim - k, ndim)), real_sizes, norm)
        return np.ascontiguousarray(np.moveaxis(result, range(ndim - k, ndim), axes))
    n_elements = int(np.prod(real_sizes))
    scale = _norm_scale(norm, n_elements, inverse=True)
    cdtype = _complex_dtype_of(arr)
    arr = np.ascontiguousarray(arr, dtype=cdtype)
    out_shape = list(arr.shape)
    for a, size in zip(axes, real_sizes):
        out_shape[a] = size
    out = np.empty(out_shape, dtype=_real_dtype_of(arr))
    if out.size:
        jfirst, jlast = _julia_range(ndim, min(axes), max(axes))
        _julia.call("centered_irfft", out, arr, jfirst, jlast, scale)
    return out


def _check_half_input(arr: np.ndarray, axes: tuple, real_sizes: tuple, name: str, shape_name: str) -> None:
    for i, (a, size) in enumerate(zip(axes, real_sizes)):
        expected = size // 2 + 1 if i == len(axes) - 1 else size
        if arr.shape[a] != expected:
            raise ValueError(f"{name} of shape {arr.shape} does not hold the half spectrum of {shape_name}="
                             f"{tuple(real_sizes)}: axis {a - arr.ndim} must have length {expected}, "
                             f"got {arr.shape[a]}")


# ---------------------------------------------------------------------------------------------
# Centered complex transforms
# ---------------------------------------------------------------------------------------------

def get_dft(img, norm=DEFAULT_FFT_NORM):
    """Centered 1-D DFT along the last axis: ``fftshift(fft(fftshift(img)))``.

    Parameters
    ----------
    img : array (..., n), real or complex
    norm : "backward" | "ortho" | "forward" | None

    Returns
    -------
    ndarray (..., n), complex64 (complex128 for 64-bit input)
    """
    arr, axes = _transform_input(img, "img", (-1,))
    _norm_scale(norm, 1, False)
    return _centered_complex(arr, axes, -1, norm)


def get_idft(img, norm=DEFAULT_FFT_NORM):
    """Centered inverse 1-D DFT along the last axis: ``ifftshift(ifft(ifftshift(img)))``."""
    arr, axes = _transform_input(img, "img", (-1,))
    _norm_scale(norm, 1, False)
    return _centered_complex(arr, axes, 1, norm)


def get_dft2(img, norm=DEFAULT_FFT_NORM):
    """Centered 2-D DFT over the last two axes.

    Parameters
    ----------
    img : array (..., H, W), real or complex
    norm : "backward" | "ortho" | "forward" | None

    Returns
    -------
    ndarray (..., H, W), complex64 (complex128 for 64-bit input); DC at (H//2, W//2)
    """
    arr, axes = _transform_input(img, "img", (-2, -1))
    _norm_scale(norm, 1, False)
    return _centered_complex(arr, axes, -1, norm)


def get_idft2(img, norm=DEFAULT_FFT_NORM):
    """Centered inverse 2-D DFT over the last two axes; (..., H, W) complex."""
    arr, axes = _transform_input(img, "img", (-2, -1))
    _norm_scale(norm, 1, False)
    return _centered_complex(arr, axes, 1, norm)


def get_dft3(img, norm=DEFAULT_FFT_NORM, axes=(-3, -2, -1)):
    """Centered n-D DFT over `axes` (default the last three); other axes are batch.

    Returns an array of the input's shape, complex64 (complex128 for 64-bit input).
    """
    arr, axes = _transform_input(img, "img", axes)
    _norm_scale(norm, 1, False)
    return _centered_complex(arr, axes, -1, norm)


def get_idft3(img, norm=DEFAULT_FFT_NORM, axes=(-3, -2, -1)):
    """Centered inverse n-D DFT over `axes` (default the last three)."""
    arr, axes = _transform_input(img, "img", axes)
    _norm_scale(norm, 1, False)
    return _centered_complex(arr, axes, 1, norm)


# ---------------------------------------------------------------------------------------------
# Real-input transforms (half spectrum)
# ---------------------------------------------------------------------------------------------

def get_dft2_real(img, norm=DEFAULT_FFT_NORM):
    """Centered 2-D DFT of real images, half spectrum.

    ``fftshift`` both axes, ``rfft2``, ``fftshift`` axis -2 only; equals
    ``full_image_to_half_image(get_dft2(img))``.

    Parameters
    ----------
    img : real array (..., H, W)

    Returns
    -------
    ndarray (..., H, W//2 + 1), complex64 (complex128 for float64)
    """
    arr, axes = _transform_input(img, "img", (-2, -1), real_only=True)
    _norm_scale(norm, 1, False)
    return _centered_real_forward(arr, axes, norm)


def get_idft2_real(img, image_shape=None, norm=DEFAULT_FFT_NORM):
    """Inverse of :func:`get_dft2_real`: half spectrum (..., H, W//2+1) → real (..., H, W).

    `image_shape` defaults to ``(img.shape[-2], 2 * (img.shape[-1] - 1))`` (even W); pass it
    for odd W. Redundant imaginary parts (DC and Nyquist columns) are ignored, as in irfft.
    """
    arr, axes = _transform_input(img, "img", (-2, -1))
    _norm_scale(norm, 1, False)
    image_shape = _real_shape(arr, image_shape, "image_shape", 2)
    _check_half_input(arr, axes, image_shape, "img", "image_shape")
    return _centered_real_inverse(arr, axes, image_shape, norm)


def _real_shape(arr, shape, name, ndim):
    """The real output's `ndim` sizes: `shape` checked, or inferred from the last `ndim`
    axes of the half spectrum `arr` (even size along the packed last axis)."""
    if shape is None:
        if arr.shape[-1] < 2:
            raise ValueError(f"img of shape {arr.shape} is too small to infer {name}; pass {name}")
        return tuple(arr.shape[-ndim:-1]) + (2 * (arr.shape[-1] - 1),)
    shape = V.shape_tuple(shape, name)
    if len(shape) != ndim:
        raise ValueError(f"{name} must have {ndim} dims, got {shape}")
    return tuple(shape)


def get_dft3_real(img, norm=DEFAULT_FFT_NORM, axes=(-3, -2, -1)):
    """Centered 3-D DFT of real input, half spectrum; the packed axis is ``axes[-1]``.

    Returns complex64 (complex128 for float64) with ``shape[axes[-1]] = n // 2 + 1``.
    """
    axes_tuple = _axes_tuple(axes)
    if len(axes_tuple) != 3:
        raise ValueError(f"axes must have length 3, got {axes}")
    arr, axes = _transform_input(img, "img", axes_tuple, real_only=True)
    _norm_scale(norm, 1, False)
    return _centered_real_forward(arr, axes, norm)


def get_idft3_real(img, volume_shape=None, norm=DEFAULT_FFT_NORM, axes=(-3, -2, -1)):
    """Inverse of :func:`get_dft3_real`, real output.

    `volume_shape` (sizes along `axes`) defaults to ``(N0, N1, 2 * (img.shape[-1] - 1))`` and
    is required unless `axes` are the last three.
    """
    axes_tuple = _axes_tuple(axes)
    if len(axes_tuple) != 3:
        raise ValueError(f"axes must have length 3, got {axes}")
    arr, axes = _transform_input(img, "img", axes_tuple)
    _norm_scale(norm, 1, False)
    if volume_shape is None and axes != tuple(range(arr.ndim - 3, arr.ndim)):
        raise ValueError("volume_shape is required when axes != (-3, -2, -1)")
    volume_shape = _real_shape(arr, volume_shape, "volume_shape", 3)
    _check_half_input(arr, axes, volume_shape, "img", "volume_shape")
    return _centered_real_inverse(arr, axes, volume_shape, norm)


# ---------------------------------------------------------------------------------------------
# Frequency grids
# ---------------------------------------------------------------------------------------------

def get_1d_frequency_grid(n, voxel_size=1, scaled=False):
    """Centered integer frequencies ``i - n//2`` for i in 0..n-1, float32.

    With ``scaled``: divided by ``n * voxel_size`` (1/Å). A NumPy float64 `voxel_size` makes
    the result float64 (NumPy/JAX promotion); a Python float keeps float32.
    """
    n = V.integer(n, "n", minimum=1)
    scaled = V.flag(scaled, "scaled")
    V.check_memory(8 * n, "the frequency grid")
    half = n // 2
    grid = np.arange(-half, n - half, dtype=np.float32)
    if scaled:
        grid = grid / (n * V.voxel_size(voxel_size))
    return grid


def get_1d_frequency_grid_rfft(n, voxel_size=1, scaled=False):
    """Non-negative frequencies ``0 … n//2`` of an rfft-packed axis (Nyquist **+n/2**), float32."""
    n = V.integer(n, "n", minimum=1)
    scaled = V.flag(scaled, "scaled")
    V.check_memory(4 * n, "the frequency grid")
    grid = np.arange(0, n // 2 + 1, dtype=np.float32)
    if scaled:
        grid = grid / (n * V.voxel_size(voxel_size))
    return grid


def _grids(image_shape, voxel_size, scaled, rfft_last=False, bytes_per_point=None):
    """Validated shape and 1-D grids; `bytes_per_point`: refuse outputs that cannot fit in memory."""
    shape = V.shape_tuple(image_shape, "image_shape")
    if not shape:
        raise ValueError("image_shape must have at least one dimension")
    scaled = V.flag(scaled, "scaled")
    if bytes_per_point is not None:
        points = 1
        for n in shape:
            points *= n
        V.check_memory(points * bytes_per_point, f"a grid of image_shape={shape}")
    if scaled:
        voxel_size = V.voxel_size(voxel_size)
    grids = [get_1d_frequency_grid(n, voxel_size, scaled) for n in shape]
    if rfft_last:
        grids[-1] = get_1d_frequency_grid_rfft(shape[-1], voxel_size, scaled)
    return shape, grids


def _stack_meshgrid(grids, indexing):
    mesh = np.meshgrid(*grids, indexing=indexing)
    return np.stack([g.ravel() for g in mesh], axis=-1)


def get_k_coordinate_of_each_pixel(image_shape, voxel_size, scaled=True):
    """Frequency coordinates of every pixel, (H·W, 2): coordinate 0 = column frequency,
    coordinate 1 = row frequency (square images; recovar's "xy" meshgrid, reproduced for any shape).
    """
    shape = V.shape_tuple(image_shape, "image_shape")
    _, grids = _grids(shape, voxel_size, scaled, bytes_per_point=16 * max(len(shape), 1))
    return _stack_meshgrid(grids, "xy")


def get_k_coordinate_of_each_pixel_3d(image_shape, voxel_size, scaled=True):
    """Frequency coordinates of every voxel, (V, 3), coordinate d ↔ axis d, C order."""
    shape = V.shape_tuple(image_shape, "image_shape")
    _, grids = _grids(shape, voxel_size, scaled, bytes_per_point=16 * max(len(shape), 1))
    return _stack_meshgrid(grids, "ij")


def get_k_coordinate_of_each_pixel_real(image_shape, voxel_size, scaled=True):
    """recovar's (unused) packed 2-D coordinate list, (H·(W//2+1), 2), reproduced as is:
    coordinate 0 = centered grid of ``image_shape[0]`` varying fastest, coordinate 1 = rfft
    grid of ``image_shape[1]`` varying slowest (the transpose of the packed layout's order).
    """
    shape = V.shape_tuple(image_shape, "image_shape", length=2)
    _, grids = _grids(shape, voxel_size, scaled, rfft_last=True, bytes_per_point=32)
    return _stack_meshgrid(grids, "xy")


def get_k_coordinate_of_each_pixel_3d_real(image_shape, voxel_size, scaled=True):
    """Packed 3-D coordinates, (N0·N1·(N2//2+1), 3): ij grid of (grid(N0), grid(N1),
    rfft_grid(N2)), C order; the last-axis Nyquist is **+N2/2**."""
    shape = V.shape_tuple(image_shape, "image_shape", length=3)
    _, grids = _grids(shape, voxel_size, scaled, rfft_last=True, bytes_per_point=48)
    return _stack_meshgrid(grids, "ij")


def _half_image_pixel_indices(image_shape) -> np.ndarray:
    H, W = image_shape
    columns = get_real_fft_packed_last_axis_indices(W).astype(np.int64)
    return (np.arange(H, dtype=np.int64)[:, None] * W + columns[None, :]).ravel()


def get_k_coordinate_of_each_pixel_half(image_shape, voxel_size, scaled=True):
    """Rows of :func:`get_k_coordinate_of_each_pixel` at the packed pixels, (H·(W//2+1), 2);
    the Nyquist column has kx = −W/2."""
    shape = V.shape_tuple(image_shape, "image_shape", length=2)
    full = get_k_coordinate_of_each_pixel(shape, voxel_size, scaled)
    return full[_half_image_pixel_indices(shape)]


def _radial(shape, grids, frequency_shift, rounded, scaled, out_shape):
    rounded = V.flag(rounded, "rounded")
    scaled = V.flag(scaled, "scaled")
    dtype = grids[0].dtype
    shift = V.as_array(frequency_shift, "frequency_shift")
    if shift.dtype.kind == "c":
        raise TypeError("frequency_shift must be real")
    shift = shift.astype(dtype)
    if shift.ndim == 0:
        shift = np.full((len(shape),), shift, dtype=dtype)
    elif shift.shape != (len(shape),):
        raise ValueError(f"frequency_shift must be a scalar or have shape ({len(shape)},), got {shift.shape}")
    V.check_finite(shift, "frequency_shift")
    radial_sq = np.zeros(out_shape, dtype=dtype)
    for axis, (g, s) in enumerate(zip(grids, shift)):
        view = [1] * len(shape)
        view[axis] = g.shape[0]
        radial_sq = radial_sq + (g.reshape(view) - s) ** 2
    radial = np.sqrt(radial_sq)
    if rounded and not scaled:
        return np.round(radial).astype(np.int32)
    return radial


def get_grid_of_radial_distances(image_shape, voxel_size=1, scaled=False, frequency_shift=0, rounded=True):
    """Distance of every grid point from frequency `frequency_shift`, array of `image_shape`.

    ``sqrt(Σ_d (g_d − shift_d)²)`` with g_d the centered grids; `frequency_shift` scalar or one
    per axis. ``rounded and not scaled`` → rounded half to even, int32; else float32 (float64
    for a NumPy float64 voxel size with ``scaled``).
    """
    shape, grids = _grids(image_shape, voxel_size, scaled, bytes_per_point=24)
    return _radial(shape, grids, frequency_shift, rounded, scaled, shape)


def get_grid_of_radial_distances_real(image_shape, voxel_size=1, scaled=False, frequency_shift=0, rounded=True):
    """As :func:`get_grid_of_radial_distances` on the packed grid: the last axis uses the rfft
    grid ``0 … n//2``; output shape ``(..., n//2 + 1)``."""
    shape, grids = _grids(image_shape, voxel_size, scaled, rfft_last=True, bytes_per_point=24)
    return _radial(shape, grids, frequency_shift, rounded, scaled, get_real_fft_packed_shape(shape))


# ---------------------------------------------------------------------------------------------
# Half-spectrum shapes and index maps
# ---------------------------------------------------------------------------------------------

def get_real_fft_packed_shape(shape):
    """Shape of the rfft-packed spectrum: last dim ``n`` → ``n // 2 + 1`` (any rank ≥ 1)."""
    shape = V.shape_tuple(shape, "shape")
    if not shape:
        raise ValueError("shape must have at least one dimension")
    return tuple(shape[:-1]) + (shape[-1] // 2 + 1,)


def get_real_fft_packed_last_axis_indices(n):
    """Centered column of each packed column, int32: even n ``[n/2, …, n−1, 0]``, odd n ``[n//2, …, n−1]``."""
    n = V.integer(n, "n", minimum=1)
    half = n // 2
    columns = list(range(half, n)) + ([0] if n % 2 == 0 else [])
    return np.asarray(columns, dtype=np.int32)


def get_shifted_conjugate_partner_indices(n):
    """recovar's conjugate-partner table, int32: ``(−i − 2·(n//2)) mod n``
    (n=8 → [0,7,6,5,4,3,2,1]; n=7 → [1,0,6,5,4,3,2]).

    For even n this is the index of frequency −k in a centered axis. For odd n it is not (the
    centered partner is ``n − 1 − i``, which :func:`half_image_to_full_image` uses); recovar
    never calls this function and its values are reproduced as they are.
    """
    n = V.integer(n, "n", minimum=1)
    i = np.arange(n, dtype=np.int64)
    return ((-i - 2 * (n // 2)) % n).astype(np.int32)


def _centered_partner_indices(m: int) -> np.ndarray:
    """Index of frequency −k for each index of a centered axis of length m: ``(m − m mod 2 − i) mod m``."""
    return (m - m % 2 - np.arange(m)) % m


def get_real_fft_memory_saving_ratio(shape):
    """``prod(packed shape) / prod(shape)`` (float)."""
    shape = V.shape_tuple(shape, "shape")
    packed = get_real_fft_packed_shape(shape)
    return int(np.prod(packed)) / int(np.prod(shape))


def image_shape_to_half_image_shape(image_shape):
    """``(H, W)`` → ``(H, W//2 + 1)``; ValueError unless 2 positive sizes."""
    shape = V.shape_tuple(image_shape, "image_shape", length=2)
    return (shape[0], shape[1] // 2 + 1)


def volume_shape_to_half_volume_shape(volume_shape):
    """``(N0, N1, N2)`` → ``(N0, N1, N2//2 + 1)``; ValueError unless 3 positive sizes."""
    shape = V.shape_tuple(volume_shape, "volume_shape", length=3)
    return (shape[0], shape[1], shape[2] // 2 + 1)


def _grid_or_flat(x, grid_shape: tuple, name: str):
    """(array in grid form (..., *grid_shape), was_flat)."""
    arr = V.as_array(x, name)
    V.check_finite(arr, name)
    k = len(grid_shape)
    flat_size = int(np.prod(grid_shape))
    if arr.ndim >= k and tuple(arr.shape[-k:]) == tuple(grid_shape):
        return arr, False
    if arr.ndim >= 1 and arr.shape[-1] == flat_size:
        return arr.reshape(arr.shape[:-1] + tuple(grid_shape)), True
    raise ValueError(f"{name} must have trailing shape {tuple(grid_shape)} or trailing flat size {flat_size}, "
                     f"got {arr.shape}")


def _restore(grid: np.ndarray, was_flat: bool, k: int) -> np.ndarray:
    if not was_flat:
        return grid
    return grid.reshape(grid.shape[:-k] + (int(np.prod(grid.shape[-k:])),))


def _fill_redundant_columns(full: np.ndarray, half: np.ndarray, shape: tuple) -> None:
    """``full[..., i, c] = conj(half[..., π(i), n//2 − c])`` for every redundant centered column c
    (even n: 1 … n/2−1; odd n: 0 … n//2−1), π the centered partner on every non-packed axis."""
    n = shape[-1]
    redundant = np.arange(1, n // 2) if n % 2 == 0 else np.arange(0, n // 2)
    if redundant.size == 0:
        return
    partners = half
    for offset, m in enumerate(shape[:-1]):
        axis = -len(shape) + offset
        partners = np.take(partners, _centered_partner_indices(m), axis=axis)
    source = partners[..., n // 2 - redundant]
    full[..., redundant] = np.conj(source) if np.iscomplexobj(source) else source


def _half_to_full(x, shape: tuple, name: str) -> np.ndarray:
    half_shape = get_real_fft_packed_shape(shape)
    half, was_flat = _grid_or_flat(x, half_shape, name)
    full = np.zeros(half.shape[:-len(shape)] + tuple(shape), dtype=half.dtype)
    full[..., get_real_fft_packed_last_axis_indices(shape[-1])] = half
    _fill_redundant_columns(full, half, shape)
    return _restore(full, was_flat, len(shape))


def _full_to_half(x, shape: tuple, name: str) -> np.ndarray:
    full, was_flat = _grid_or_flat(x, shape, name)
    half = np.take(full, get_real_fft_packed_last_axis_indices(shape[-1]), axis=-1)
    return _restore(half, was_flat, len(shape))


def full_image_to_half_image(image, image_shape):
    """Centered full 2-D spectrum → packed half spectrum (gather of the packed columns).

    `image`: (..., H, W) or flat (..., H·W); returns (..., H, W//2+1) or (..., H·(W//2+1)).
    """
    shape = V.shape_tuple(image_shape, "image_shape", length=2)
    return _full_to_half(image, shape, "image")


def half_image_to_full_image(half_image, image_shape):
    """Packed half spectrum → centered full 2-D spectrum by the Hermitian index map.

    Packed columns go to their centered columns; each redundant column c gets
    ``conj(half[π(i), W//2 − c])`` (π = :func:`get_shifted_conjugate_partner_indices`). An index
    map, not an FFT round trip, so that half-image backprojection is its exact adjoint.
    `half_image`: (..., H, W//2+1) or flat; returns the full layout in the same style.
    """
    shape = V.shape_tuple(image_shape, "image_shape", length=2)
    return _half_to_full(half_image, shape, "half_image")


def full_volume_to_half_volume(volume, volume_shape):
    """Centered full 3-D spectrum (..., N0, N1, N2) or flat → packed (..., N0, N1, N2//2+1) or flat."""
    shape = V.shape_tuple(volume_shape, "volume_shape", length=3)
    return _full_to_half(volume, shape, "volume")


def half_volume_to_full_volume(half_volume, volume_shape):
    """Packed half volume → centered full 3-D spectrum by the Hermitian index map
    (``conj(half[π(i0), π(i1), N2//2 − c])`` in each redundant column c)."""
    shape = V.shape_tuple(volume_shape, "volume_shape", length=3)
    return _half_to_full(half_volume, shape, "half_volume")
