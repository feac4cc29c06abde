"""Interpolation kernels in Fourier space and the real-space apodisation they cause.

Gridding a function of frequency with a kernel κ (unit spacing on an N-point grid) —
either backprojecting samples with weights κ(grid − q) and dividing by the gridded weights,
or interpolating with κ — replaces F by κ∗F near each grid point, so the real-space map is
multiplied by κ's continuous Fourier transform evaluated at ``u = x / N`` (x in voxels from
the real-space origin, N the grid size actually used, i.e. the padded box). Per axis:

* nearest: κ = box of width 1            → ``sinc(u)``
* linear:  κ = triangle of half-width 1  → ``sinc(u)²``
* cubic:   recovar's ``adjoint_slice_volume(…, "cubic")`` is the adjoint of
  ``v ↦ slice(coefficients(v))`` (kernels.md §3): scatter with β = 6·B₃ (transform
  ``6·sinc(u)⁴``) followed by the periodic B-spline prefilter, whose transform is
  ``1 / (4 + 2 cos 2πu)`` (``calculate_spline_coefficients`` divides by that). The same
  product describes forward cubic interpolation from prefiltered coefficients. Together:
  ``6·sinc(u)⁴ / (4 + 2 cos 2πu)``.

Each is 1 at u = 0. The correction divides the map by the product over the three axes.
"""
from __future__ import annotations

import numpy as np

DISC_TYPES = {"nearest": "nearest", "linear": "linear_interp", "linear_interp": "linear_interp",
              "cubic": "cubic"}


def disc_type(name: str) -> str:
    """CLI name (nearest, linear, cubic) → recovar disc_type."""
    try:
        return DISC_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown interpolation {name!r}; use nearest, linear or cubic") from None


def apodization_1d(n: int, disc: str) -> np.ndarray:
    """Real-space attenuation along one axis of an n-point grid, at ``x = i − n//2``."""
    u = (np.arange(n) - n // 2) / n
    d = disc_type(disc)
    if d == "nearest":
        return np.sinc(u)
    if d == "linear_interp":
        return np.sinc(u) ** 2
    return 6.0 * np.sinc(u) ** 4 / (4.0 + 2.0 * np.cos(2.0 * np.pi * u))


def apodization_3d(n: int, disc: str) -> np.ndarray:
    """Separable 3-D attenuation, shape (n, n, n), float64."""
    a = apodization_1d(n, disc)
    return a[:, None, None] * a[None, :, None] * a[None, None, :]


def pad_size(box: int, pad: float) -> int:
    """Padded box for a padding factor: ``round(pad·box)`` rounded up to even, ≥ box."""
    if pad < 1:
        raise ValueError(f"pad must be at least 1, got {pad}")
    size = int(round(pad * box))
    size += size % 2
    return max(size, box)


def crop_slices(big: int, small: int) -> slice:
    """Slice of length ``small`` in an axis of length ``big`` that keeps index big//2 at small//2."""
    start = big // 2 - small // 2
    return slice(start, start + small)
