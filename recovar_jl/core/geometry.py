"""recovar_jl.core.geometry (mirrors recovar.core.geometry): slice geometry and translations.

Pixel (r, c) of an N×N image has plane frequency ``(kx, ky, 0) = (c − N//2, r − N//2, 0)``;
a rotation R maps it by the row-vector product ``(kx, ky, 0) @ R`` and the volume center
``volume_shape[0]//2`` is added (docs/conventions.md §5). Translations are phase ramps
``exp(−2πi (kx·t0 + ky·t1)/N)`` that move real-space content by +t (docs/conventions.md §7).
Coordinates, nearest indices and translations are Julia kernels; the rest is NumPy.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _julia
from .. import _validate as v
from . import fourier_transform_utils as ftu
from .ctf import _npix

__all__ = [
    "round_to_int",
    "find_frequencies_within_grid_dist",
    "batch_find_frequencies_within_grid_dist",
    "batch_batch_find_frequencies_within_grid_dist",
    "get_unrotated_plane_grid_points",
    "get_unrotated_plane_coords",
    "get_nearest_gridpoint_indices",
    "get_gridpoint_coords",
    "batch_get_nearest_gridpoint_indices",
    "batch_get_gridpoint_coords",
    "rotations_to_grid_point_coords",
    "get_stencil",
    "translate_single_image",
    "batch_translate",
    "translate_images",
    "batch_trans_translate_images",
]

_INT32_LIMIT = 2.0**31


# ---------------------------------------------------------------------------------------
# Rounding and neighbourhoods
# ---------------------------------------------------------------------------------------

def round_to_int(array):
    """Round half away from zero to int32: ``[.5, 1.5, 2.5, −.5] → [1, 2, 3, −1]``.

    Integer input is returned as int32 (recovar accepts floats only). Values must be finite
    and within the int32 range.
    """
    arr = v.as_real_array(array, "array")
    if arr.dtype.kind in "biu":
        if arr.size and (arr.max() >= _INT32_LIMIT or arr.min() < -_INT32_LIMIT):
            raise ValueError("array has values outside the int32 range")
        return arr.astype(np.int32)
    v.check_finite(arr, "array")
    whole = np.trunc(arr)
    rounded = whole + np.where(np.abs(arr - whole) >= 0.5, np.sign(arr), 0)
    if rounded.size and (rounded.max() >= _INT32_LIMIT or rounded.min() < -_INT32_LIMIT):
        raise ValueError("array has values outside the int32 range")
    return rounded.astype(np.int32)


def _neighbours(coords, max_grid_dist, min_ndim: int):
    coords = v.as_real_array(coords, "coords")
    if coords.ndim < min_ndim:
        raise ValueError(f"coords must have at least {min_ndim} dimensions, got shape {coords.shape}")
    dim = coords.shape[-1]
    if dim not in (2, 3):
        raise ValueError(f"coords must have 2 or 3 coordinates on the last axis, got shape {coords.shape}")
    m = v.integer(max_grid_dist, "max_grid_dist", minimum=0)
    points = coords.size // dim if coords.ndim else 1
    v.check_memory(points * (2 * m + 1) ** dim * dim * 4, "the neighbouring frequencies")
    axis = np.arange(-m, m + 1, dtype=np.int32)
    offsets = np.stack(np.meshgrid(*([axis] * dim), indexing="ij"), axis=-1).reshape(-1, dim)
    if coords.dtype.kind == "f":
        v.check_finite(coords, "coords")
        return round_to_int(offsets + coords[..., None, :])
    return offsets + coords[..., None, :]


def find_frequencies_within_grid_dist(coords, max_grid_dist: int):
    """All grid points within ``max_grid_dist`` (per axis) of each coordinate.

    Parameters
    ----------
    coords : array_like, shape (..., d), d ∈ {2, 3}
    max_grid_dist : int
        m: offsets ``arange(−m, m+1)`` on each axis, ij order (last axis fastest).

    Returns
    -------
    ndarray, shape (..., (2m+1)^d, d)
        Float coordinates are offset then rounded half away from zero (int32); integer
        coordinates stay integer.
    """
    return _neighbours(coords, max_grid_dist, 1)


def batch_find_frequencies_within_grid_dist(coords, max_grid_dist):
    """:func:`find_frequencies_within_grid_dist` mapped over one leading axis (coords ndim ≥ 2)."""
    return _neighbours(coords, max_grid_dist, 2)


def batch_batch_find_frequencies_within_grid_dist(coords, max_grid_dist):
    """:func:`find_frequencies_within_grid_dist` mapped over two leading axes (coords ndim ≥ 3)."""
    return _neighbours(coords, max_grid_dist, 3)


_STENCILS = {
    2: np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.int32),
    3: np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=np.int32),
}


def get_stencil(dim):
    """The 2^dim corners of the unit cell, int32, lexicographic (last axis fastest); dim ∈ {2, 3}."""
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, numbers.Integral) or dim not in _STENCILS:
        raise ValueError(f"dim must be 2 or 3, got {dim!r}")
    return _STENCILS[int(dim)].copy()


# ---------------------------------------------------------------------------------------
# Unrotated planes (NumPy)
# ---------------------------------------------------------------------------------------

def _k_coordinates(image_shape, voxel_size, scaled):
    """recovar's `get_k_coordinate_of_each_pixel` for (N, N) images: (N², 2), float32 grid."""
    return ftu.get_k_coordinate_of_each_pixel(v.shape_tuple(image_shape, "image_shape", length=2), voxel_size,
                                              scaled)


