"""How reconstruction uses each particle's CTF: the data and weight multipliers per pixel.

Backprojection accumulates ``m_data·x`` into B and ``m_weight`` into W per half-spectrum
pixel (see :mod:`.reconstruct`). With c the RELION-sign CTF (docs/cli.md, "CTF modes"):

=====================================  =============  ===========
mode (option)                          m_data         m_weight
=====================================  =============  ===========
default (RELION's ``--ctf``)           c              c²
``--no-ctf``                           1              1
``--ctf-phase-flip``                   sign(c)        1
``--ctf-phase-flipped`` (data flipped) |c|            c²
=====================================  =============  ===========

``--ctf-intact-first-peak`` first replaces c by 1 from the origin up to the CTF's first
peak, where the total phase ``χ + asin(W)`` reaches ±π/2 (χ = π·Δf·λ·s² − π/2·Cs·λ³·s⁴ +
phase shift, the phase of RELION's ``sin(χ) + W·cos(χ)`` form). ``--invert-contrast``
negates m_data. A frequency limit (``--maxres``, or the Nyquist frequency of an optics group
whose images were Fourier-padded to the reconstruction's pixel size) zeroes both multipliers
beyond it, so frequencies a particle does not measure get no weight.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from . import ops

CORRECTIONS = ("full", "none", "phase-flip", "phase-flipped")


def electron_wavelength(voltage_kv: np.ndarray) -> np.ndarray:
    """Relativistic electron wavelength (Å) at ``voltage_kv`` (kV), the CTF's λ (ctf.md §2)."""
    v = 1000.0 * np.asarray(voltage_kv, dtype=np.float64)
    return 12.2642598 / np.sqrt(v * (1.0 + 9.78475598e-7 * v))


def first_peak_phase(ctf_params: np.ndarray, box: int, voxel_size: float) -> np.ndarray:
    """Total CTF phase ``χ + asin(W)`` (radians) on the half grid of a box×box image: (n, box·(box//2+1)).

    RELION's CTF is ``sin`` of this phase (before B-factor and scale); its first peak is
    where the phase reaches π/2.
    """
    from ..core.fourier_transform_utils import get_k_coordinate_of_each_pixel_half

    p = np.asarray(ctf_params, dtype=np.float64)
    freqs = np.asarray(get_k_coordinate_of_each_pixel_half((box, box), voxel_size, scaled=True), dtype=np.float64)
    x, y = freqs[:, 0], freqs[:, 1]
    s2 = x * x + y * y
    theta = np.arctan2(y, x)
    dfu, dfv, ang = p[:, 0:1], p[:, 1:2], np.deg2rad(p[:, 2:3])
    defocus = 0.5 * (dfu + dfv + (dfu - dfv) * np.cos(2.0 * (theta[None, :] - ang)))
    lam = electron_wavelength(p[:, 3:4])
    cs = 1e7 * p[:, 4:5]
    chi = np.pi * lam * defocus * s2 - 0.5 * np.pi * cs * lam ** 3 * s2 * s2 + np.deg2rad(p[:, 6:7])
    return chi + np.arcsin(np.clip(p[:, 5:6], -1.0, 1.0))


@dataclass(frozen=True)
class CtfModes:
    """The CTF options of ``reconstruct``; :meth:`multipliers` applies them.

    correction: one of :data:`CORRECTIONS`; intact_first_peak, invert_contrast: bools;
    maxres: Å (None = no limit).
    """

    correction: str = "full"
    intact_first_peak: bool = False
    invert_contrast: bool = False
    maxres: Optional[float] = None

    def __post_init__(self):
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {self.correction!r}")
        if self.maxres is not None and not self.maxres > 0:
            raise ValueError(f"maxres must be a positive resolution in Å, got {self.maxres}")
        if self.intact_first_peak and self.correction == "none":
            raise ValueError("intact_first_peak needs a CTF correction (it cannot go with no CTF)")

    def describe(self) -> str:
        """A few words for the progress line, e.g. 'CTF phase flip only, contrast inverted'."""
        words = {"full": "CTF-weighted", "none": "no CTF correction", "phase-flip": "CTF phase flip only",
                 "phase-flipped": "CTF on phase-flipped data"}[self.correction]
        if self.intact_first_peak:
            words += ", intact until the first peak"
        if self.invert_contrast:
            words += ", contrast inverted"
        if self.maxres is not None:
            words += f", up to {self.maxres:g} Å"
        return words

    def multipliers(self, ctf_params: np.ndarray, box: int, voxel_size: float,
                    max_frequency: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """(m_data, m_weight), each (n, box·(box//2+1)) float32, for n CTF rows (n, 9).

        ``box`` is the (padded) image box, ``voxel_size`` its pixel size in Å;
        ``max_frequency`` (n,) 1/Å is a per-particle limit besides ``maxres``.
        """
        n = np.asarray(ctf_params).shape[0]
        shape = (n, box * (box // 2 + 1))
        if self.correction == "none":
            data = np.ones(shape, dtype=np.float32)
            weight = np.ones(shape, dtype=np.float32)
        else:
            c = np.asarray(ops.ctf_half(np.asarray(ctf_params, dtype=np.float32), box, voxel_size), dtype=np.float32)
            if self.intact_first_peak:
                # |phase| < π/2: the first lobe only, also for overfocus where the phase falls.
                c[np.abs(first_peak_phase(ctf_params, box, voxel_size)) < 0.5 * np.pi] = 1.0
            if self.correction == "full":
                data, weight = c, c * c
            elif self.correction == "phase-flip":
                data, weight = np.sign(c).astype(np.float32), np.ones(shape, dtype=np.float32)
            else:
                data, weight = np.abs(c), c * c
        if self.invert_contrast:
            data = -data
        limit = self._limit(n, max_frequency)
        if limit is not None:
            from ..core.fourier_transform_utils import get_k_coordinate_of_each_pixel_half

            freqs = np.asarray(get_k_coordinate_of_each_pixel_half((box, box), voxel_size, scaled=True))
            outside = np.hypot(freqs[:, 0], freqs[:, 1])[None, :] > limit[:, None]
            data = np.where(outside, np.float32(0), data)
            weight = np.where(outside, np.float32(0), weight)
        return np.ascontiguousarray(data, dtype=np.float32), np.ascontiguousarray(weight, dtype=np.float32)

    def _limit(self, n: int, max_frequency: Optional[np.ndarray]) -> Optional[np.ndarray]:
        limit = None if max_frequency is None else np.broadcast_to(np.asarray(max_frequency, np.float64), (n,))
        if self.maxres is not None:
            cap = np.full(n, 1.0 / self.maxres)
            limit = cap if limit is None else np.minimum(limit, cap)
        return limit
