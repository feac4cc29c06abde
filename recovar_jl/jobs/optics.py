"""Particles whose optics groups differ in pixel size or box, brought to the first group's.

An image of box D at pixel p covers D·p Å. Fourier crop or pad to D' = round(D·p / p₀)
keeps that field of view and makes the pixel p' = D·p / D' ≈ p₀; a centred real-space crop
or pad then gives the reference box D₀ (centres at index D//2, as RELION's). The unpaired
Nyquist row and column are dropped so the result stays real. Where D' ≠ D·p / p₀ exactly,
the image is magnified by p'/p₀; that is refused when it moves the group's highest frequency
by more than a tenth of a Fourier shell. A group whose pixels are coarser than p₀ (D' > D) has no
data beyond its own Nyquist frequency, so :meth:`ResamplingReader.max_frequency` limits its
particles there (data and weight, see :mod:`.ctf_modes`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .errors import JobError
from .mrc import StackReader

_MAX_SHELL_ERROR = 0.1


def fourier_resample(images: np.ndarray, new_box: int) -> np.ndarray:
    """Images (n, D, D) → (n, D', D') with the same field of view (band-limited resampling).

    Keeps frequencies |k| ≤ (min(D, D') − 1)//2 per axis; values are samples of the same
    band-limited function (a constant image stays that constant).
    """
    n, box = images.shape[0], images.shape[-1]
    if new_box == box:
        return images
    # NumPy's FFT with the origin shifted to index D//2 for both parities (recovar's centred
    # transforms put it at (D+1)//2 for odd D, and D' is often odd here).
    axes = (-2, -1)
    spectra = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(images, axes=axes), axes=axes), axes=axes)
    k = (min(box, new_box) - 1) // 2
    src = slice(box // 2 - k, box // 2 + k + 1)
    dst = slice(new_box // 2 - k, new_box // 2 + k + 1)
    out = np.zeros((n, new_box, new_box), dtype=spectra.dtype)
    out[:, dst, dst] = spectra[:, src, src]
    resampled = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(out, axes=axes), axes=axes), axes=axes)
    scale = (new_box / box) ** 2  # unnormalised forward, 1/N² inverse
    return np.ascontiguousarray(np.real(resampled) * scale, dtype=np.float32)


def centre_box(images: np.ndarray, new_box: int) -> np.ndarray:
    """Centred real-space crop or zero pad (n, D, D) → (n, D₀, D₀); centre pixel D//2 → D₀//2."""
    n, box = images.shape[0], images.shape[-1]
    if new_box == box:
        return images
    out = np.zeros((n, new_box, new_box), dtype=np.float32)
    lo = min(box // 2, new_box // 2)
    hi = min(box - box // 2, new_box - new_box // 2)
    src = slice(box // 2 - lo, box // 2 + hi)
    dst = slice(new_box // 2 - lo, new_box // 2 + hi)
    out[:, dst, dst] = images[:, src, src]
    return out


@dataclass
class Resampling:
    """How one (pixel size, box) group reaches the reference pixel size and box."""

    pixel: float          # Å, stored images
    box: int              # stored images
    fourier_box: int      # D' after Fourier crop/pad
    max_frequency: float  # 1/Å, np.inf unless Fourier-padded

    @classmethod
    def plan(cls, pixel: float, box: int, ref_pixel: float, what: str) -> "Resampling":
        exact = box * pixel / ref_pixel
        fourier_box = max(2, int(round(exact)))
        resampled_pixel = box * pixel / fourier_box
        error = abs(resampled_pixel / ref_pixel - 1.0)
        top = min(box, fourier_box) / 2.0  # highest shell the group contributes, in its Fourier box
        if error * top > _MAX_SHELL_ERROR:
            raise JobError(f"{what} ({pixel:g} Å/pixel, box {box}) cannot be resampled to the first optics group's "
                           f"{ref_pixel:g} Å/pixel: the nearest box, {fourier_box}, gives {resampled_pixel:.4g} Å "
                           f"({100 * error:.2g}% off); re-extract it at {ref_pixel:g} Å/pixel, or reconstruct the "
                           f"groups one at a time (relion_star_handler --select rlnOpticsGroup)")
        padded = fourier_box > box
        limit = ((box - 1) / 2.0) / (box * pixel) if padded else np.inf
        return cls(pixel=pixel, box=box, fourier_box=fourier_box, max_frequency=limit)

    def apply(self, images: np.ndarray, ref_box: int) -> np.ndarray:
        return centre_box(fourier_resample(images, self.fourier_box), ref_box)


def _stack_box(path) -> Optional[int]:
    """The image box of an MRC stack from its header (None if unreadable: StackReader says why)."""
    import mrcfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(str(path), mode="r", header_only=True, permissive=True) as mrc:
                return int(mrc.header.nx)
    except Exception:
        return None


class ResamplingReader:
    """A :class:`.mrc.StackReader` per (pixel size, box) group; :meth:`read` returns the
    reference pixel size and box. Same interface as StackReader (``box``, ``read``, ``close``)."""

    def __init__(self, particles):
        self.groups: List[tuple] = []  # (rows, Resampling, StackReader)
        n = len(particles)
        pixels = particles.pixel_sizes if particles.pixel_sizes is not None else np.full(n, particles.voxel_size)
        stack_boxes = np.array([_stack_box(p) or -1 for p in particles.stack_paths])
        boxes = stack_boxes[particles.stack_ids]
        ref = particles.reference_row
        self.box = int(boxes[ref]) if boxes[ref] > 0 else particles.box
        self._group_of = np.empty(n, dtype=np.int64)
        self._local = np.empty(n, dtype=np.int64)
        self.notes: List[str] = []
        try:
            keys = sorted(set(zip(pixels.tolist(), boxes.tolist())), key=lambda k: (k != (pixels[ref], boxes[ref]), k))
            for g, (pixel, box) in enumerate(keys):
                rows = np.flatnonzero((pixels == pixel) & (boxes == box))
                what = self._name(particles, rows[0])
                expected = particles.box if g == 0 else None
                reader = self._open(particles, rows, expected)
                plan = Resampling.plan(pixel, reader.box, particles.voxel_size, what)
                if g == 0:
                    self.box = reader.box
                if (plan.fourier_box, reader.box) != (reader.box, self.box):
                    self.notes.append(f"{what}: {len(rows)} particles at {pixel:g} Å/pixel, box {reader.box} → "
                                      f"Fourier box {plan.fourier_box} → box {self.box}")
                self.groups.append((rows, plan, reader))
                self._group_of[rows] = g
                self._local[rows] = np.arange(rows.size)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _name(particles, row) -> str:
        if particles.optics_groups is not None:
            return f"optics group {int(particles.optics_groups[row])}"
        return f"the particles like particle {int(row) + 1}"

    @staticmethod
    def _open(particles, rows, expected_box) -> StackReader:
        used = np.unique(particles.stack_ids[rows])
        remap = np.full(len(particles.stack_paths), -1, dtype=np.int64)
        remap[used] = np.arange(used.size)
        return StackReader(particles.star_path, [particles.stack_paths[i] for i in used],
                           remap[particles.stack_ids[rows]], particles.image_indices[rows], expected_box=expected_box)

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Images of particles ``rows`` at the reference pixel size and box: (n, box, box) float32."""
        rows = np.asarray(rows)
        out = np.empty((rows.size, self.box, self.box), dtype=np.float32)
        groups = self._group_of[rows]
        for g in np.unique(groups):
            sel = np.flatnonzero(groups == g)
            _, plan, reader = self.groups[g]
            out[sel] = plan.apply(reader.read(self._local[rows[sel]]), self.box)
        return out

    def max_frequency(self, rows: np.ndarray) -> Optional[np.ndarray]:
        """(n,) 1/Å beyond which particles ``rows`` have no data, or None if none is limited."""
        limits = np.array([plan.max_frequency for _, plan, _ in self.groups])
        if np.all(np.isinf(limits)):
            return None
        return limits[self._group_of[np.asarray(rows)]]

    def close(self) -> None:
        for _, _, reader in self.groups:
            reader.close()
        self.groups = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_particle_reader(particles):
    """A StackReader when all particles share one pixel size and box, else a ResamplingReader.

    Both have ``box``, ``read(rows)`` and ``close()``; a ResamplingReader also has
    ``max_frequency(rows)`` and ``notes`` (one line per resampled group).
    """
    if particles.pixel_sizes is None:
        return StackReader(particles.star_path, particles.stack_paths, particles.stack_ids,
                           particles.image_indices, expected_box=particles.box)
    return ResamplingReader(particles)
