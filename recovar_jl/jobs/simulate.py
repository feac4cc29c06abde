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
   the first 500 particles, all of them if fewer) / SNR. **SNR = signal variance / noise
   variance over the whole image** (box included, so it depends on how much of the box the
   particle fills).

Poses are uniformly distributed rotations (normalised Gaussian quaternions), translations
uniform in [−max_shift, max_shift]² pixels. A seed fixes everything.

Memory (:func:`estimated_peak_bytes`): the map's spectrum on the padded grid, rfft-packed,
built a block at a time, plus one chunk of images (sized from the box: :func:`chunk_images`)
and the first 500 noiseless images for σ; the stack is written chunk by chunk. Nothing grows
with the number of particles except their parameters (≈ 600 bytes each).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import numpy as np

from ..rotations import random_rotations
from . import ops
from .gridding import apodization_1d, crop_slices, disc_type, pad_size

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


# Sizes of the working arrays: they keep a simulation at box 512 under 10 GB whatever the
# number of particles (estimated_peak_bytes).
SIGMA_IMAGES = 500            # the noise σ comes from the noiseless images of the first 500 particles
MAX_CHUNK_IMAGES = 500
CHUNK_BYTES = 512 * 2**20     # working set of one chunk of images
_BUILD_BYTES = 64 * 2**20     # blocks of the padded volume while its spectrum is built


