"""Fourier shell correlation on the centred 3-D frequency grid.

Shell r holds the voxels whose integer frequency ``k = index − N//2`` has ``round(|k|) = r``
(r = 0 … N//2); shell r is the spatial frequency ``r / (N·voxel_size)`` 1/Å.
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def shell_index(n: int) -> np.ndarray:
    """(n, n, n) int array: the rounded radius of each voxel of a centred n³ frequency grid."""
    k = np.arange(n) - n // 2
    r = np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)
    return np.rint(r).astype(np.int64)


def shell_means(values: np.ndarray, shells: np.ndarray, n_shells: int) -> np.ndarray:
    """Mean of ``values`` over each shell 0 … n_shells−1 (0 for empty shells)."""
    flat = shells.ravel()
    keep = flat < n_shells
    sums = np.bincount(flat[keep], weights=values.ravel()[keep], minlength=n_shells)
    counts = np.bincount(flat[keep], minlength=n_shells)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)


def fsc_fourier(f1: np.ndarray, f2: np.ndarray, n_shells: Optional[int] = None) -> np.ndarray:
    """FSC of two centred Fourier volumes (n, n, n) per shell 0 … n_shells−1 (default n//2 + 1).

    ``Re Σ f1·conj(f2) / sqrt(Σ|f1|² Σ|f2|²)`` per shell; 0 where a shell has no power.
    """
    n = f1.shape[0]
    if f1.shape != f2.shape or f1.ndim != 3 or len(set(f1.shape)) != 1:
        raise ValueError(f"fsc needs two cubic volumes of the same shape, got {f1.shape} and {f2.shape}")
    n_shells = n // 2 + 1 if n_shells is None else n_shells
    shells = shell_index(n).ravel()
    keep = shells < n_shells
    s = shells[keep]
    a = f1.ravel()[keep]
    b = f2.ravel()[keep]
    cross = np.bincount(s, weights=np.real(a * np.conj(b)), minlength=n_shells)
    p1 = np.bincount(s, weights=np.abs(a) ** 2, minlength=n_shells)
    p2 = np.bincount(s, weights=np.abs(b) ** 2, minlength=n_shells)
    denom = np.sqrt(p1 * p2)
    return np.where(denom > 0, cross / np.where(denom > 0, denom, 1.0), 0.0)


def fsc(volume1: np.ndarray, volume2: np.ndarray) -> np.ndarray:
    """FSC of two real cubic volumes, shells 0 … N//2 (index N//2 = Nyquist)."""
    v1 = np.asarray(volume1, dtype=np.float64)
    v2 = np.asarray(volume2, dtype=np.float64)
    if v1.shape != v2.shape:
        raise ValueError(f"fsc needs volumes of the same shape, got {v1.shape} and {v2.shape}")
    # Shells only depend on |k|; a centred transform keeps index N//2 at k = 0.
    f1 = np.fft.fftshift(np.fft.fftn(v1))
    f2 = np.fft.fftshift(np.fft.fftn(v2))
    return fsc_fourier(f1, f2)


def shell_frequencies(n: int, voxel_size: float) -> np.ndarray:
    """Spatial frequency (1/Å) of shells 0 … n//2 of an n³ grid."""
    return np.arange(n // 2 + 1) / (n * voxel_size)


def crossing_frequency(frequencies: np.ndarray, curve: np.ndarray, threshold: float) -> Optional[float]:
    """First frequency where ``curve`` falls below ``threshold`` (linear between shells).

    Shell 0 is skipped. Returns None if the curve stays at or above the threshold up to the
    last shell (resolution limited by the sampling).
    """
    for i in range(1, len(curve)):
        if curve[i] < threshold:
            lo, hi = curve[i - 1], curve[i]
            if lo == hi:
                return float(frequencies[i])
            t = (lo - threshold) / (lo - hi)
            return float(frequencies[i - 1] + t * (frequencies[i] - frequencies[i - 1]))
    return None


def resolution_text(frequency: Optional[float], nyquist_frequency: float) -> str:
    """``'4.52 Å'`` or ``'better than 4.00 Å (Nyquist)'``."""
    if frequency is None:
        return f"better than {1.0 / nyquist_frequency:.2f} Å (Nyquist)"
    return f"{1.0 / frequency:.2f} Å"
