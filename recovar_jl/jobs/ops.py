"""The few recovar_jl.core operations the jobs use, named for what the jobs do with them.

Every numerical step of simulation and reconstruction goes through here, i.e. through the
public API of ``recovar_jl.core`` (Julia kernels). Shapes: n images of P×P pixels, half
spectra ``(n, P·(P//2+1))`` (rfft-packed, docs/conventions.md §2), volumes ``(P, P, P)``.
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def rfft_images(images: np.ndarray) -> np.ndarray:
    """Real images (n, P, P) → centred half spectra (n, P·(P//2+1)) complex64."""
    from ..core import fourier_transform_utils as ftu

    n, p = images.shape[0], images.shape[1]
    return np.asarray(ftu.get_dft2_real(images)).reshape(n, p * (p // 2 + 1))


def irfft_images(half_spectra: np.ndarray, box: int) -> np.ndarray:
    """Centred half spectra (n, P·(P//2+1)) → real images (n, P, P)."""
    from ..core import fourier_transform_utils as ftu

    n = half_spectra.shape[0]
    grid = half_spectra.reshape(n, box, box // 2 + 1)
    return np.asarray(ftu.get_idft2_real(grid, image_shape=(box, box)))


def fft_volume(volume: np.ndarray) -> np.ndarray:
    """Real volume (P, P, P) → centred spectrum (P, P, P) complex."""
    from ..core import fourier_transform_utils as ftu

    return np.asarray(ftu.get_dft3(volume))


def ifft_volume_real(spectrum: np.ndarray) -> np.ndarray:
    """Centred spectrum (P, P, P) → real part of its inverse, (P, P, P)."""
    from ..core import fourier_transform_utils as ftu

    return np.real(np.asarray(ftu.get_idft3(spectrum)))


def ctf_half(ctf_params: np.ndarray, box: int, voxel_size: float) -> np.ndarray:
    """RELION-sign CTF on the half grid of a P×P image: (n, P·(P//2+1)).

    ``recovar_jl.core.ctf`` is negative at zero frequency (``−W``); RELION's CTF, with which
    particles are white on black, is its negative (same formula, opposite overall sign).
    """
    from ..core.ctf import CTFEvaluator

    ctf = CTFEvaluator()(ctf_params, (box, box), voxel_size, half_image=True)
    return -np.asarray(ctf)


def translate_half(half_spectra: np.ndarray, translations: np.ndarray, box: int) -> np.ndarray:
    """Move image content by +t pixels (t (n, 2): x = columns, y = rows), half spectra."""
    from ..core.geometry import translate_images

    return np.asarray(translate_images(half_spectra, translations, (box, box), half_image=True))


def padded_spectra(images: np.ndarray, translations: np.ndarray, p: int,
                   mask: Optional[np.ndarray] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Real images (n, D, D) → centred, translated half spectra (n, P·(P//2+1)) complex64 of
    the images (times ``mask`` (D, D), if given) zero-padded to P×P, in one Julia pass.

    The image sits at offset P//2 − D//2 on both axes (``gridding.crop_slices``);
    ``translations`` (n, 2) pixels as :func:`translate_half`. Equals
    ``translate_half(rfft_images(padded), translations, p)`` up to float32 rounding.
    ``out``: a C-contiguous complex64 (n, P·(P//2+1)) array to write into and return (a
    buffer reused across chunks is not faulted in again; a new one is).
    """
    from .. import _julia

    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1] != images.shape[2] or images.shape[1] < 1:
        raise ValueError(f"images must have shape (n, D, D), got {images.shape}")
    if not np.issubdtype(images.dtype, np.floating) and not np.issubdtype(images.dtype, np.integer):
        raise ValueError(f"images must be real, got dtype {images.dtype}")
    n, d = images.shape[0], images.shape[1]
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < d:
        raise ValueError(f"p must be an integer ≥ the image side {d}, got {p!r}")
    translations = np.asarray(translations)
    if translations.shape != (n, 2) or not np.issubdtype(translations.dtype, np.number) \
            or np.iscomplexobj(translations):
        raise ValueError(f"translations must be a real array of shape ({n}, 2), got "
                         f"{translations.dtype} {translations.shape}")
    if mask is None:
        mask = np.zeros((0, 0), np.float32)
    else:
        mask = np.asarray(mask)
        if mask.shape != (d, d) or np.iscomplexobj(mask):
            raise ValueError(f"mask must be a real array of shape ({d}, {d}), got {mask.dtype} {mask.shape}")
        mask = np.ascontiguousarray(mask, dtype=np.float32)
    shape = (n, int(p) * (int(p) // 2 + 1))
    if out is None:
        out = np.empty(shape, np.complex64)
    elif not isinstance(out, np.ndarray) or out.dtype != np.complex64 or out.shape != shape \
            or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out must be a writeable C-contiguous complex64 array of shape {shape}, got "
                         f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}")
    if n:
        _julia.call("padded_spectra", out, np.ascontiguousarray(images, dtype=np.float32), mask,
                    np.ascontiguousarray(translations, dtype=np.float32), int(p))
    return out


def cubic_coefficients(spectrum: np.ndarray) -> np.ndarray:
    """B-spline coefficients of a centred spectrum (P, P, P), for cubic slicing."""
    from ..core.slicing import precompute_cubic_coefficients

    return np.asarray(precompute_cubic_coefficients(spectrum, spectrum.shape))


def slice_half(volume: np.ndarray, rotations: np.ndarray, box: int, disc: str, half_volume: bool = False) -> np.ndarray:
    """Central slices of a centred spectrum (P, P, P) → half spectra (n, P·(P//2+1)).

    ``disc`` is a recovar disc_type; for "cubic" ``volume`` holds spline coefficients.
    ``half_volume``: ``volume`` is the rfft-packed (P, P, P//2+1) spectrum of a real map.
    """
    from ..core.slicing import slice_volume

    return np.asarray(slice_volume(volume, rotations, (box, box), (box, box, box), disc, half_image=True,
                                   half_volume=half_volume))


def backproject_half(half_spectra: np.ndarray, rotations: np.ndarray, box: int, disc: str,
                     volume: np.ndarray) -> np.ndarray:
    """``volume`` + adjoint of :func:`slice_half` applied to half spectra → (P, P, P).

    Real inputs (CTF² weights) give a real volume, complex inputs a complex one.
    """
    from ..core.slicing import adjoint_slice_volume

    out = adjoint_slice_volume(half_spectra, rotations, (box, box), (box, box, box), disc,
                               volume=volume.reshape(-1), half_image=True)
    return np.asarray(out).reshape(volume.shape)


def fft_lines(x: np.ndarray) -> np.ndarray:
    """Centred 1-D DFT along the last axis (complex), e.g. one axis of a volume in blocks."""
    from ..core import fourier_transform_utils as ftu

    return np.asarray(ftu.get_dft(x))


def _half_grid_arguments(half_spectra: np.ndarray, rotations: np.ndarray, box: int, disc: str) -> tuple:
    """Validated (order, slices (1, n, npix), rotations, kernel tail arguments) of a half-grid backprojection."""
    from ..core import slicing

    shape = (box, box, box)
    order, image_shape, volume_shape, _, _, rot = slicing._common_arguments(
        disc, (box, box), shape, True, True, rotations, slicing._AUTO)
    slices = slicing._slices(half_spectra, "slices", image_shape, True, batched=False)
    if slices.shape[1] != rot.shape[0]:
        raise ValueError(f"half_spectra hold {slices.shape[1]} images but rotations has {rot.shape[0]}")
    tail = (*volume_shape, *image_shape, slicing._max_r2(slicing._AUTO, image_shape, order),
            slicing._upsampling(image_shape, volume_shape))
    return order, slices, rot, tail


def _check_accumulator(volume: np.ndarray, name: str, dtype) -> None:
    if not isinstance(volume, np.ndarray) or volume.dtype != dtype or not volume.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous {np.dtype(dtype)} array, got "
                         f"{getattr(volume, 'dtype', type(volume).__name__)}")


def backproject_half_into(volume: np.ndarray, half_spectra: np.ndarray, rotations: np.ndarray, box: int,
                          disc: str) -> None:
    """``volume += Pᵀ half_spectra`` in place, on the half grid (P, P, P//2+1) of a P³ volume.

    ``adjoint_slice_volume(…, half_image=True, half_volume=True)`` without its copy of the
    accumulator: ``volume`` (C-contiguous, complex64 for complex spectra, float32 for real
    ones) is the kernel's output. Same validation as the public function.
    """
    from .. import _julia

    order, slices, rot, tail = _half_grid_arguments(half_spectra, rotations, box, disc)
    _check_accumulator(volume, "volume", slices.dtype)
    if slices.shape[1]:
        _julia.call("adjoint_slice_volume", volume.reshape(1, -1), slices, rot, order, 1, 1, *tail)


def backproject_pair_into(data: np.ndarray, weights: np.ndarray, half_spectra: np.ndarray,
                          multipliers: np.ndarray, weight_values: np.ndarray, rotations: np.ndarray, box: int,
                          disc: str) -> None:
    """``data += Pᵀ(multipliers · half_spectra)`` and ``weights += Pᵀ weight_values`` in one pass.

    The reconstruction's two :func:`backproject_half_into` calls fused (every pixel located
    once, same sums bit for bit): ``data`` (P, P, P//2+1) complex64 and ``weights`` float32,
    C-contiguous; ``half_spectra`` (n, P·(P//2+1)) complex64, ``multipliers`` and
    ``weight_values`` float32 of the same shape (the CTF data multiplier and weight).
    Nearest and linear only.
    """
    from .. import _julia

    slices, rot, tail = _pair_arguments(data, weights, half_spectra, rotations, box, disc, "backproject_pair_into")
    values = []
    for name, arr in (("multipliers", multipliers), ("weight_values", weight_values)):
        if not isinstance(arr, np.ndarray) or arr.dtype != np.float32 or arr.shape != slices.shape[1:]:
            raise ValueError(f"{name} must be a float32 array of shape {slices.shape[1:]}, got "
                             f"{getattr(arr, 'dtype', type(arr).__name__)} {getattr(arr, 'shape', '')}")
        values.append(np.ascontiguousarray(arr))
    if slices.shape[1]:
        _julia.call("backproject_pair", data.reshape(-1), weights.reshape(-1), slices[0], *values, rot, *tail)


def backproject_pair_ctf_into(data: np.ndarray, weights: np.ndarray, half_spectra: np.ndarray, ctf,
                              rotations: np.ndarray, box: int, disc: str) -> None:
    """:func:`backproject_pair_into` with the multipliers computed in the kernel from ``ctf``
    (a :class:`.ctf_modes.KernelCTF` of the n images): per kept row the CTF evaluator, then
    the correction mode, signs and frequency limit. Same sums as :func:`backproject_pair_into`
    on the arrays :meth:`.ctf_modes.CtfModes.multipliers` gives (float32 rounding)."""
    from .. import _julia
    from .ctf_modes import KERNEL_TABULATED, KernelCTF

    slices, rot, tail = _pair_arguments(data, weights, half_spectra, rotations, box, disc,
                                        "backproject_pair_ctf_into")
    if not isinstance(ctf, KernelCTF):
        raise ValueError(f"ctf must be a KernelCTF, got {type(ctf).__name__}")
    if len(ctf) != slices.shape[1]:
        raise ValueError(f"ctf describes {len(ctf)} images but half_spectra hold {slices.shape[1]}")
    if ctf.kind == KERNEL_TABULATED and ctf.values.shape[1:] != slices.shape[2:]:
        raise ValueError(f"ctf values must have {slices.shape[2]} pixels per image, got {ctf.values.shape[1]}")
    if slices.shape[1]:
        _julia.call("backproject_pair_ctf", data.reshape(-1), weights.reshape(-1), slices[0],
                    np.ascontiguousarray(ctf.values), np.ascontiguousarray(ctf.limits), rot, *tail, ctf.kind,
                    ctf.voxel_size, ctf.correction, ctf.ctf_sign, ctf.data_sign)


def _pair_arguments(data: np.ndarray, weights: np.ndarray, half_spectra: np.ndarray, rotations: np.ndarray,
                    box: int, disc: str, caller: str) -> tuple:
    """Validated (slices (1, n, npix), rotations, kernel tail arguments from the order on) of a fused pass."""
    order, slices, rot, tail = _half_grid_arguments(half_spectra, rotations, box, disc)
    if order == 3:
        raise ValueError(f"{caller}: disc must be nearest or linear, got cubic")
    if slices.dtype != np.complex64:
        raise ValueError(f"half_spectra must be complex64, got {slices.dtype}")
    _check_accumulator(data, "data", np.complex64)
    _check_accumulator(weights, "weights", np.float32)
    if data.size != weights.size or data.size != box * box * (box // 2 + 1):
        raise ValueError(f"data and weights must have {box * box * (box // 2 + 1)} entries, got {data.size} "
                         f"and {weights.size}")
    return slices, rot, (order, 1, 1, *tail)