def _with_zero_z(coords):
    return np.concatenate([coords, np.zeros((coords.shape[0], 1), coords.dtype)], axis=1)


def _factor(three_d_upsampling_factor):
    factor = v.real_number(three_d_upsampling_factor, "three_d_upsampling_factor")
    if abs(factor) > 2**53:  # beyond exact float64 integers the grid points lose meaning
        raise ValueError(f"three_d_upsampling_factor must be at most 2**53 in size, got {factor!r}")
    return factor


def get_unrotated_plane_grid_points(image_shape, three_d_upsampling_factor=1):
    """Unscaled plane frequencies ``(kx, ky, 0)·factor`` of every pixel, shape (H·W, 3), float32."""
    factor = _factor(three_d_upsampling_factor)
    return _with_zero_z(_k_coordinates(image_shape, 1, False)) * factor


def get_unrotated_plane_coords(image_shape, voxel_size, scaled=True):
    """Plane frequencies ``(kx, ky, 0)`` (1/Å when `scaled`: divided by N·voxel_size), shape (H·W, 3)."""
    voxel_size = v.voxel_size(voxel_size)
    return _with_zero_z(_k_coordinates(image_shape, voxel_size, v.flag(scaled, "scaled")))


def get_unrotated_half_plane_grid_points(image_shape, three_d_upsampling_factor=1):
    """:func:`get_unrotated_plane_grid_points` at the rfft-packed pixels only, shape (H·(W//2+1), 3)."""
    full = get_unrotated_plane_grid_points(image_shape, three_d_upsampling_factor)
    return full[ftu._half_image_pixel_indices(v.shape_tuple(image_shape, "image_shape", length=2))]


# ---------------------------------------------------------------------------------------
# Rotated slices (Julia)
# ---------------------------------------------------------------------------------------

def _coords(rotations, image_shape, volume_shape, half: bool) -> np.ndarray:
    side = v.square_image_shape(image_shape)[0]
    vol = v.shape_tuple(volume_shape, "volume_shape", length=3)
    dtype = np.result_type(np.float32, rotations.dtype)
    shape = (rotations.shape[0], _npix(side, half), 3)
    v.check_memory(int(np.prod(shape)) * dtype.itemsize, "the grid coordinates")
    out = np.empty(shape, dtype=dtype)
    _julia.call("gridpoint_coords", out, np.ascontiguousarray(rotations, dtype=dtype), int(side), int(vol[0]),
                int(half))
    return out


