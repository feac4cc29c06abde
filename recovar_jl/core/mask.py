"""recovar_jl.core.mask (mirrors recovar.core.mask of recovar 1.0.5).

Real-space masks: solvent masks from maps and half-maps, the pipeline's mask options,
ground-truth masks, radial and raised-cosine masks, 2-D image windows, and the
distance-transform cosine softening they share. Everything here is NumPy / SciPy /
scikit-image, whose exact semantics (distance transform, dilation, labelling, Otsu,
Gaussian filter, rescale) are part of the behaviour reproduced: no Julia kernel is involved.

Coordinates are ``index - n//2`` on every axis (the centre voxel of an even box is
``n//2``). As in recovar, radial helpers lay coordinates out like an "xy" meshgrid, which
is the natural layout for square and cubic shapes; other shapes get recovar's layout.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from .. import _validate as _v

__all__ = [
    "masking_options",
    "make_mask",
    "make_mask_from_half_maps",
    "make_mask_from_gt",
    "make_union_gt_mask",
    "make_moving_gt_mask",
    "soften_volume_mask",
    "get_radial_mask",
    "raised_cosine_mask",
    "soft_mask_outside_map",
    "window_mask",
    "smooth_circular_mask",
    "make_soft_edged_kernel",
    "threshold_map",
]

# Values of a soft mask below this are set to exactly zero.
_SOFT_FLOOR = 1e-3
# A mask read from a file or produced by a soft step is foreground above this.
_SOFTEN_THRESHOLD = 0.9
# Cosine half-width (voxels) used by `masking_options` for every mask it softens.
_PIPELINE_SOFTEN_RADIUS = 3


class MaskFileNotFoundError(FileNotFoundError, ValueError):
    """The ``.mrc`` path given as ``volume_mask_option`` does not exist.

    A ``FileNotFoundError`` (as recovar raises) that is also a ``ValueError``, like every
    other bad argument of this module.
    """


# ---------------------------------------------------------------------------
# argument helpers
# ---------------------------------------------------------------------------


def _grid_shape(shape, name: str, length=None) -> tuple:
    """A non-empty shape whose float64 grid fits in memory (every mask is built on one)."""
    out = _v.shape_tuple(shape, name, length)
    if not out:
        raise ValueError(f"{name} must have at least one entry, got {shape!r}")
    _v.check_memory(8 * math.prod(out), f"a grid of {name}={out}")
    return out


def _mask_array(x, name: str, ndim=None) -> np.ndarray:
    """A real (or boolean) array without NaN, in its own dtype."""
    arr = _v.as_real_array(x, name)
    _v.check_ndim(arr, name, ndim)
    _v.check_finite(arr, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must be an array with at least one dimension, got a scalar")
    return arr


def _volume(x, name: str) -> np.ndarray:
    """A finite real 3-D array (float32 / float64; ints and bools become float32)."""
    arr = _v.real_array(x, name, ndim=3)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    return arr


def _default_extension(n: int) -> int:
    """recovar's pipeline extension / dilation default, ceil(6 N / 128) voxels."""
    return int(np.ceil(6 * n / 128))


def _centered_idft3(spectrum: np.ndarray) -> np.ndarray:
    """Centered inverse 3-D DFT (conventions §1): ifftshift → ifftn → ifftshift, in the
    input's precision (complex64 for 32-bit input, complex128 for 64-bit)."""
    out_dtype = _v.complex_dtype(spectrum.dtype)
    shifted = np.fft.ifftshift(spectrum, axes=(-3, -2, -1))
    volume = np.fft.ifftn(shifted, axes=(-3, -2, -1))
    return np.fft.ifftshift(volume, axes=(-3, -2, -1)).astype(out_dtype, copy=False)


def _cube_side(size: int, name: str) -> int:
    side = int(np.round(size ** (1 / 3)))
    if side ** 3 != size or size == 0:
        raise ValueError(f"{name} must hold a cubic volume (side**3 values), got {size} values")
    return side


