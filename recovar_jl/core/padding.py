"""Real-space zero padding and unpadding for Fourier oversampling.

Mirrors ``recovar.core.padding`` (recovar 1.0.5; docs/conventions.md §12). Padding by ``p`` puts
the data at ``[p//2, p//2 + L)`` on every spatial axis of a zero array of size ``L + p``;
unpadding takes ``[p//2, L' − p//2)``, which for **odd p** keeps one sample more than the
original size (recovar's asymmetry, reproduced). The Fourier-domain variants go through the
centered transforms of :mod:`recovar_jl.core.fourier_transform_utils` (Julia/FFTW).
"""
from __future__ import annotations

import numpy as np

from .. import _validate as V
from . import fourier_transform_utils as ftu

__all__ = [
    "padded_dft", "padded_rfft", "pad_images_spatial_domain", "pad_volume_spatial_domain",
    "unpad_volume_spatial_domain", "unpad_volume_fourier_domain", "pad_images_fourier_domain",
    "unpad_images_spatial_domain", "unpad_images_fourier_domain",
]


def _padding(padding) -> int:
    return V.integer(padding, "padding", minimum=0)


def _numeric(x, name: str, ndim=None, min_ndim=None) -> np.ndarray:
    arr = V.as_array(x, name)
    if ndim is not None:
        V.check_ndim(arr, name, ndim)
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {arr.shape}")
    V.check_finite(arr, name)
    return arr


def _pad_trailing(arr: np.ndarray, padding: int, n_axes: int) -> np.ndarray:
    """Zero array with the last `n_axes` axes grown by `padding`, data at offset padding//2."""
    if padding == 0:
        return np.array(arr, copy=True)
    lead = arr.shape[:arr.ndim - n_axes]
    spatial = arr.shape[arr.ndim - n_axes:]
    V.check_memory(int(np.prod(lead + tuple(s + padding for s in spatial), dtype=object)) * arr.dtype.itemsize,
                   f"the images padded by padding={padding}")
    out = np.zeros(lead + tuple(s + padding for s in spatial), dtype=arr.dtype)
    start = padding // 2
    out[(Ellipsis,) + tuple(slice(start, start + s) for s in spatial)] = arr
    return out


def _unpad_trailing(arr: np.ndarray, padding: int, n_axes: int, name: str) -> np.ndarray:
    start = padding // 2
    spatial = arr.shape[arr.ndim - n_axes:]
    if any(s - 2 * start <= 0 for s in spatial):
        raise ValueError(f"padding={padding} removes everything from {name} of shape {arr.shape}")
    return np.array(arr[(Ellipsis,) + tuple(slice(start, s - start) for s in spatial)], copy=True)


def _flatten_images(images: np.ndarray) -> np.ndarray:
    """(n, H, W) → (n, H·W), also for n = 0."""
    return images.reshape(images.shape[0], images.shape[1] * images.shape[2])


def pad_images_spatial_domain(images, padding):
    """Zero-pad images (n, H, W) → (n, H+p, W+p), same dtype, data at ``[p//2, p//2 + H)``."""
    arr = _numeric(images, "images", ndim=3)
    return _pad_trailing(arr, _padding(padding), 2)


def pad_volume_spatial_domain(images, padding):
    """Zero-pad one volume (N0, N1, N2) → (N0+p, N1+p, N2+p), same dtype."""
    arr = _numeric(images, "images", ndim=3)
    return _pad_trailing(arr, _padding(padding), 3)


def unpad_images_spatial_domain(images, padding):
    """``images[..., p//2 : H − p//2, p//2 : W − p//2]`` (a copy); odd p keeps one extra row/column."""
    arr = _numeric(images, "images", min_ndim=2)
    return _unpad_trailing(arr, _padding(padding), 2, "images")


def unpad_volume_spatial_domain(volume, padding):
    """``volume[p//2 : N − p//2]`` on each of the three axes (a copy); odd p keeps one extra sample."""
    arr = _numeric(volume, "volume", ndim=3)
    return _unpad_trailing(arr, _padding(padding), 3, "volume")


def padded_dft(images, image_size, padding: int):
    """Centered 2-D DFT of zero-padded images.

    Parameters
    ----------
    images : array (n, H, W), real or complex
    image_size : unused (kept for recovar's signature)
    padding : int ≥ 0

    Returns
    -------
    ndarray (n, (H+p)·(W+p)), complex64 (complex128 for 64-bit input)
    """
    arr = _numeric(images, "images", ndim=3)
    p = _padding(padding)
    padded = _pad_trailing(arr, p, 2) if p else arr
    return _flatten_images(ftu.get_dft2(padded))


def padded_rfft(images, image_size, padding: int):
    """Half-spectrum centered DFT of zero-padded real images.

    Returns (n, (H+p)·((W+p)//2 + 1)), complex64 (complex128 for float64); float16 images
    are computed in float32.
    """
    arr = _numeric(images, "images", ndim=3)
    if arr.dtype.kind == "c":
        raise TypeError(f"images must be real for padded_rfft, got dtype {arr.dtype}")
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    p = _padding(padding)
    padded = _pad_trailing(arr, p, 2) if p else arr
    return _flatten_images(ftu.get_dft2_real(padded))


def pad_images_fourier_domain(images, image_shape, padding):
    """Pad centered spectra: inverse DFT, zero-pad in real space, forward DFT.

    `images`: any array of n·H·W values (e.g. (n, H·W)); returns (n, (H+p)·(W+p)) complex.
    """
    shape = V.shape_tuple(image_shape, "image_shape", length=2)
    arr = _numeric(images, "images")
    if arr.size % (shape[0] * shape[1]):
        raise ValueError(f"images of shape {arr.shape} cannot be reshaped to (-1, {shape[0]}, {shape[1]})")
    grid = arr.reshape((-1,) + shape)
    padded = _pad_trailing(ftu.get_idft2(grid), _padding(padding), 2)
    return _flatten_images(ftu.get_dft2(padded))


def unpad_images_fourier_domain(images, padded_image_shape, padding):
    """Unpad centered spectra: inverse DFT, crop in real space, forward DFT.

    `images`: (n, ...) with n·H'·W' values, (H', W') = `padded_image_shape`; returns
    (n, h·w) complex with h = H' − 2·(p//2).
    """
    shape = V.shape_tuple(padded_image_shape, "padded_image_shape", length=2)
    arr = _numeric(images, "images", min_ndim=1)
    if arr.size != arr.shape[0] * shape[0] * shape[1]:
        raise ValueError(f"images of shape {arr.shape} cannot be reshaped to ({arr.shape[0]}, {shape[0]}, {shape[1]})")
    grid = arr.reshape((arr.shape[0],) + shape)
    cropped = _unpad_trailing(ftu.get_idft2(grid), _padding(padding), 2, "images")
    return _flatten_images(ftu.get_dft2(cropped))


def unpad_volume_fourier_domain(volume, padded_image_shape, padding):
    """Unpad a centered volume spectrum: inverse 3-D DFT, crop, forward DFT → flat (complex)."""
    shape = V.shape_tuple(padded_image_shape, "padded_image_shape", length=3)
    arr = _numeric(volume, "volume")
    if arr.size != shape[0] * shape[1] * shape[2]:
        raise ValueError(f"volume of shape {arr.shape} cannot be reshaped to {shape}")
    cropped = _unpad_trailing(ftu.get_idft3(arr.reshape(shape)), _padding(padding), 3, "volume")
    return ftu.get_dft3(cropped).reshape(-1)