def get_gridpoint_coords(rotation_matrix, image_shape, volume_shape):
    """Fractional volume indices of a rotated central slice.

    ``(kx, ky, 0)·u @ R + volume_shape[0]//2`` for every pixel, u = volume_shape[0] // N.

    Parameters
    ----------
    rotation_matrix : array_like, shape (3, 3)
    image_shape : (N, N)
    volume_shape : (N0, N1, N2)

    Returns
    -------
    ndarray, shape (N², 3); float32 (float64 for float64 rotations).
    """
    return _coords(v.rotations(rotation_matrix, "rotation_matrix", False), image_shape, volume_shape, False)[0]


def batch_get_gridpoint_coords(rotation_matrix, image_shape, volume_shape):
    """:func:`get_gridpoint_coords` for rotations (n, 3, 3) → (n, N², 3)."""
    return _coords(v.rotations(rotation_matrix, "rotation_matrix", True), image_shape, volume_shape, False)


def _nearest(rotations, image_shape, volume_shape) -> np.ndarray:
    side = v.square_image_shape(image_shape)[0]
    vol = v.shape_tuple(volume_shape, "volume_shape", length=3)
    if np.prod(vol, dtype=np.float64) >= _INT32_LIMIT:
        raise ValueError(f"volume_shape {vol} has too many voxels for int32 indices")
    shape = (rotations.shape[0], side * side)
    v.check_memory(int(np.prod(shape)) * 4, "the indices")
    out = np.empty(shape, dtype=np.int32)
    dtype = np.result_type(np.float32, rotations.dtype)
    _julia.call("nearest_gridpoint_indices", out, np.ascontiguousarray(rotations, dtype=dtype), int(side),
                int(vol[0]), int(vol[1]), int(vol[2]), 0)
    return out


def get_nearest_gridpoint_indices(rotation_matrix, image_shape, volume_shape):
    """Flat (C-order) index of the volume grid point nearest to each pixel's rotated coordinate.

    The coordinate (:func:`get_gridpoint_coords`) is rounded half away from zero and each
    component clipped into range. Returns int32, shape (N²,).
    """
    return _nearest(v.rotations(rotation_matrix, "rotation_matrix", False), image_shape, volume_shape)[0]


def batch_get_nearest_gridpoint_indices(rotation_matrix, image_shape, volume_shape):
    """:func:`get_nearest_gridpoint_indices` for rotations (n, 3, 3) → (n, N²) int32."""
    return _nearest(v.rotations(rotation_matrix, "rotation_matrix", True), image_shape, volume_shape)


def rotations_to_grid_point_coords(rotation_matrices, image_shape, volume_shape):
    """Grid coordinates of many slices, transposed: ``(coords (3, n·N²), (n, N², 3))``."""
    coords = _coords(v.rotations(rotation_matrices, "rotation_matrices", True), image_shape, volume_shape, False)
    return np.ascontiguousarray(coords.reshape(-1, 3).T), coords.shape


def _half_image_rotations_to_coords(rotation_matrices, image_shape, volume_shape):
    """As :func:`rotations_to_grid_point_coords` on the rfft-packed pixels: ``((3, n·nhalf), (n, nhalf, 3))``."""
    coords = _coords(v.rotations(rotation_matrices, "rotation_matrices", True), image_shape, volume_shape, True)
    return np.ascontiguousarray(coords.reshape(-1, 3).T), coords.shape


# ---------------------------------------------------------------------------------------
# Translations (Julia)
# ---------------------------------------------------------------------------------------

def _precision(dtype) -> tuple[np.dtype, np.dtype]:
    out = v.complex_dtype(dtype)
    return out, np.dtype(np.float64 if out == np.complex128 else np.float32)


def _image_as(image: np.ndarray, out_dtype: np.dtype, real_dtype: np.dtype) -> np.ndarray:
    return np.ascontiguousarray(image, dtype=out_dtype if image.dtype.kind == "c" else real_dtype)


def _translate(image: np.ndarray, translations: np.ndarray, side: int, half: bool) -> np.ndarray:
    """image (n, p), translations (n, T, 2) → (n, T, p)."""
    out_dtype, real_dtype = _precision(np.result_type(image.dtype, translations.dtype))
    shape = (image.shape[0], translations.shape[1], image.shape[1])
    v.check_memory(int(np.prod(shape)) * out_dtype.itemsize, "the translated images")
    out = np.empty(shape, dtype=out_dtype)
    _julia.call("translate_images", out, _image_as(image, out_dtype, real_dtype),
                np.ascontiguousarray(translations, dtype=real_dtype), int(side), int(half))
    return out


