"""Interpolation kernels in Fourier space and the real-space apodisation they cause.

Gridding a function of frequency with a kernel κ (unit spacing on an N-point grid) —
either backprojecting samples with weights κ(grid − q) and dividing by the gridded weights,
or interpolating with κ — replaces F by κ∗F near each grid point, so the real-space map is
multiplied by κ's continuous Fourier transform evaluated at ``u = x / N`` (x in voxels from
the real-space origin, N the grid size actually used, i.e. the padded box). Per axis:

* nearest: κ = box of width 1            → ``sinc(u)``
* linear:  κ = triangle of half-width 1  → ``sinc(u)²``
* cubic, backprojection: scatter with the cubic B-spline β = 6·B₃ → ``sinc(u)⁴`` (the
  factor 6 per axis cancels in data / weights). recovar's ``adjoint_slice_volume(…, "cubic")``
  is the adjoint of ``v ↦ slice(coefficients(v))`` (docs/conventions.md §6), i.e. that scatter
  followed by the B-spline prefilter, a sharpening filter (gain 1/6 at the grid's zero
  "frequency", 1/2 at its highest: up to 27× relative in 3-D). Applied to sampled CTF² weights
  it makes them oscillate and change sign, and data / weights blows up. The prefilter is
  the periodic inverse of the (1, 4, 1) stencil, so :func:`undo_spline_prefilter` applies
  that stencil once to the accumulated sums and leaves the plain β scatter.
* cubic, forward interpolation from prefiltered coefficients (simulation): β's transform
  times the prefilter's, ``1 / (4 + 2 cos 2πu)``: ``6·sinc(u)⁴ / (4 + 2 cos 2πu)``.

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


def apodization_1d(n: int, disc: str, prefiltered: bool = False) -> np.ndarray:
    """Real-space attenuation along one axis of an n-point grid, at ``x = i − n//2``.

    ``prefiltered`` (cubic only): interpolation from B-spline coefficients (forward
    slicing) rather than plain B-spline gridding (backprojection after
    :func:`undo_spline_prefilter`).
    """
    u = (np.arange(n) - n // 2) / n
    d = disc_type(disc)
    if d == "nearest":
        return np.sinc(u)
    if d == "linear_interp":
        return np.sinc(u) ** 2
    if prefiltered:
        return 6.0 * np.sinc(u) ** 4 / (4.0 + 2.0 * np.cos(2.0 * np.pi * u))
    return np.sinc(u) ** 4


def apodization_3d(n: int, disc: str, prefiltered: bool = False) -> np.ndarray:
    """Separable 3-D attenuation, shape (n, n, n), float64."""
    a = apodization_1d(n, disc, prefiltered)
    return a[:, None, None] * a[None, :, None] * a[None, None, :]


def undo_spline_prefilter(volume: np.ndarray) -> np.ndarray:
    """Apply the periodic (1, 4, 1) stencil along every axis: the inverse of recovar's
    B-spline prefilter (``calculate_spline_coefficients``), and its transpose too (symmetric)."""
    out = np.asarray(volume)
    for axis in range(out.ndim):
        out = np.roll(out, 1, axis) + 4 * out + np.roll(out, -1, axis)
    return out


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
