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

:meth:`CtfModes.multipliers` builds these arrays (the reference, and the cubic path);
:meth:`CtfModes.kernel_ctf` describes the same table for the fused backprojection, which
evaluates c per row in the kernel (:func:`.ops.backproject_pair_ctf_into`) instead of reading
two (n, P·(P//2+1)) arrays; with ``--ctf-intact-first-peak`` it passes the array of c.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Tuple

import numpy as np

from . import ops

CORRECTIONS = ("full", "none", "phase-flip", "phase-flipped")

#: CTF kinds of :class:`KernelCTF` (the Julia kernel's ``ctf_source`` kinds).
KERNEL_NO_CTF, KERNEL_TABULATED, KERNEL_SPA = 0, 1, 2


def electron_wavelength(voltage_kv: np.ndarray) -> np.ndarray:
    """Relativistic electron wavelength (Å) at ``voltage_kv`` (kV), the CTF's λ (docs/conventions.md §9)."""
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
            c = self._relion_ctf(ctf_params, box, voxel_size)
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

    def kernel_ctf(self, ctf_params: np.ndarray, box: int, voxel_size: float,
                   max_frequency: Optional[np.ndarray] = None) -> "KernelCTF":
        """The same multipliers as :meth:`multipliers` (same arguments), as the fused
        backprojection computes them: the CTF rows (or, intact until the first peak, the array
        of c), the correction, the signs and the per-image limits."""
        params = np.ascontiguousarray(ctf_params, dtype=np.float32)
        if params.ndim != 2 or params.shape[1] < 9:
            raise ValueError(f"ctf_params must be an (n, 9) array of CTF rows, got shape {params.shape}")
        n = params.shape[0]
        limit = self._limit(n, max_frequency)
        limits = np.full(n, np.inf) if limit is None else np.array(limit, dtype=np.float64)
        if self.intact_first_peak:
            kind, values, ctf_sign = KERNEL_TABULATED, self._relion_ctf(params, box, voxel_size), 1.0
        else:
            # ops.ctf_half: RELION's c is the negative of recovar_jl.core.ctf's
            kind, values, ctf_sign = (KERNEL_NO_CTF if self.correction == "none" else KERNEL_SPA), params, -1.0
        return KernelCTF(kind=kind, values=values, limits=limits, correction=CORRECTIONS.index(self.correction),
                         ctf_sign=ctf_sign, data_sign=-1.0 if self.invert_contrast else 1.0,
                         voxel_size=float(voxel_size))

    def _relion_ctf(self, ctf_params: np.ndarray, box: int, voxel_size: float) -> np.ndarray:
        """RELION-sign c (n, box·(box//2+1)) float32, set to 1 up to the first peak if asked."""
        c = np.asarray(ops.ctf_half(np.asarray(ctf_params, dtype=np.float32), box, voxel_size), dtype=np.float32)
        if self.intact_first_peak:
            # |phase| < π/2: the first lobe only, also for overfocus where the phase falls.
            c[np.abs(first_peak_phase(ctf_params, box, voxel_size)) < 0.5 * np.pi] = 1.0
        return c

    def _limit(self, n: int, max_frequency: Optional[np.ndarray]) -> Optional[np.ndarray]:
        limit = None if max_frequency is None else np.broadcast_to(np.asarray(max_frequency, np.float64), (n,))
        if self.maxres is not None:
            cap = np.full(n, 1.0 / self.maxres)
            limit = cap if limit is None else np.minimum(limit, cap)
        return limit


@dataclass(frozen=True)
class KernelCTF:
    """The CTF of n images as :func:`.ops.backproject_pair_ctf_into` evaluates it.

    kind: :data:`KERNEL_NO_CTF` (c = 1), :data:`KERNEL_SPA` (``values`` the (n, 9) float32 CTF
    rows) or :data:`KERNEL_TABULATED` (``values`` (n, P·(P//2+1)) float32 c);
    ``limits`` (n,) float64 frequency limits in 1/Å (inf: none); ``correction`` the index of
    the mode in :data:`CORRECTIONS`; ``ctf_sign`` ±1 multiplies the values into RELION's c,
    ``data_sign`` ±1 the data multiplier (−1: inverted contrast); ``voxel_size`` Å.
    """

    kind: int
    values: np.ndarray
    limits: np.ndarray
    correction: int
    ctf_sign: float
    data_sign: float
    voxel_size: float

    def __post_init__(self):
        if self.kind not in (KERNEL_NO_CTF, KERNEL_TABULATED, KERNEL_SPA):
            raise ValueError(f"kind must be 0, 1 or 2, got {self.kind}")
        if self.correction not in range(len(CORRECTIONS)):
            raise ValueError(f"correction must be an index into {CORRECTIONS}, got {self.correction}")
        for name in ("ctf_sign", "data_sign"):
            if getattr(self, name) not in (1.0, -1.0):
                raise ValueError(f"{name} must be 1 or -1, got {getattr(self, name)}")
        for name, dtype, ndim in (("values", np.float32, 2), ("limits", np.float64, 1)):
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.ndim != ndim:
                raise ValueError(f"{name} must be a {ndim}-D {np.dtype(dtype)} array, got "
                                 f"{getattr(arr, 'dtype', type(arr).__name__)} {getattr(arr, 'shape', '')}")
        if self.values.shape[0] != self.limits.shape[0]:
            raise ValueError(f"values describe {self.values.shape[0]} images but limits {self.limits.shape[0]}")

    def __len__(self) -> int:
        return self.values.shape[0]

    def rows(self, sel) -> "KernelCTF":
        """The images ``sel`` (a slice or index array)."""
        return replace(self, values=self.values[sel], limits=self.limits[sel])
