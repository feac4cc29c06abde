"""recovar_jl.core.slicing (mirrors recovar.core.slicing).

Fourier-slice projection ("slicing") of centered 3-D spectra into 2-D image spectra and its
adjoint (backprojection), with nearest, linear or periodic cubic B-spline interpolation, on
full or rfft-packed half volumes and images. The kernels are Julia (RecovarCore,
``src/engine/``, ``src/interp/``, ``src/cabi/slicing.jl``); see the spec's kernels.md §1–4
for the exact conventions.

Geometry: pixel ``(r, c)`` of an ``(N, N)`` image has plane frequency ``(kx, ky) =
(c − N//2, r − N//2)``; image ``i`` samples the volume at the grid index
``(u·kx, u·ky, 0) @ R_i + center`` (row-vector product), ``u = volume_shape[0] //
image_shape[0]`` the volume upsampling factor (at least 1).

Difference from recovar 1.0.5 on CPU: recovar's nearest/linear slicers ignore ``u`` (its
CUDA and cubic paths apply it); here every order applies it. With ``volume_shape ==
(N, N, N)`` (``u = 1``) the results are recovar's.
"""
from __future__ import annotations

import math  # exact products: np.prod wraps around in int64 (a (2**40,)*3 shape "holds" 0 voxels)
import numbers

import numpy as np

from recovar_jl import _julia
from recovar_jl import _validate as v

__all__ = ["decide_order", "slice_volume", "batch_slice_volume", "adjoint_slice_volume",
           "batch_adjoint_slice_volume", "precompute_cubic_coefficients",
           "precompute_cubic_coefficients_half", "slice_from_cubic_coefficients", "_AUTO",
           "_default_max_r"]


class _AutoMaxR:
    """Type of the `_AUTO` sentinel: "use the default max_r"."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "_AUTO"

    def __reduce__(self):
        return (_AutoMaxR, ())


#: Sentinel default of ``max_r``: clip at ``_default_max_r(image_shape)``. Pass ``None`` to
#: disable clipping.
_AUTO = _AutoMaxR()


def _default_max_r(image_shape):
    """Default sphere-clipping radius ``image_shape[0] // 2 - 1`` (excludes Nyquist)."""
    return image_shape[0] // 2 - 1


def decide_order(disc_type):
    """Interpolation order of a discretization name.

    ``"nearest"`` → 0, ``"linear_interp"`` → 1, ``"cubic"`` → 3; anything else raises
    ValueError.
    """
    if isinstance(disc_type, str):
        if disc_type == "linear_interp":
            return 1
        if disc_type == "nearest":
            return 0
        if disc_type == "cubic":
            return 3
    raise ValueError(f"disc_type must be 'linear_interp', 'nearest', or 'cubic', got {disc_type!r}")


# ---- argument handling ----------------------------------------------------------------------

def _image_shape(image_shape):
    shape = v.shape_tuple(image_shape, "image_shape", length=2)
    if shape[0] != shape[1]:
        raise ValueError(f"image_shape must be square (H == W), got {shape}")
    return shape


def _volume_shape(volume_shape):
    return v.shape_tuple(volume_shape, "volume_shape", length=3)