def _image_bytes(box: int, padded_box: int) -> int:
    """Working bytes per image in :meth:`Projector.images`: slice, CTF, shifted copy and inverse
    transform on the padded half grid (≈ 24 bytes per half-grid pixel); crop, noise, sum and the
    stack writer's float64 statistics (32 bytes per pixel)."""
    return 24 * padded_box * (padded_box // 2 + 1) + 32 * box * box


def chunk_images(box: int, pad: float) -> int:
    """Images per chunk: as many as fit in CHUNK_BYTES, at most MAX_CHUNK_IMAGES, at least 1."""
    return int(max(1, min(MAX_CHUNK_IMAGES, CHUNK_BYTES // _image_bytes(box, pad_size(box, pad)))))


def estimated_peak_bytes(box: int, pad: float, n_images: int, chunk_size: Optional[int] = None) -> int:
    """Peak memory of a simulation (``simulate_job``) beyond the runtime, bytes.

    ``8·P²·(P/2+1)`` (the half spectrum, P = padded box) ``+ 8·D³`` (the map and its copy for
    ground_truth.mrc) ``+ 4·D²·min(n, 500)`` (noiseless images kept for σ) ``+ chunk·(24·P·(P/2+1)
    + 32·D²)`` (one chunk) ``+ 2·_BUILD_BYTES + 600·n`` (parameters and STAR table).
    """
    p = pad_size(box, pad)
    chunk = chunk_images(box, pad) if chunk_size is None else int(chunk_size)
    spectrum = 8 * p * p * (p // 2 + 1)
    return int(spectrum + 8 * box ** 3 + 4 * box * box * min(n_images, SIGMA_IMAGES)
               + min(chunk, n_images) * _image_bytes(box, p) + 2 * _BUILD_BYTES + 600 * n_images)


def _real_space_divisor(padded_box: int, disc: str) -> np.ndarray:
    """(P,) float64 per-axis factor the map is divided by before its transform.

    The apodisation of forward interpolation (:mod:`.gridding`), so that slices are the
    projection's spectrum; for cubic also ``4 + 2 cos(2πx/P)``: the B-spline prefilter (the
    periodic inverse of the (1, 4, 1) stencil along each axis of the spectrum) is, by the shift
    theorem, a division of the real-space map by that, so the transform of the divided map *is*
    the spline coefficients, already rfft-packed.
    """
    divisor = apodization_1d(padded_box, disc, prefiltered=True)
    if disc_type(disc) == "cubic":
        x = np.arange(padded_box) - padded_box // 2
        divisor = divisor * (4.0 + 2.0 * np.cos(2.0 * np.pi * x / padded_box))
    return divisor


def padded_half_spectrum(volume_xyz: np.ndarray, padded_box: int, divisor: np.ndarray) -> np.ndarray:
    """Centred half spectrum (P, P, P//2+1) complex64 of ``volume / divisor³`` zero-padded to P³.

    Equals ``get_dft3_real`` of the padded volume, computed without it: 2-D transforms of
    blocks of x-planes (y, z padded) go into the central x-planes of the output, then 1-D
    transforms along x, a block of y-rows at a time. Memory: the output plus two blocks.
    """
    volume = np.asarray(volume_xyz, dtype=np.float32)
    d, p = volume.shape[0], padded_box
    half = p // 2 + 1
    inner = crop_slices(p, d)
    a = np.asarray(divisor, dtype=np.float64)[inner]
    out = np.zeros((p, p, half), dtype=np.complex64)
    planes = max(1, _BUILD_BYTES // (12 * p * p))
    for x0 in range(0, d, planes):
        x1 = min(d, x0 + planes)
        # Same rounding as dividing the padded volume by the float32 3-D apodisation.
        weights = (a[x0:x1, None, None] * a[None, :, None] * a[None, None, :]).astype(np.float32)
        slab = np.zeros((x1 - x0, p, p), dtype=np.float32)
        slab[:, inner, inner] = volume[x0:x1] / weights
        out[inner.start + x0:inner.start + x1] = ops.rfft_images(slab).reshape(x1 - x0, p, half)
        del slab, weights
    rows = max(1, _BUILD_BYTES // (16 * p * half))
    for y0 in range(0, p, rows):
        y1 = min(p, y0 + rows)
        block = np.ascontiguousarray(np.moveaxis(out[:, y0:y1, :], 0, -1))
        out[:, y0:y1, :] = np.moveaxis(ops.fft_lines(block), -1, 0)
        del block
    return out


class Projector:
    """Noiseless particle images of one volume (the steps 1–4 above).

    Holds the map's spectrum on the padded grid, rfft-packed (the map is real): 8·P²·(P/2+1)
    bytes, P the padded box (for cubic, its B-spline coefficients, also packed).
    """

    def __init__(self, volume_xyz: np.ndarray, voxel_size: float, disc: str = "linear", pad: float = 2.0):
        volume = np.asarray(volume_xyz, dtype=np.float32)
        self.box = volume.shape[0]
        self.voxel_size = float(voxel_size)
        self.disc = disc_type(disc)
        self.padded_box = pad_size(self.box, pad)
        p = self.padded_box
        self._volume = padded_half_spectrum(volume, p, _real_space_divisor(p, self.disc))
        self._keep = frequency_mask_half(p, data_radius(p, self.disc))

    def images(self, params: ParticleParameters) -> np.ndarray:
        """(n, box, box) float32 noiseless images for the particles in ``params``."""
        p = self.padded_box
        R = params.rotations.astype(np.float32)
        spectra = ops.slice_half(self._volume, R, p, self.disc, half_volume=True)
        spectra *= ops.ctf_half(params.ctf_params.astype(np.float32), p, self.voxel_size)
        spectra = ops.translate_half(spectra, -params.translations.astype(np.float32), p)
        spectra[:, ~self._keep] = 0
        full = ops.irfft_images(np.asarray(spectra, dtype=np.complex64), p)
        del spectra
        inner = crop_slices(p, self.box)
        return np.ascontiguousarray(full[:, inner, inner], dtype=np.float32)


def simulate_chunks(volume_xyz: np.ndarray, voxel_size: float, params: ParticleParameters, snr: float,
                    rng: np.random.Generator, disc: str = "linear", pad: float = 2.0,
                    chunk_size: Optional[int] = None) -> Iterator[Tuple[int, np.ndarray, float]]:
    """Yield ``(start, noisy images (m, box, box) float32, noise σ)`` chunk by chunk.

    σ is fixed from the noiseless images of the first SIGMA_IMAGES particles (module
    docstring), whatever the chunk size; the noise comes from ``rng`` in order, so a seed fixes
    the whole stack and the chunk size changes nothing. ``chunk_size`` defaults to
    :func:`chunk_images` (bounded memory at any box).
    """
    if not snr > 0:
        raise ValueError(f"snr must be positive, got {snr}")
    projector = Projector(volume_xyz, voxel_size, disc=disc, pad=pad)
    n = len(params)
    if chunk_size is None:
        chunk_size = chunk_images(projector.box, pad)
    first = min(n, SIGMA_IMAGES)
    kept = np.concatenate([projector.images(params.chunk(s, min(first, s + chunk_size)))
                           for s in range(0, first, chunk_size)])
    # Per-image variances in float64, a few images at a time (a float64 copy of all 500 would be 1 GB at box 512).
    variances = np.concatenate([np.var(kept[s:s + 16].astype(np.float64), axis=(1, 2)) for s in range(0, first, 16)])
    signal_var = float(np.mean(variances))
    if signal_var <= 0:
        raise ValueError("the volume projects to blank images; give a volume with some density")
    sigma = float(np.sqrt(signal_var / snr))
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        if stop <= first:
            clean = kept[start:stop]
        else:
            clean = projector.images(params.chunk(max(start, first), stop))
            if start < first:
                clean = np.concatenate([kept[start:first], clean])
            kept = None
        noisy = rng.standard_normal(clean.shape, dtype=np.float32)
        noisy *= np.float32(sigma)
        noisy += clean
        del clean
        yield start, noisy, sigma
        del noisy