def _images_and_side(image, image_shape, half: bool, allow_1d: bool):
    side = v.square_image_shape(image_shape)[0]
    image = v.numeric_array(image, "image", ndim=(1, 2) if allow_1d else 2)
    npix = _npix(side, half)
    if image.shape[-1] != npix:
        layout = f"N·(N//2+1) = {npix} (half_image)" if half else f"N² = {npix}"
        raise ValueError(f"image must have {layout} pixels on its last axis for image_shape "
                         f"{(side, side)}, got shape {image.shape}")
    return image, side


def translate_images(image, translation, image_shape, *, half_image=False):
    """Translate Fourier-space images by phase ramps.

    ``out = image · exp(−2πi (kx·t0 + ky·t1)/N)``: real-space content moves t0 pixels along
    columns and t1 along rows. With `half_image` the rfft-packed grid is used (its Nyquist
    column has kx = −N/2).

    Parameters
    ----------
    image : array_like, shape (n, N²) or (n, N·(N//2+1)); also (p,) with translation (2,)
    translation : array_like, shape (n, 2), pixels
    image_shape : (N, N)
    half_image : bool

    Returns
    -------
    ndarray, complex, shape of `image`: complex64, or complex128 when image or translation
    is 64-bit.
    """
    half = v.flag(half_image, "half_image")
    image, side = _images_and_side(image, image_shape, half, allow_1d=True)
    trans = v.real_array(translation, "translation")
    if image.ndim == 1:
        v.check_shape(trans, "translation", (2,), " for a single image")
        return _translate(image[None], trans.reshape(1, 1, 2), side, half)[0, 0]
    v.check_shape(trans, "translation", (image.shape[0], 2))
    return _translate(image, trans.reshape(-1, 1, 2), side, half)[:, 0]


def batch_trans_translate_images(image, translation, image_shape, *, half_image=False):
    """Each image under each of its T translations: image (n, p), translation (n, T, 2) → (n, T, p).

    p = N² (full) or N·(N//2+1) (`half_image`).
    """
    half = v.flag(half_image, "half_image")
    image, side = _images_and_side(image, image_shape, half, allow_1d=False)
    trans = v.real_array(translation, "translation")
    v.check_shape(trans, "translation", (image.shape[0], None, 2))
    return _translate(image, trans, side, half)


def _lattice_translate(image: np.ndarray, trans: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    out_dtype, real_dtype = _precision(np.result_type(image.dtype, trans.dtype, lattice.dtype))
    out = np.empty(image.shape, dtype=out_dtype)
    _julia.call("translate_lattice", out, _image_as(image, out_dtype, real_dtype),
                np.ascontiguousarray(trans, dtype=real_dtype), np.ascontiguousarray(lattice, dtype=real_dtype))
    return out


def translate_single_image(image, translation, lattice):
    """``image · exp(−2πi · lattice @ translation)``: image (p,), translation (d,), lattice (p, d) in cycles/pixel."""
    image = v.numeric_array(image, "image", ndim=1)
    trans = v.real_array(translation, "translation", ndim=1)
    lattice = v.real_array(lattice, "lattice")
    v.check_shape(lattice, "lattice", (image.shape[0], trans.shape[0]))
    return _lattice_translate(image[None], trans[None], lattice)[0]


def batch_translate(image, translation, lattice):
    """:func:`translate_single_image` over a batch: image (n, p), translation (n, d), shared lattice (p, d)."""
    image = v.numeric_array(image, "image", ndim=2)
    trans = v.real_array(translation, "translation", ndim=2)
    v.check_shape(trans, "translation", (image.shape[0], None))
    lattice = v.real_array(lattice, "lattice")
    v.check_shape(lattice, "lattice", (image.shape[1], trans.shape[1]))
    return _lattice_translate(image, trans, lattice)