def _radius_grid(shape: tuple, shift: float = 0.0) -> np.ndarray:
    """float32 distance of every grid point from the origin, laid out as recovar does.

    Coordinates along axis d are ``i - n_d//2 + shift``. recovar stacks an "xy" meshgrid
    (first two axes swapped) and reshapes it to ``shape``; for square/cubic shapes this
    is the plain distance ``‖(i0, i1, …) − n//2‖``. The float32 square root is kept
    because recovar's comparisons against radii happen in float32.
    """
    grids = [np.arange(-(n // 2), n - n // 2, dtype=np.float64) + shift for n in shape]
    mesh = np.meshgrid(*grids, indexing="xy", sparse=True)
    squared = mesh[0] ** 2
    for m in mesh[1:]:
        squared = squared + m ** 2
    full_shape = np.broadcast_shapes(*(m.shape for m in mesh))
    squared = np.ascontiguousarray(np.broadcast_to(squared, full_shape)).reshape(shape)
    return np.sqrt(squared.astype(np.float32))


def _edt(foreground: np.ndarray) -> np.ndarray:
    """Euclidean distance of each foreground voxel to the nearest background voxel.

    SciPy semantics, including its degenerate case: with no background voxel the
    distance is measured to the virtual point (-1, 0, …, 0).
    """
    return ndimage.distance_transform_edt(foreground)


def _dilate(mask: np.ndarray, iterations: int) -> np.ndarray:
    """Binary dilation with the face-connected cross; nonzero is foreground;
    ``iterations < 1`` repeats until nothing changes (SciPy semantics)."""
    return ndimage.binary_dilation(mask, iterations=iterations)


def _floor_small_values(soft: np.ndarray) -> np.ndarray:
    return (soft * (soft >= _SOFT_FLOOR)).astype(np.float32)


# ---------------------------------------------------------------------------
# softening, radial masks, thresholds
# ---------------------------------------------------------------------------


def soften_volume_mask(binary_volume_mask, kern_rad=3):
    """Give a binary mask a raised-cosine edge of width ``kern_rad`` voxels.

    Voxels of the mask (values ≥ 0.9) get 1; a voxel at Euclidean distance ``d`` from the
    mask gets ``0.5 + 0.5 cos(π d / kern_rad)`` while ``d < kern_rad``, 0 beyond.

    Parameters
    ----------
    binary_volume_mask : array_like, any shape (usually (N, N, N))
        Mask; soft masks are re-thresholded at 0.9.
    kern_rad : float
        Width of the cosine edge in voxels.

    Returns
    -------
    ndarray, float32, same shape
        Values in [0, 1]. As in recovar, an input without any mask voxel is measured to
        SciPy's virtual point (-1, 0, 0) and is not all zero (maximum 0.75 for
        ``kern_rad=3``).
    """
    mask = _mask_array(binary_volume_mask, "binary_volume_mask")
    kern_rad = float(_v.real_number(kern_rad, "kern_rad"))
    distance = _edt(mask < _SOFTEN_THRESHOLD)
    soft = np.zeros(mask.shape, dtype=np.float64)
    inside = distance < kern_rad
    soft[inside] = 0.5 + 0.5 * np.cos(np.pi * distance[inside] / kern_rad)
    return soft.astype(np.float32)


def get_radial_mask(shape, radius=None):
    """Boolean ball ``‖coords‖ < radius`` on a grid of ``shape`` (2-D or 3-D).

    Parameters
    ----------
    shape : tuple of int
        Grid shape; coordinates are ``index - n//2``.
    radius : float, optional
        In voxels; default ``shape[0]//2 - 1``. Points exactly at the radius are outside
        (recovar's ``+1e-7`` tolerance vanishes in its float32 comparison).

    Returns
    -------
    ndarray of bool, shape ``shape``
    """
    shape = _grid_shape(shape, "shape")
    radius = shape[0] // 2 - 1 if radius is None else _v.real_number(radius, "radius")
    # recovar compares float32 distances with float32(radius + 1e-7), which is radius
    # itself for every radius of practical size.
    return _radius_grid(shape) < np.float32(radius + 1e-7)


def raised_cosine_mask(volume_shape, radius, radius_p, offset):
    """Ball of radius ``radius`` with a raised-cosine fall-off to 0 at ``radius_p``.

    ``d = ‖coords − offset‖``; 1 for ``d < radius``,
    ``0.5 − 0.5 cos(π (radius_p − d) / (radius_p − radius))`` for ``radius ≤ d < radius_p``,
    0 beyond.

    Parameters
    ----------
    volume_shape : tuple of int
        Grid shape (usually 3-D); coordinates ``index - n//2``, axis d ↔ coordinate d.
    radius, radius_p : float
        Inner and outer radius in voxels.
    offset : float or sequence of float
        Centre of the ball relative to the grid centre, one entry per axis (a scalar is
        used on every axis).

    Returns
    -------
    ndarray, float32, shape ``volume_shape``
    """
    volume_shape = _grid_shape(volume_shape, "volume_shape")
    radius = float(_v.real_number(radius, "radius"))
    radius_p = float(_v.real_number(radius_p, "radius_p"))
    offset_arr = _v.real_array(offset, "offset", dtype=np.float64)
    if offset_arr.ndim > 1 or (offset_arr.ndim == 1 and offset_arr.size not in (1, len(volume_shape))):
        raise ValueError(f"offset must be a scalar or have {len(volume_shape)} entries, got shape {offset_arr.shape}")
    offset_arr = np.broadcast_to(offset_arr.reshape(-1), (len(volume_shape),))
    squared = np.zeros(volume_shape, dtype=np.float64)
    for axis, n in enumerate(volume_shape):
        coords = np.arange(-(n // 2), n - n // 2, dtype=np.float32).astype(np.float64) - offset_arr[axis]
        view = [1] * len(volume_shape)
        view[axis] = n
        squared = squared + coords.reshape(view) ** 2
    distance = np.sqrt(squared)
    mask = (distance < radius).astype(np.float64)
    band = (distance >= radius) & (distance < radius_p)
    mask[band] = 0.5 - 0.5 * np.cos(np.pi * (radius_p - distance[band]) / (radius_p - radius))
    return mask.astype(np.float32)


def soft_mask_outside_map(vol, radius=-1, cosine_width=3, Mnoise=None):
    """Fade a map to its background outside a sphere (adapted from RELION).

    With ``r`` the distance from the grid centre and ``radius_p = radius + cosine_width``:
    ``mask = 1`` for ``r ≤ radius``, ``0.5 − 0.5 cos(π (radius_p − r) / cosine_width)``
    for ``radius < r ≤ radius_p``, 0 beyond. The background is ``Mnoise`` if given, else
    the mask-weighted mean of ``vol`` over the band ``r > radius`` (recovar's choice, not
    RELION's ``1 − mask`` weighting; NaN if the band holds no grid point).
    ``out = mask·vol' + (1 − mask)·background`` where ``vol'`` is ``vol`` with the
    background put beyond ``radius_p``.

    Parameters
    ----------
    vol : array_like, (N, N) or (N, N, N), real or complex
    radius : float
        Inner radius in voxels; negative → ``max(vol.shape)//2``.
    cosine_width : float
        Width of the transition band in voxels.
    Mnoise : float or array_like broadcastable to ``vol.shape``, optional

    Returns
    -------
    out : ndarray, same shape and dtype as ``vol`` (integers → float32)
    mask : ndarray, real dtype of ``vol``, same shape
    """
    vol = _v.numeric_array(vol, "vol")
    if vol.ndim == 0 or vol.size == 0:
        raise ValueError(f"vol must be a non-empty array, got shape {vol.shape}")
    radius = _v.real_number(radius, "radius")
    cosine_width = _v.real_number(cosine_width, "cosine_width")
    if radius < 0:
        radius = max(vol.shape) // 2
    radius_p = radius + cosine_width
    real = np.dtype(np.float64) if vol.dtype in (np.float64, np.complex128) else np.dtype(np.float32)

    r = _radius_grid(vol.shape)
    # recovar compares float32 distances with the radii converted to float32.
    inner = r <= np.float32(radius)
    band = (r > np.float32(radius)) & (r <= np.float32(radius_p))
    beyond = r > np.float32(radius_p)

    mask = inner.astype(np.float64)
    if cosine_width != 0:
        mask[band] = 0.5 - 0.5 * np.cos(np.pi * (radius_p - r[band].astype(np.float64)) / cosine_width)
    mask = mask.astype(real)

    if Mnoise is None:
        outside = band | beyond
        weights = mask[outside].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            background = np.sum(vol[outside] * weights) / np.sum(weights)
        background = np.asarray(background).astype(vol.dtype)
    else:
        background = _v.numeric_array(Mnoise, "Mnoise")
        try:
            background = np.broadcast_to(background, vol.shape)
        except ValueError:
            raise ValueError(f"Mnoise must be a scalar or broadcastable to vol's shape {vol.shape}, "
                             f"got shape {background.shape}") from None
        if background.dtype.kind == "c" and vol.dtype.kind != "c":
            raise TypeError("Mnoise must be real when vol is real")
        background = background.astype(vol.dtype)

    filled = np.where(beyond, background, vol)
    out = (mask * filled + (1 - mask) * background).astype(vol.dtype)
    return out, mask


def window_mask(D, in_rad, out_rad):
    """2-D circular window with a linear fall-off, in normalised coordinates.

    ``x = (i − D/2)/(D/2)`` per axis (−1 … 1), ``r = ‖x‖``;
    ``clip(1 − (r − in_rad)/(out_rad − in_rad), 0, 1)``.

    Parameters
    ----------
    D : int
        Image side in pixels; must be even.
    in_rad, out_rad : float
        Radii (1.0 = image edge) where the window starts to fall and reaches 0.

    Returns
    -------
    ndarray, float32, (D, D)
    """
    D = _v.integer(D, "D")
    if D <= 0 or D % 2 != 0:
        raise ValueError(f"D must be a positive even integer, got {D}")
    _v.check_memory(24 * D * D, f"a window of D={D}")  # float32 coordinates, float64 r and window
    in_rad = float(_v.real_number(in_rad, "in_rad"))
    out_rad = float(_v.real_number(out_rad, "out_rad"))
    x = ((np.arange(D, dtype=np.float64) - D / 2) / (D / 2)).astype(np.float32)
    r = np.sqrt(x[None, :] ** 2 + x[:, None] ** 2).astype(np.float64)
    if out_rad == in_rad:
        # A zero-width ramp is a hard edge; recovar divides by zero (NaN on the circle).
        window = (r <= in_rad).astype(np.float64)
    else:
        window = np.clip(1 - (r - in_rad) / (out_rad - in_rad), 0.0, 1.0)
    return window.astype(np.float32)


def smooth_circular_mask(image_size, radius, thickness):
    """2-D disc with a raised-cosine edge.

    1 for ``r < radius``; ``0.5 + 0.5 cos(π (r − radius)/thickness)`` for
    ``radius ≤ r ≤ radius + thickness``; 0 beyond (``r`` from pixel ``image_size//2``).

    Parameters
    ----------
    image_size : int
    radius, thickness : float
        In pixels. ``thickness = 0`` gives a hard edge with the circle itself inside.

    Returns
    -------
    ndarray, float64, (image_size, image_size)
    """
    image_size = _v.integer(image_size, "image_size")
    if image_size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    _v.check_memory(24 * image_size * image_size, f"a mask of image_size={image_size}")
    radius = float(_v.real_number(radius, "radius"))
    thickness = float(_v.real_number(thickness, "thickness"))
    coords = np.arange(image_size, dtype=np.float64) - image_size // 2
    r = np.sqrt(coords[None, :] ** 2 + coords[:, None] ** 2)
    mask = (r < radius).astype(np.float64)
    band = (r >= radius) & (r <= radius + thickness)
    if thickness == 0:
        # cos(π·0/0) in recovar (NaN); the limit of the ramp at its start is 1.
        mask[band] = 1.0
    else:
        mask[band] = 0.5 + 0.5 * np.cos(np.pi * (r[band] - radius) / thickness)
    return mask


def make_soft_edged_kernel(r1, shape):
    """Normalised soft-edged ball used for local correlations (after EMDA).

    Box ``5`` if ``r1 < 3`` else ``2 r1 + 1``; ``R = box//2``, ``r0 = R − 2``; with ``d``
    the distance from index ``n//2 − 1`` on every axis (the zero-shift point of a "same"
    FFT convolution for even n): 1 for ``d < r0``, ``(1 + cos(π (d − r0)/(R − r0)))/2``
    for ``r0 ≤ d ≤ R``, 0 beyond; divided by its sum.

    Parameters
    ----------
    r1 : float
        Kernel radius in voxels.
    shape : tuple of int
        Shape of the kernel array (the volume it is convolved with).

    Returns
    -------
    ndarray, float32, shape ``shape``, summing to 1
    """
    r1 = _v.real_number(r1, "r1")
    shape = _grid_shape(shape, "shape")
    box = 5 if r1 < 3 else 2 * r1 + 1
    outer = box // 2
    inner = outer - 2
    d = _radius_grid(shape, shift=1.0)
    kernel = (d < inner).astype(np.float64)
    band = (d <= outer) & (d >= inner)
    kernel[band] = (1 + np.cos(np.pi * (d[band].astype(np.float64) - inner) / (outer - inner))) / 2
    total = kernel.sum()
    if total == 0:
        raise ValueError(f"the kernel of radius r1={r1!r} holds no grid point of shape {shape}")
    return (kernel / total).astype(np.float32)


def threshold_map(arr, prob=0.99, dthresh=None):
    """Keep the values above a percentile threshold, zero the rest.

    ``t = dthresh``, or, with the values sorted ascending (``X``) and ``F_i = i/(n − 1)``,
    ``t = X[first i with F_i ≥ prob]``. Returns ``arr·(arr > t)``.

    Parameters
    ----------
    arr : array_like, any shape, real
    prob : float
        Quantile in [0, 1] (values of ``F``); ``prob ≤ 0`` selects the minimum.
    dthresh : float, optional
        Explicit threshold.

    Returns
    -------
    ndarray, same shape and dtype as ``arr``
    """
    arr = _mask_array(arr, "arr")
    if arr.size == 0:
        raise ValueError("arr must not be empty")
    if dthresh is None:
        prob = float(_v.real_number(prob, "prob"))
        if prob > 1:
            raise ValueError(f"prob must be at most 1, got {prob}")
        values = np.sort(arr.ravel())
        n = values.size
        if n == 1:
            thresh = values[0]  # the only value is its own top quantile
        else:
            cdf = np.arange(n) / float(n - 1)
            thresh = values[np.argmax(cdf >= prob)]
    else:
        thresh = _v.real_number(dthresh, "dthresh")
    return arr * (arr > thresh)


# ---------------------------------------------------------------------------
# solvent masks from maps
# ---------------------------------------------------------------------------


def _otsu_or_percentile(values: np.ndarray) -> float:
    """Otsu threshold of a 1-D sample; recovar falls back to the 99th percentile."""
    from skimage.filters import threshold_otsu

    if values.size == 0:
        return float("nan")  # nothing inside the radial mask: nothing exceeds it
    try:
        return float(threshold_otsu(values))
    except ValueError:
        return float(np.percentile(values, 99))


def make_mask(volume, *, threshold="auto", lowpass_sigma=None, extend=None, soft_edge=3, cleanup=True):
    """Solvent mask of a 3-D map (RELION-like: low-pass, threshold, clean, extend, soften).

    1. Gaussian low-pass (``lowpass_sigma`` voxels; default ``max(2, N//64)``; ≤ 0: none).
    2. Threshold inside ``get_radial_mask``: Otsu's threshold of the filtered voxels there
       (``"auto"``) or the given density; voxels above it and inside the ball.
    3. ``cleanup``: fill holes, keep the largest face-connected component (ties → the
       first label); an empty mask is returned as zeros.
    4. Extend by Euclidean distance ``≤ extend`` voxels (default ``ceil(6N/128)``; ≤ 0: none).
    5. Cosine edge of ``soft_edge`` voxels (``soften_volume_mask``; ≤ 0: binary); values
       below 1e-3 are zeroed.

    Parameters
    ----------
    volume : array_like, (N, N, N), real
    threshold : "auto" or float
    lowpass_sigma, extend, soft_edge : float, optional
        In voxels.
    cleanup : bool

    Returns
    -------
    ndarray, float32, (N, N, N), values in [0, 1]
    """
    volume = _volume(volume, "volume").astype(np.float64)
    if isinstance(threshold, str):
        if threshold != "auto":
            raise ValueError(f"threshold must be 'auto' or a number, got {threshold!r}")
    else:
        threshold = float(_v.real_number(threshold, "threshold"))
    lowpass_sigma = _v.real_number(lowpass_sigma, "lowpass_sigma", allow_none=True)
    extend = _v.real_number(extend, "extend", allow_none=True)
    soft_edge = _v.real_number(soft_edge, "soft_edge")
    cleanup = _v.flag(cleanup, "cleanup")

    n = volume.shape[0]
    if lowpass_sigma is None:
        lowpass_sigma = max(2, n // 64)
    filtered = ndimage.gaussian_filter(volume, sigma=lowpass_sigma) if lowpass_sigma > 0 else volume

    ball = get_radial_mask(volume.shape)
    thresh = _otsu_or_percentile(filtered[ball]) if threshold == "auto" else threshold
    binary = (filtered > thresh) & ball

    if cleanup:
        binary = ndimage.binary_fill_holes(binary)
        labels, n_components = ndimage.label(binary)
        if n_components == 0:
            return np.zeros(volume.shape, dtype=np.float32)
        if n_components > 1:
            sizes = np.bincount(labels.ravel())[1:]
            binary = labels == (int(np.argmax(sizes)) + 1)

    if extend is None:
        extend = _default_extension(n)
    if extend > 0:
        binary = _edt(~binary) <= extend

    soft = soften_volume_mask(binary, soft_edge) if soft_edge > 0 else binary.astype(np.float32)
    return _floor_small_values(soft)


def make_mask_from_half_maps(halfmap1, halfmap2, smax=3, method="auto", **kwargs):
    """Solvent mask from two real-space half maps.

    ``method="local_correlation"``: the legacy EMDA-style mask — local correlation of the
    thresholded half maps (99th percentile, ``threshold_map``) under the soft ball
    ``make_soft_edged_kernel(smax)``, kept where ≥ 1e-3 inside the radial mask, dilated
    ``floor(6N/128)`` times and softened by ``kwargs.get("soft_edge", 2)`` voxels (other
    keyword arguments are ignored). For N < 22 the dilation count is 0, which SciPy reads
    as "until stable": the mask is then all ones (recovar's behaviour).
    Any other ``method``: ``make_mask((halfmap1 + halfmap2)/2, **kwargs)``.

    Parameters
    ----------
    halfmap1, halfmap2 : array_like, (N, N, N), real
    smax : float
        Kernel radius in voxels (local correlation only).
    method : str
    **kwargs
        Passed to `make_mask` (``threshold``, ``lowpass_sigma``, ``extend``,
        ``soft_edge``, ``cleanup``).

    Returns
    -------
    ndarray, float32, (N, N, N), values in [0, 1]
    """
    halfmap1 = _volume(halfmap1, "halfmap1")
    halfmap2 = _volume(halfmap2, "halfmap2")
    if halfmap1.shape != halfmap2.shape:
        raise ValueError(f"halfmap1 and halfmap2 must have the same shape, got {halfmap1.shape} and {halfmap2.shape}")
    if method == "local_correlation":
        soft_edge = _v.real_number(kwargs.get("soft_edge", 2), "soft_edge")
        smax = _v.real_number(smax, "smax")
        return _mask_from_local_correlation(halfmap1, halfmap2, smax, soft_edge)
    return make_mask((halfmap1 + halfmap2) / 2.0, **kwargs)


def _local_correlation(first: np.ndarray, second: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Local Pearson correlation of two maps under a normalised kernel; each local
    variance is floored at a thousandth of its maximum."""
    def local_mean(x):
        from scipy.signal import fftconvolve  # imported here: scipy.signal costs ~0.5 s at import

        return fftconvolve(x, kernel, mode="same")

    mean_a, mean_b = local_mean(first), local_mean(second)
    covariance = local_mean(first * second) - mean_a * mean_b
    var_a = local_mean(first * first) - mean_a ** 2
    var_b = local_mean(second * second) - mean_b ** 2
    var_a = np.maximum(var_a, var_a.max() / 1000)
    var_b = np.maximum(var_b, var_b.max() / 1000)
    # Flat maps have zero variance everywhere: their NaN correlation counts as "not
    # correlated" below, as in recovar.
    with np.errstate(invalid="ignore", divide="ignore"):
        return covariance / np.sqrt(var_a * var_b)


def _mask_from_local_correlation(halfmap1, halfmap2, smax, soft_edge) -> np.ndarray:
    n = halfmap1.shape[0]
    kernel = make_soft_edged_kernel(smax, halfmap1.shape)
    correlation = _local_correlation(threshold_map(halfmap1), threshold_map(halfmap2), kernel)
    correlation = correlation * get_radial_mask(halfmap1.shape)
    # floor, not ceil: 0 (dilate until stable) for N < 22, as in recovar.
    dilated = _dilate(correlation >= _SOFT_FLOOR, (6 * n) // 128)
    return _floor_small_values(soften_volume_mask(dilated, soft_edge))


def make_mask_from_gt(gt_map, smax=3, iter=10, from_ft=True):
    """Mask of a ground-truth volume: voxels above its 99th percentile (and positive),
    dilated ``iter`` times, with a 2-voxel cosine edge.

    Parameters
    ----------
    gt_map : array_like, N³ values (flat or (N, N, N))
        A centered spectrum if ``from_ft`` (the real part of its inverse DFT is used),
        else a real map.
    smax : float
        Unused (recovar's signature).
    iter : int
        Dilation iterations; < 1 dilates until stable.
    from_ft : bool

    Returns
    -------
    ndarray, float32, (N, N, N), values in [0, 1]
    """
    from_ft = _v.flag(from_ft, "from_ft")
    iter = _v.integer(iter, "iter")
    gt = _v.numeric_array(gt_map, "gt_map")
    side = _cube_side(gt.size, "gt_map")
    gt = gt.reshape((side,) * 3)
    if from_ft:
        volume = _centered_idft3(gt).real
    else:
        if gt.dtype.kind == "c":
            raise TypeError("gt_map must be real when from_ft=False")
        volume = gt
    above = threshold_map(volume) > 0
    return soften_volume_mask(_dilate(above, iter), kern_rad=2)


def _as_volume_list(gt_volumes_real, volume_shape: tuple) -> list:
    """recovar's accepted layouts: (n_vols, n_voxels), (n_vols, N, N, N), one (N, N, N)
    volume, or a sequence of volumes (each reshaped to ``volume_shape``)."""
    name = "gt_volumes_real"
    if isinstance(gt_volumes_real, (list, tuple)):
        items = list(gt_volumes_real)
    else:
        arr = _v.as_array(gt_volumes_real, name)
        if arr.ndim in (2, 4):
            items = list(arr)
        elif arr.ndim == 3:
            items = [arr]
        else:
            raise ValueError(f"{name} must be 2-D (n_vols, n_voxels), 3-D (one volume) or 4-D, got shape {arr.shape}")
    volumes = []
    size = int(np.prod(volume_shape))
    for k, item in enumerate(items):
        vol = _v.as_real_array(item, f"{name}[{k}]")
        if vol.size != size:
            raise ValueError(f"{name}[{k}] has {vol.size} values, volume_shape {volume_shape} needs {size}")
        _v.check_finite(vol, f"{name}[{k}]")
        volumes.append(vol.reshape(volume_shape))
    if not volumes:
        raise ValueError(f"{name} must contain at least one volume")
    return volumes


def _check_gt_mask_args(volume_shape, iter, dilation_iters, kern_rad):
    volume_shape = _grid_shape(volume_shape, "volume_shape", 3)
    if len(set(volume_shape)) != 1:
        raise ValueError(f"volume_shape must be cubic, got {volume_shape}")
    iter = _v.integer(iter, "iter")
    dilation_iters = _v.integer(dilation_iters, "dilation_iters", allow_none=True)
    if dilation_iters is None:
        dilation_iters = _default_extension(volume_shape[0])
    kern_rad = _v.real_number(kern_rad, "kern_rad")
    return volume_shape, iter, dilation_iters, kern_rad


def make_union_gt_mask(gt_volumes_real, volume_shape, smax=3, iter=1, dilation_iters=None, kern_rad=3):
    """Union of the ground-truth masks of several volumes, dilated and softened.

    Each volume's ``make_mask_from_gt(…, iter=iter, from_ft=False) > 0.5``; their union is
    dilated ``dilation_iters`` times (default ``ceil(6N/128)``; 0 dilates until stable)
    and softened by ``kern_rad`` voxels.

    Parameters
    ----------
    gt_volumes_real : (n_vols, V) array, (n_vols, N, N, N) array, (N, N, N) array, or a
        list of volumes
    volume_shape : tuple of 3 ints
    smax : float
        Unused (recovar's signature).
    iter, dilation_iters : int
    kern_rad : float

    Returns
    -------
    soft_mask : ndarray, float32, ``volume_shape``
    binary_mask : ndarray, bool, ``volume_shape`` (before softening)
    """
    volume_shape, iter, dilation_iters, kern_rad = _check_gt_mask_args(volume_shape, iter, dilation_iters, kern_rad)
    volumes = _as_volume_list(gt_volumes_real, volume_shape)
    union = np.zeros(volume_shape, dtype=bool)
    for vol in volumes:
        union |= make_mask_from_gt(vol, smax=smax, iter=iter, from_ft=False) > 0.5
    binary = np.asarray(_dilate(union, dilation_iters), dtype=bool)
    return soften_volume_mask(binary, kern_rad=kern_rad), binary


def make_moving_gt_mask(gt_volumes_real, volume_shape, smax=3, iter=1, dilation_iters=None, kern_rad=3):
    """Mask of the region that moves across ground-truth volumes.

    The voxelwise standard deviation across the volumes (float32) goes through
    ``make_mask_from_gt(…, iter=iter, from_ft=False) > 0.5``; a non-empty result is
    dilated ``dilation_iters`` times (default ``ceil(6N/128)``; only if > 0) and softened
    by ``kern_rad`` voxels. An empty result gives zeros.

    Parameters and returns as `make_union_gt_mask`.
    """
    volume_shape, iter, dilation_iters, kern_rad = _check_gt_mask_args(volume_shape, iter, dilation_iters, kern_rad)
    volumes = np.asarray(_as_volume_list(gt_volumes_real, volume_shape), dtype=np.float32)
    mean_volume = np.mean(volumes, axis=0)
    moving = np.sqrt(np.mean((volumes - mean_volume[None]) ** 2, axis=0))
    binary = make_mask_from_gt(moving, smax=smax, iter=iter, from_ft=False) > 0.5
    if dilation_iters > 0 and binary.any():
        binary = _dilate(binary, dilation_iters)
    binary = np.asarray(binary, dtype=bool)
    if binary.any():
        soft = soften_volume_mask(binary, kern_rad=kern_rad)
    else:
        soft = np.zeros(volume_shape, dtype=np.float32)
    return soft, binary


# ---------------------------------------------------------------------------
# pipeline entry point
# ---------------------------------------------------------------------------


def _load_mask_file(path: str) -> np.ndarray:
    """Read an .mrc map as float32; cubic 3-D maps are axis-reversed on load
    (the cryoSPARC / cryoDRGN convention recovar follows)."""
    import mrcfile

    if not os.path.isfile(path):
        raise MaskFileNotFoundError(2, f"volume_mask_option: no such mask file: {path!r}", path)
    try:
        with mrcfile.open(path, permissive=False) as mrc:
            data = np.array(mrc.data)
    except ValueError as exc:
        raise ValueError(f"volume_mask_option: {path!r} is not a readable .mrc file: {exc}") from None
    if data.ndim != 3:
        raise ValueError(f"volume_mask_option: {path!r} must hold a 3-D map, got shape {data.shape}")
    if data.dtype.kind not in "biuf":
        raise ValueError(f"volume_mask_option: {path!r} must hold real values, got dtype {data.dtype}")
    if len(set(data.shape)) == 1:
        data = np.transpose(data, (2, 1, 0))
    data = np.ascontiguousarray(data, dtype=np.float32)
    if not np.isfinite(data).all():
        raise ValueError(f"volume_mask_option: {path!r} contains NaN or Inf")
    return data


def _get_field(means, name: str):
    if isinstance(means, Mapping) and name in means:
        return means[name]
    if hasattr(means, name):
        return getattr(means, name)
    raise TypeError(f"means must have the attribute {name!r} for the 'from_halfmaps' mask option")


def _half_maps_from_means(means):
    """Real-space half maps from the centered spectra ``means.corrected0reg`` and
    ``means.corrected1reg``; the cube side comes from ``means.corrected0.size``."""
    size = int(np.size(_get_field(means, "corrected0")))
    side = _cube_side(size, "means.corrected0")
    halves = []
    for field in ("corrected0reg", "corrected1reg"):
        spectrum = _v.numeric_array(_get_field(means, field), f"means.{field}")
        if spectrum.size != side ** 3:
            raise ValueError(f"means.{field} must hold {side}**3 values like means.corrected0, got {spectrum.size}")
        halves.append(_centered_idft3(spectrum.reshape((side,) * 3)).real)
    return halves


def masking_options(volume_mask_option, means, volume_shape, dtype_real=np.float32, mask_dilation_iter=0,
                    keep_input_mask=False, dilated_mask_dilations_iter=None):
    """The pipeline's volume mask and its dilated version.

    ``volume_mask_option``:

    * a path ending in ``.mrc``: the mask read from the file (float32; cubic maps are
      axis-reversed on load). ``keep_input_mask``: used unchanged, dilation base
      ``data > 0.5``. Otherwise: if ``mask_dilation_iter > 0`` it is thresholded at 0.99
      and dilated that many times; resampled with ``skimage.transform.rescale`` if its side
      differs from ``volume_shape[0]``; thresholded at 0.5 (the dilation base) and softened
      by 3 voxels.
    * ``"from_halfmaps"``: ``make_mask_from_half_maps`` of the real parts of the centered
      inverse DFTs of ``means.corrected0reg`` / ``means.corrected1reg`` (cube side from
      ``means.corrected0``); the dilation base is that soft mask (any nonzero voxel) and the
      volume mask is it softened again by 3 voxels (re-thresholded at 0.9).
    * ``"sphere"``: ``get_radial_mask(volume_shape)`` for both; ``"none"``: ones for both.

    The dilated mask (mrc and from_halfmaps) is the base dilated
    ``dilated_mask_dilations_iter`` times (default ``ceil(6N/128)``; 0 dilates until
    stable) and softened by 3 voxels.

    Parameters
    ----------
    volume_mask_option : str
    means : object
        With ``corrected0``, ``corrected0reg``, ``corrected1reg`` (flat or (N, N, N)
        centered spectra); only read for ``"from_halfmaps"``.
    volume_shape : tuple of 3 ints
    dtype_real : real floating dtype of both outputs
    mask_dilation_iter : int
    keep_input_mask : bool
    dilated_mask_dilations_iter : int, optional

    Returns
    -------
    volume_mask, dilated_volume_mask : ndarray, ``dtype_real``
        ``volume_shape`` for "sphere" and "none"; the mask's own grid otherwise.
    """
    if not isinstance(volume_mask_option, str):
        raise ValueError(f"volume_mask_option must be a string (a .mrc path, 'from_halfmaps', 'sphere' or 'none'), "
                         f"got {type(volume_mask_option).__name__}")
    volume_shape = _grid_shape(volume_shape, "volume_shape", 3)
    dtype_real = _v.float_dtype(dtype_real, "dtype_real", kinds="f")
    mask_dilation_iter = _v.integer(mask_dilation_iter, "mask_dilation_iter")
    keep_input_mask = _v.flag(keep_input_mask, "keep_input_mask")
    dilated_iter = _v.integer(dilated_mask_dilations_iter, "dilated_mask_dilations_iter", allow_none=True)
    if dilated_iter is None:
        dilated_iter = _default_extension(volume_shape[0])

    soften_radius = _PIPELINE_SOFTEN_RADIUS
    if volume_mask_option.endswith(".mrc"):
        data = _load_mask_file(volume_mask_option)
        if keep_input_mask:
            volume_mask = data
            # The file's (soft) values are kept; dilating them directly would make any
            # round-off nonzero voxel foreground.
            dilation_base = data > 0.5
        else:
            resampled = data
            if mask_dilation_iter > 0:
                resampled = _dilate(resampled > 0.99, mask_dilation_iter)
            if resampled.shape[0] != volume_shape[0]:
                from skimage.transform import rescale

                resampled = rescale(resampled, volume_shape[0] / resampled.shape[0])
            dilation_base = resampled > 0.5
            volume_mask = soften_volume_mask(dilation_base, soften_radius)
        dilated = soften_volume_mask(_dilate(dilation_base, dilated_iter), soften_radius)
    elif volume_mask_option == "from_halfmaps":
        halfmap1, halfmap2 = _half_maps_from_means(means)
        base = make_mask_from_half_maps(halfmap1, halfmap2, smax=3)
        dilated = soften_volume_mask(_dilate(base, dilated_iter), soften_radius)
        volume_mask = soften_volume_mask(base, soften_radius)
    elif volume_mask_option == "sphere":
        volume_mask = get_radial_mask(volume_shape)
        dilated = volume_mask
    elif volume_mask_option == "none":
        volume_mask = np.ones(volume_shape)
        dilated = volume_mask
    else:
        raise ValueError(f"volume_mask_option not recognized: {volume_mask_option!r}; options are a path ending in "
                         f"'.mrc', 'from_halfmaps', 'sphere' and 'none'")
    return np.array(volume_mask, dtype=dtype_real), np.array(dilated, dtype=dtype_real)