def _half_shape(volume_shape):
    return (volume_shape[0], volume_shape[1], volume_shape[2] // 2 + 1)


def _stored_volume_size(volume_shape, half_volume):
    return math.prod(_half_shape(volume_shape) if half_volume else volume_shape)


def _image_grid(image_shape, half_image):
    H, W = image_shape
    return (H, W // 2 + 1) if half_image else (H, W)


def _rotations(rotation_matrices):
    rot = v.real_array(rotation_matrices, "rotation_matrices", finite=False)
    if rot.ndim != 3 or rot.shape[1:] != (3, 3):
        raise ValueError(f"rotation_matrices must have shape (n, 3, 3), got {rot.shape}")
    v.check_finite(rot, "rotation_matrices")
    return rot


def _flag(value, name):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {value!r}")


def _max_r2(max_r, image_shape, order):
    """Squared clip radius for the kernel (−1: no clipping); cubic ignores max_r."""
    if max_r is _AUTO:
        max_r = _default_max_r(image_shape)
    elif max_r is None:
        return -1.0
    elif isinstance(max_r, (bool, np.bool_)) or not isinstance(max_r, numbers.Real):
        arr = np.asarray(max_r)
        if arr.shape != () or arr.dtype.kind not in "iuf":
            raise TypeError(f"max_r must be a real number, None or _AUTO, got {max_r!r}")
        max_r = arr.item()
    max_r = float(max_r)
    if np.isnan(max_r):
        raise ValueError("max_r must not be NaN")
    if order == 3 or np.isinf(max_r):
        return -1.0
    return max_r * max_r


def _upsampling(image_shape, volume_shape):
    """Factor scaling plane frequencies into the volume grid (volume upsampling)."""
    return max(1, volume_shape[0] // image_shape[0])


def _coordinate_dtype(rot):
    return np.dtype(np.float64) if rot.dtype == np.float64 else np.dtype(np.float32)


def _projection_dtype(order, volume_dtype, rot):
    if order == 0:
        return np.dtype(volume_dtype)
    return np.result_type(volume_dtype, _coordinate_dtype(rot))


def _volumes(volumes, name, volume_shape, half_volume, batched):
    """(B, stored size) C-contiguous view/copy of `volumes`; any trailing shape of the right size."""
    arr = v.numeric_array(volumes, name, finite=False)
    size = _stored_volume_size(volume_shape, half_volume)
    what = f"{'half ' if half_volume else ''}volume_shape={volume_shape}"
    if batched:
        if arr.ndim < 1:
            raise ValueError(f"{name} must have a leading batch axis, got shape {arr.shape}")
        if arr.ndim < 2 or int(np.prod(arr.shape[1:])) != size:
            raise ValueError(f"{name} must have shape (B, {size}) or (B, *grid) for {what}, got {arr.shape}")
        return arr.reshape(arr.shape[0], size)
    if arr.size != size:
        raise ValueError(f"{name} has {arr.size} elements, expected {size} for {what} "
                         f"(shape {arr.shape})")
    return arr.reshape(1, size)


def _slices(slices, name, image_shape, half_image, batched):
    """(B, n, npix) view/copy of `slices`: per image flat (npix,) or grid (H, W|W//2+1)."""
    arr = v.numeric_array(slices, name, finite=False)
    grid = _image_grid(image_shape, half_image)
    npix = grid[0] * grid[1]
    lead = 2 if batched else 1
    want = ("(B, n, " if batched else "(n, ") + f"{npix}) or " + ("(B, n, " if batched else "(n, ") + \
        f"{grid[0]}, {grid[1]})"
    if arr.ndim == lead + 1 and arr.shape[-1] == npix:
        pass
    elif arr.ndim == lead + 2 and arr.shape[-2:] == grid:
        pass
    else:
        raise ValueError(f"{name} must have shape {want} for {'half ' if half_image else ''}"
                         f"image_shape={image_shape}, got {arr.shape}")
    shape = arr.shape[:lead] + (npix,)
    arr = arr.reshape(shape)
    return arr if batched else arr.reshape(1, *shape)


def _common_arguments(disc_type, image_shape, volume_shape, half_volume, half_image, rotation_matrices, max_r):
    """Validate the arguments every slicing function shares (in recovar's argument order)."""
    order = decide_order(disc_type)
    image_shape = _image_shape(image_shape)
    volume_shape = _volume_shape(volume_shape)
    half_volume = _flag(half_volume, "half_volume")
    half_image = _flag(half_image, "half_image")
    rot = _rotations(rotation_matrices)
    _max_r2(max_r, image_shape, order)
    return order, image_shape, volume_shape, half_volume, half_image, rot


def _call_slice(vols, rot, image_shape, volume_shape, order, half_volume, half_image, max_r):
    B = vols.shape[0]
    n = rot.shape[0]
    npix = math.prod(_image_grid(image_shape, half_image))
    out_dtype = _projection_dtype(order, vols.dtype, rot)
    v.check_memory(B * n * npix * out_dtype.itemsize, "the projected images")
    out = np.empty((B, n, npix), dtype=out_dtype)
    if out.size:
        _julia.call("slice_volume", out, vols, rot, order, int(half_volume), int(half_image),
                    *volume_shape, *image_shape, _max_r2(max_r, image_shape, order),
                    _upsampling(image_shape, volume_shape))
    return out


def _call_adjoint(slices, rot, image_shape, volume_shape, order, accumulators, half_volume, half_image,
                  max_r, accumulator_name):
    B, n, _ = slices.shape
    if n != rot.shape[0]:
        raise ValueError(f"slices hold {n} images per volume but rotation_matrices has {rot.shape[0]}")
    size = _stored_volume_size(volume_shape, half_volume)
    if accumulators is None:
        out_dtype = slices.dtype
        v.check_memory(B * size * out_dtype.itemsize, "the backprojected volumes")
        out = np.zeros((B, size), dtype=out_dtype)
    else:
        out_dtype = np.result_type(slices.dtype, accumulators.dtype)
        out = np.array(accumulators, dtype=out_dtype, copy=True).reshape(B, size)
    if n and B:
        _julia.call("adjoint_slice_volume", out, slices, rot, order, int(half_volume), int(half_image),
                    *volume_shape, *image_shape, _max_r2(max_r, image_shape, order),
                    _upsampling(image_shape, volume_shape))
    return out


# ---- public API -------------------------------------------------------------------------------

def slice_volume(volume, rotation_matrices, image_shape, volume_shape, disc_type, half_volume=False,
                 half_image=False, max_r=_AUTO):
    """Project a Fourier volume to Fourier images (central slices).

    Parameters
    ----------
    volume : array, ``(V,)`` flat or grid-shaped ``(N0, N1, N2)``; with ``half_volume`` the
        rfft-packed ``(Vh,)`` / ``(N0, N1, N2//2+1)``. Real or complex. With
        ``disc_type="cubic"`` the volume is read as spline coefficients (no prefilter; see
        `precompute_cubic_coefficients`).
    rotation_matrices : (n, 3, 3) float array.
    image_shape : (N, N). volume_shape : (N0, N1, N2).
    disc_type : "nearest", "linear_interp" or "cubic".
    half_volume, half_image : rfft-packed input volume / output images.
    max_r : clip radius on unrotated integer plane frequencies (pixels with
        ``kx² + ky² > max_r²`` are 0). Default ``_AUTO`` = ``image_shape[0]//2 - 1``;
        ``None`` = no clipping. Ignored by cubic.

    Returns
    -------
    (n, N·N) or, with ``half_image``, (n, N·(N//2+1)) array. dtype: the volume's for
    nearest; for linear and cubic the volume's promoted with the coordinates' (float32, or
    float64 for float64 rotations).
    """
    order, image_shape, volume_shape, half_volume, half_image, rot = _common_arguments(
        disc_type, image_shape, volume_shape, half_volume, half_image, rotation_matrices, max_r)
    vols = _volumes(volume, "volume", volume_shape, half_volume, batched=False)
    return _call_slice(vols, rot, image_shape, volume_shape, order, half_volume, half_image, max_r)[0]


def batch_slice_volume(volumes, rotation_matrices, image_shape, volume_shape, disc_type, half_volume=False,
                       half_image=False, max_r=_AUTO):
    """Project each of B volumes with the same rotations.

    Parameters
    ----------
    volumes : (B, V) or (B, N0, N1, N2) (half: (B, Vh) or (B, N0, N1, N2//2+1)).
    Other parameters as `slice_volume`.

    Returns
    -------
    (B, n, npix) array, ``npix = N·N`` or ``N·(N//2+1)``.
    """
    order, image_shape, volume_shape, half_volume, half_image, rot = _common_arguments(
        disc_type, image_shape, volume_shape, half_volume, half_image, rotation_matrices, max_r)
    vols = _volumes(volumes, "volumes", volume_shape, half_volume, batched=True)
    return _call_slice(vols, rot, image_shape, volume_shape, order, half_volume, half_image, max_r)


def adjoint_slice_volume(slices, rotation_matrices, image_shape, volume_shape, disc_type, volume=None,
                         half_image=False, half_volume=False, max_r=_AUTO):
    """Backproject Fourier images into a Fourier volume (adjoint of slicing).

    Nearest/linear: the exact adjoint of `slice_volume` (same clipping, same weights);
    half images are backprojected as ``half_image_to_full_image(slices)`` and a half volume
    receives the fold of the full result (adjoint of ``half_volume_to_full_volume``).
    Cubic: the adjoint of ``v ↦ slice_volume(precompute_cubic_coefficients(v))`` (recovar's
    convention), half images as their packed pixels.

    Parameters
    ----------
    slices : (n, npix) or (n, N, N) (half: (n, N·(N//2+1)) or (n, N, N//2+1)).
    rotation_matrices : (n, 3, 3).
    volume : optional accumulator, (V,) or (Vh,) (flat or grid-shaped): the result is
        ``backprojection + volume``; ``volume`` itself is not modified.
    Other parameters as `slice_volume`.

    Returns
    -------
    (V,) or, with ``half_volume``, (Vh,) array; dtype of ``slices`` (promoted with
    ``volume``'s when given).
    """
    order, image_shape, volume_shape, half_volume, half_image, rot = _common_arguments(
        disc_type, image_shape, volume_shape, half_volume, half_image, rotation_matrices, max_r)
    sl = _slices(slices, "slices", image_shape, half_image, batched=False)
    acc = None if volume is None else _volumes(volume, "volume", volume_shape, half_volume, batched=False)
    return _call_adjoint(sl, rot, image_shape, volume_shape, order, acc, half_volume, half_image, max_r,
                         "volume")[0]


def batch_adjoint_slice_volume(slices, rotation_matrices, image_shape, volume_shape, disc_type, volumes=None,
                               half_image=False, half_volume=False, max_r=_AUTO):
    """Backproject B image stacks (shared rotations) into B volumes.

    Parameters
    ----------
    slices : (B, n, npix) or (B, n, N, N|N//2+1).
    volumes : optional (B, V|Vh) accumulators (result = backprojection + volumes).
    Other parameters as `adjoint_slice_volume`.

    Returns
    -------
    (B, V) or (B, Vh) array.
    """
    order, image_shape, volume_shape, half_volume, half_image, rot = _common_arguments(
        disc_type, image_shape, volume_shape, half_volume, half_image, rotation_matrices, max_r)
    sl = _slices(slices, "slices", image_shape, half_image, batched=True)
    acc = None
    if volumes is not None:
        acc = _volumes(volumes, "volumes", volume_shape, half_volume, batched=True)
        if acc.shape[0] != sl.shape[0]:
            raise ValueError(f"volumes has {acc.shape[0]} volumes but slices has {sl.shape[0]} stacks")
    return _call_adjoint(sl, rot, image_shape, volume_shape, order, acc, half_volume, half_image, max_r,
                         "volumes")


# ---- cubic coefficients -------------------------------------------------------------------------

def _packed_last_axis_indices(n):
    """Centered columns stored by the rfft-packed layout (conventions.md §2)."""
    return np.array(list(range(n // 2, n)) + ([0] if n % 2 == 0 else []), dtype=np.int64)


def precompute_cubic_coefficients(volume, volume_shape):
    """Periodic cubic B-spline coefficients of a full volume.

    Parameters
    ----------
    volume : (V,) or (N0, N1, N2), real or complex.
    volume_shape : (N0, N1, N2).

    Returns
    -------
    (N0, N1, N2) array C with ``C[i−1] + 4C[i] + C[i+1] = volume[i]`` along every axis
    (periodic); dtype of ``volume``.
    """
    volume_shape = _volume_shape(volume_shape)
    arr = v.numeric_array(volume, "volume", finite=False)
    if arr.size != math.prod(volume_shape):
        raise ValueError(f"volume has {arr.size} elements, expected {math.prod(volume_shape)} for "
                         f"volume_shape={volume_shape}")
    coeffs = np.array(arr.reshape(volume_shape), copy=True, order="C")
    _julia.call("calculate_spline_coefficients", coeffs)
    return coeffs


def precompute_cubic_coefficients_half(volume, volume_shape):
    """Periodic cubic coefficients of a full volume, stored rfft-packed.

    Returns
    -------
    (Vh,) flat ``full_volume_to_half_volume(precompute_cubic_coefficients(volume))``
    (lossless for Hermitian-symmetric volumes, whose coefficients are Hermitian too).
    """
    volume_shape = _volume_shape(volume_shape)
    coeffs = precompute_cubic_coefficients(volume, volume_shape)
    return np.ascontiguousarray(coeffs[..., _packed_last_axis_indices(volume_shape[2])]).reshape(-1)


def slice_from_cubic_coefficients(coeffs, rotation_matrices, image_shape, volume_shape, half_image=False):
    """Project from periodic cubic spline coefficients.

    Parameters
    ----------
    coeffs : full coefficients (V,) / (N0, N1, N2), or half-packed (Vh,) — taken as half
        iff ``coeffs.size == Vh != V`` (read as their Hermitian expansion).
    Other parameters as `slice_volume` (no clipping).

    Returns
    -------
    (n, N·N) or (n, N·(N//2+1)) array.
    """
    image_shape = _image_shape(image_shape)
    volume_shape = _volume_shape(volume_shape)
    half_image = _flag(half_image, "half_image")
    rot = _rotations(rotation_matrices)
    arr = v.numeric_array(coeffs, "coeffs", finite=False)
    full_size = math.prod(volume_shape)
    half_size = math.prod(_half_shape(volume_shape))
    half_volume = arr.size == half_size and arr.size != full_size
    if not half_volume and arr.size != full_size:
        raise ValueError(f"coeffs has {arr.size} elements, expected {full_size} (full) or {half_size} (half) "
                         f"for volume_shape={volume_shape}")
    vols = arr.reshape(1, arr.size)
    return _call_slice(vols, rot, image_shape, volume_shape, 3, half_volume, half_image, None)[0]
