"""Wiener-filtered direct Fourier reconstruction from particle images with known poses and CTFs.

Per particle (n images of box D, padded to P = pad·D):

1. zero-pad the real image to P×P (centred), centred half DFT;
2. move its content by ``+t`` (the re-centring translation; RELION origin / pixel size);
3. multiply by the RELION-sign CTF c (simulate uses the same), keep |k| ≤ max_r;
4. backproject ``c·x`` into B and ``c²`` into W with ``adjoint_slice_volume`` (the same
   ``disc_type`` for both), separately for the two random halves. (cubic: the adjoint's
   B-spline prefilter is undone on the sums afterwards, see :mod:`.gridding`.)

Then, per frequency shell, the half maps' FSC gives the spectral SNR and the Wiener
regulariser ``λ(k) = mean_shell(W_half)·(1 − FSC)/FSC`` (FSC clipped to [1e-3, 1 − 1e-4]);
``map = B / (W + λ)`` (halves: their own B, W; full map: sums), inverse centred DFT, divided
by the interpolation's real-space apodisation on the padded grid (:mod:`.gridding`), cropped
to the central D³. Memory: four P³ volumes plus one chunk of images, whatever n is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import ops
from .fsc import crossing_frequency, fsc, fsc_fourier, shell_frequencies, shell_index, shell_means
from .gridding import apodization_3d, crop_slices, disc_type, pad_size, undo_spline_prefilter
from .radial_wiener import filter_full_map
from .simulate import data_radius, frequency_mask_half

FSC_THRESHOLD = 0.143
_FSC_CLIP = (1e-3, 1.0 - 1e-4)


@dataclass
class Reconstruction:
    """Maps indexed [x, y, z], float32, and the half-map FSC (shells 0 … D//2)."""

    half1: np.ndarray
    half2: np.ndarray
    full: np.ndarray
    fsc: np.ndarray
    frequencies: np.ndarray   # 1/Å per shell
    resolution: Optional[float]  # frequency (1/Å) where the half-map FSC crosses 0.143; None = beyond Nyquist
    voxel_size: float
    n_particles: tuple        # particles in half 1 and half 2

    @property
    def nyquist(self) -> float:
        return float(self.frequencies[-1])


class Backprojector:
    """Accumulates CTF-weighted backprojections of two half sets; see the module docstring."""

    def __init__(self, box: int, voxel_size: float, disc: str = "linear", pad: float = 2.0):
        if box % 2:
            raise ValueError(f"box must be even, got {box}")
        self.box = int(box)
        self.voxel_size = float(voxel_size)
        self.disc = disc_type(disc)
        self.padded_box = pad_size(self.box, pad)
        p = self.padded_box
        self._keep = frequency_mask_half(p, data_radius(p, self.disc))
        self.data = [np.zeros((p, p, p), dtype=np.complex64) for _ in range(2)]
        self.weights = [np.zeros((p, p, p), dtype=np.float32) for _ in range(2)]
        self.counts = [0, 0]

    def add_spectra(self, spectra: np.ndarray, rotations: np.ndarray, ctf: Optional[np.ndarray],
                    halves: np.ndarray) -> None:
        """Backproject centred half spectra (n, P·(P//2+1)) already re-centred.

        ``ctf`` (n, P·(P//2+1)) real, or None for CTF = 1; ``halves`` (n,) in {0, 1}.
        """
        p = self.padded_box
        spectra = np.asarray(spectra, dtype=np.complex64)
        if ctf is None:
            ctf = np.ones(spectra.shape, dtype=np.float32)
        ctf = np.array(ctf, dtype=np.float32, copy=True)
        ctf[:, ~self._keep] = 0
        data = spectra * ctf
        weights = ctf * ctf
        R = np.asarray(rotations, dtype=np.float32)
        halves = np.asarray(halves)
        for h in (0, 1):
            sel = np.flatnonzero(halves == h)
            if sel.size == 0:
                continue
            self.data[h] = ops.backproject_half(data[sel], R[sel], p, self.disc, self.data[h])
            self.weights[h] = ops.backproject_half(weights[sel], R[sel], p, self.disc, self.weights[h])
            self.counts[h] += int(sel.size)

    def add_images(self, images: np.ndarray, rotations: np.ndarray, translations: np.ndarray,
                   ctf_params: np.ndarray, halves: np.ndarray) -> None:
        """Backproject real images (n, D, D) with recovar poses (pixels) and CTF rows (n, 9)."""
        n = images.shape[0]
        if n == 0:
            return
        p = self.padded_box
        padded = np.zeros((n, p, p), dtype=np.float32)
        inner = crop_slices(p, self.box)
        padded[:, inner, inner] = images
        spectra = ops.rfft_images(padded)
        spectra = ops.translate_half(spectra, np.asarray(translations, dtype=np.float32), p)
        ctf = ops.ctf_half(np.asarray(ctf_params, dtype=np.float32), p, self.voxel_size)
        self.add_spectra(spectra, rotations, ctf, halves)

    def _to_real(self, spectrum: np.ndarray, apodization: np.ndarray) -> np.ndarray:
        inner = crop_slices(self.padded_box, self.box)
        volume = ops.ifft_volume_real(spectrum) / apodization
        return np.ascontiguousarray(volume[inner, inner, inner], dtype=np.float32)

    def reconstruct(self) -> Reconstruction:
        """Wiener-filtered half maps and full map (real space, gridding-corrected, cropped)."""
        if min(self.counts) == 0:
            raise ValueError(f"both half sets need particles, got {self.counts[0]} and {self.counts[1]}")
        p = self.padded_box
        data, weights = self.data, self.weights
        if self.disc == "cubic":
            # Back to plain B-spline gridding (see gridding.py): once, on the sums, by linearity.
            data = [undo_spline_prefilter(b).astype(np.complex64) for b in data]
            weights = [undo_spline_prefilter(w).astype(np.float32) for w in weights]
        n_shells = p // 2 + 1
        shells = np.minimum(shell_index(p), n_shells - 1)
        w_half = 0.5 * (weights[0] + weights[1])
        w_shell = shell_means(w_half, shells, n_shells)
        # Floors keep divisions finite where W is 0 (outside the sampled sphere).
        tiny = 1e-6 * max(float(w_shell.max()), 1e-30)
        floor = np.maximum(1e-3 * w_shell, tiny)[shells].astype(np.float32)
        unregularised = [b / np.maximum(w, floor) for b, w in zip(data, weights)]
        fsc_padded = np.clip(fsc_fourier(unregularised[0], unregularised[1], n_shells), *_FSC_CLIP)
        del unregularised
        lam_shell = np.maximum(w_shell * (1.0 - fsc_padded) / fsc_padded, tiny)
        lam = lam_shell[shells].astype(np.float32)
        apod = apodization_3d(p, self.disc)
        maps = []
        for b, w in ((data[0], weights[0]), (data[1], weights[1]),
                     (data[0] + data[1], weights[0] + weights[1])):
            maps.append(self._to_real(b / np.maximum(w + lam, floor), apod))
        curve = fsc(maps[0], maps[1])
        freqs = shell_frequencies(self.box, self.voxel_size)
        return Reconstruction(half1=maps[0], half2=maps[1], full=maps[2], fsc=curve, frequencies=freqs,
                              resolution=crossing_frequency(freqs, curve, FSC_THRESHOLD),
                              voxel_size=self.voxel_size, n_particles=tuple(self.counts))


def split_halves(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) array of 0/1: a random split into halves of sizes ⌈n/2⌉ and ⌊n/2⌋."""
    halves = np.zeros(n, dtype=np.int64)
    halves[rng.permutation(n)[(n + 1) // 2:]] = 1
    return halves


def reconstruct_arrays(images: np.ndarray, rotations: np.ndarray, translations: np.ndarray,
                       ctf_params: np.ndarray, voxel_size: float, halves: np.ndarray,
                       disc: str = "linear", pad: float = 2.0, chunk_size: int = 256,
                       radial_filter: bool = True) -> Reconstruction:
    """Reconstruct from in-memory arrays (same steps, same chunking as the file path)."""
    bp = Backprojector(images.shape[-1], voxel_size, disc=disc, pad=pad)
    for start in range(0, images.shape[0], chunk_size):
        s = slice(start, start + chunk_size)
        bp.add_images(images[s], rotations[s], translations[s], ctf_params[s], halves[s])
    rec = bp.reconstruct()
    return filter_full_map(rec) if radial_filter else rec
