"""Simulated single-particle data: projections of a volume with poses, CTFs, shifts and noise.

Image formation, per particle i (all in Fourier space on a grid padded ``pad``×):

1. central slice of the padded volume's spectrum at rotation ``R_i`` (the volume is divided
   by the interpolation's apodisation first, so the slice is the projection's spectrum, not
   an attenuated one; see :mod:`.gridding`);
2. × RELION-sign CTF of the particle (defocus U/V/angle, 300 kV, Cs 2.7 mm, W 0.1);
3. content moved by ``−t_i`` (``t_i`` = recovar translation = RELION origin / pixel size,
   the shift that re-centres the particle);
4. inverse transform, central ``box``×``box`` crop (the CTF's delocalisation stays inside the
   padded box, as in a real micrograph);
5. + white Gaussian noise of variance σ² = (mean per-image variance of the noiseless images of
   the first chunk) / SNR. **SNR = signal variance / noise variance over the whole image**
   (box included, so it depends on how much of the box the particle fills).

Poses are uniformly distributed rotations (normalised Gaussian quaternions), translations
uniform in [−max_shift, max_shift]² pixels. A seed fixes everything.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import numpy as np

from ..rotations import random_rotations
from . import ops
from .gridding import apodization_3d, crop_slices, disc_type, pad_size

VOLTAGE_KV = 300.0
SPHERICAL_ABERRATION_MM = 2.7
AMPLITUDE_CONTRAST = 0.1
ASTIGMATISM_MAX_FRACTION = 0.05   # |DFU − DFV| up to 5 % of the mean defocus


@dataclass
class ParticleParameters:
    """Per-particle ground truth of a simulation (recovar conventions)."""

    rotations: np.ndarray      # (n, 3, 3)
    translations: np.ndarray   # (n, 2) pixels, re-centring shift
    ctf_params: np.ndarray     # (n, 9), docs/conventions.md §8

    def __len__(self) -> int:
        return int(self.rotations.shape[0])

    def chunk(self, start: int, stop: int) -> "ParticleParameters":
        return ParticleParameters(self.rotations[start:stop], self.translations[start:stop],
                                  self.ctf_params[start:stop])


def random_parameters(n: int, rng: np.random.Generator, defocus_range=(8000.0, 25000.0),
                      max_shift: float = 3.0) -> ParticleParameters:
    """Uniform rotations, uniform shifts in [−max_shift, max_shift]², astigmatic CTFs."""
    lo, hi = float(defocus_range[0]), float(defocus_range[1])
    rotations = random_rotations(n, rng)
    translations = rng.uniform(-max_shift, max_shift, size=(n, 2)) if max_shift > 0 else np.zeros((n, 2))
    mean_defocus = rng.uniform(lo, hi, size=n)
    astig = rng.uniform(0.0, ASTIGMATISM_MAX_FRACTION, size=n) * mean_defocus
    ctf = np.zeros((n, 9))
    ctf[:, 0] = mean_defocus + astig / 2          # DFU ≥ DFV, as CTFFIND writes them
    ctf[:, 1] = mean_defocus - astig / 2
    ctf[:, 2] = rng.uniform(0.0, 180.0, size=n)   # astigmatism angle, degrees
    ctf[:, 3] = VOLTAGE_KV
    ctf[:, 4] = SPHERICAL_ABERRATION_MM
    ctf[:, 5] = AMPLITUDE_CONTRAST
    ctf[:, 6] = 0.0                               # phase shift
    ctf[:, 7] = 0.0                               # B-factor
    ctf[:, 8] = 1.0                               # contrast scale
    return ParticleParameters(rotations, translations, ctf)


def frequency_mask_half(box: int, max_r: int) -> np.ndarray:
    """(box·(box//2+1),) bool: half-grid pixels with |k| ≤ max_r (integer frequencies)."""
    ky = np.arange(box) - box // 2
    kx = np.arange(box // 2 + 1).astype(np.float64)
    if box % 2 == 0:
        kx[-1] = -(box // 2)  # packed Nyquist column carries −box/2 (docs/conventions.md §2)
    return ((kx[None, :] ** 2 + ky[:, None] ** 2) <= max_r ** 2).reshape(-1)


def data_radius(padded_box: int, disc: str) -> int:
    """Largest |k| (padded grid units) the jobs use: the slicers' default max_r, and for cubic
    (which ignores max_r) one sample less, so its 4-point stencil never wraps around the grid."""
    return padded_box // 2 - (2 if disc_type(disc) == "cubic" else 1)


class Projector:
    """Noiseless particle images of one volume (the steps 1–4 above)."""

    def __init__(self, volume_xyz: np.ndarray, voxel_size: float, disc: str = "linear", pad: float = 2.0):
        volume = np.asarray(volume_xyz, dtype=np.float32)
        self.box = volume.shape[0]
        self.voxel_size = float(voxel_size)
        self.disc = disc_type(disc)
        self.padded_box = pad_size(self.box, pad)
        p = self.padded_box
        padded = np.zeros((p, p, p), dtype=np.float32)
        inner = crop_slices(p, self.box)
        padded[inner, inner, inner] = volume
        padded /= apodization_3d(p, self.disc, prefiltered=True).astype(np.float32)
        spectrum = ops.fft_volume(padded).astype(np.complex64)
        self._volume = ops.cubic_coefficients(spectrum) if self.disc == "cubic" else spectrum
        self._keep = frequency_mask_half(p, data_radius(p, self.disc))

    def images(self, params: ParticleParameters) -> np.ndarray:
        """(n, box, box) float32 noiseless images for the particles in ``params``."""
        p = self.padded_box
        R = params.rotations.astype(np.float32)
        spectra = ops.slice_half(self._volume, R, p, self.disc)
        spectra *= ops.ctf_half(params.ctf_params.astype(np.float32), p, self.voxel_size)
        spectra = ops.translate_half(spectra, -params.translations.astype(np.float32), p)
        spectra[:, ~self._keep] = 0
        full = ops.irfft_images(spectra.astype(np.complex64), p)
        inner = crop_slices(p, self.box)
        return np.ascontiguousarray(full[:, inner, inner], dtype=np.float32)


def simulate_chunks(volume_xyz: np.ndarray, voxel_size: float, params: ParticleParameters, snr: float,
                    rng: np.random.Generator, disc: str = "linear", pad: float = 2.0,
                    chunk_size: int = 500) -> Iterator[Tuple[int, np.ndarray, float]]:
    """Yield ``(start, noisy images (m, box, box) float32, noise σ)`` chunk by chunk.

    σ is fixed from the first chunk's noiseless images (module docstring) and then used for
    every chunk; the noise comes from ``rng`` in order, so a seed fixes the whole stack.
    """
    if not snr > 0:
        raise ValueError(f"snr must be positive, got {snr}")
    projector = Projector(volume_xyz, voxel_size, disc=disc, pad=pad)
    sigma: Optional[float] = None
    n = len(params)
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        clean = projector.images(params.chunk(start, stop))
        if sigma is None:
            signal_var = float(np.mean(np.var(clean.astype(np.float64), axis=(1, 2))))
            if signal_var <= 0:
                raise ValueError("the volume projects to blank images; give a volume with some density")
            sigma = float(np.sqrt(signal_var / snr))
        noise = rng.standard_normal(clean.shape, dtype=np.float32) * np.float32(sigma)
        yield start, clean + noise, sigma
