"""Wiener-filtered direct Fourier reconstruction from particle images with known poses and CTFs.

Per particle (n images of box D, padded to P = pad·D):

1. zero-pad the real image to P×P (centred), centred half DFT;
2. move its content by ``+t`` (the re-centring translation; RELION origin / pixel size);
3. multiply by the RELION-sign CTF c (simulate uses the same), keep |k| ≤ max_r;
4. backproject ``c·x`` into B and ``c²`` into W (other multipliers with the CTF options of
   :mod:`.ctf_modes`) (the same ``disc_type`` for both; nearest/linear in one fused pass that
   locates every pixel once), separately for the two random halves, on the rfft-packed half grid P×P×(P//2+1) of the P³ spectrum
   (the map is real; :mod:`.halfgrid`). (cubic: the adjoint's B-spline prefilter is undone
   on the sums afterwards, see :mod:`.gridding`.)

Then, per frequency shell, the half maps' FSC gives the spectral SNR and the Wiener
regulariser ``λ(k) = mean_shell(W_half)·(1 − FSC)/FSC`` (FSC clipped to [1e-3, 1 − 1e-4]);
``map = B / (W + λ)`` (halves: their own B, W; full map: sums), inverse centred DFT, divided
by the interpolation's real-space apodisation on the padded grid (:mod:`.gridding`), cropped
to the central D³. Shell sums and maps are made slab by slab from the half grid; the result
equals the full-grid computation (shell means and FSC over the full P³ grid) up to float32
rounding.

Memory (:func:`estimated_peak_bytes`): four half volumes, ``24·P²(P//2+1)`` bytes, plus one
chunk of images plus a constant, whatever n is; small volumes add the backprojection kernel's
per-thread copies (``12·P²(P//2+1)`` per extra thread, only when a chunk's work exceeds the
volume; larger volumes share one accumulator between threads, each updating its slab). The
final maps need one ``8·D·P·(P//2+1)``-byte partial transform instead of the copies and the chunk.
The job then releases the sums (:meth:`Backprojector.release`) before the steps on the
D³ maps (radial Wiener filter, post-processing), which need about ``80·D³`` bytes.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import ops
from .ctf_modes import CtfModes, KernelCTF
from .fsc import crossing_frequency, shell_frequencies
from .gridding import apodization_1d, crop_slices, disc_type, pad_size
from .halfgrid import (SLAB_CELLS, cropped_real_map, fsc_half, fsc_real, half_shape, pair_unfolded_planes,
                       shell_counts, shell_table, shell_weight_sums, undo_spline_prefilter_half, wiener_rows)
from .particle_mask import image_mask
from .radial_wiener import filter_full_map
from .simulate import data_radius, frequency_mask_half
from .symmetry import operator_rotations, symmetry_operators

FSC_THRESHOLD = 0.143
_FSC_CLIP = (1e-3, 1.0 - 1e-4)
#: Stages timed by :class:`Backprojector` (seconds in ``Backprojector.timings``); "fsc" is
#: the half maps' FSC on the D³ grid.
STAGES = ("fft", "ctf", "backprojection", "reduction", "final_transforms", "fsc")


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
    full_unfiltered: Optional[np.ndarray] = None  # (B1 + B2) / (W1 + W2), no Wiener term: for sharpening

    @property
    def nyquist(self) -> float:
        return float(self.frequencies[-1])


class Backprojector:
    """Accumulates CTF-weighted backprojections of two half sets on the half grid; see the
    module docstring. ``data[h]`` (P, P, P//2+1) complex64, ``weights[h]`` float32 (``m ×``
    full-grid values, :mod:`.halfgrid`), ``counts[h]`` images; ``timings`` seconds per stage.

    ``symmetry`` (a --sym point group): each image is backprojected once per operator S with
    the pose R·S (:mod:`.symmetry`), so the sums, half maps and FSC are those of the group.
    ``ctf_modes`` (:mod:`.ctf_modes`): how the CTF enters the data and weight sums.
    """

    def __init__(self, box: int, voxel_size: float, disc: str = "linear", pad: float = 2.0,
                 symmetry: str = "C1", ctf_modes: Optional[CtfModes] = None,
                 particle_diameter: Optional[float] = None):
        if box % 2:
            raise ValueError(f"box must be even, got {box}")
        self.box = int(box)
        self.voxel_size = float(voxel_size)
        self.disc = disc_type(disc)
        self.operators = symmetry_operators(symmetry)
        self.ctf_modes = ctf_modes if ctf_modes is not None else CtfModes()
        self.particle_diameter = particle_diameter
        self._image_mask = (None if particle_diameter is None
                            else image_mask(self.box, self.voxel_size, particle_diameter))
        self.padded_box = pad_size(self.box, pad)
        p = self.padded_box
        self._keep = frequency_mask_half(p, data_radius(p, self.disc)).astype(np.float32)
        self.data = [np.zeros(half_shape(p), dtype=np.complex64) for _ in range(2)]
        self.weights = [np.zeros(half_shape(p), dtype=np.float32) for _ in range(2)]
        self.counts = [0, 0]
        self.timings = dict.fromkeys(STAGES, 0.0)
        self._spectra_buffer = None   # the chunks' half spectra, reused (not pickled, see __getstate__)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_spectra_buffer"] = None
        return state

    def _spectra_rows(self, n: int) -> np.ndarray:
        """The first ``n`` rows of the half-spectra buffer (n, P·(P//2+1)), grown when needed:
        a new array per chunk would be page-faulted in again each time (≈ 40 % of the stage)."""
        p = self.padded_box
        if self._spectra_buffer is None or self._spectra_buffer.shape[0] < n:
            self._spectra_buffer = np.empty((n, p * (p // 2 + 1)), np.complex64)
        return self._spectra_buffer[:n]

    @contextmanager
    def stage(self, name: str):
        """Context: adds its wall seconds to ``timings[name]`` (the job times its later steps too)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    def add_spectra(self, spectra: np.ndarray, rotations: np.ndarray, ctf: Optional[np.ndarray],
                    halves: np.ndarray, weights: Optional[np.ndarray] = None) -> None:
        """Backproject centred half spectra (n, P·(P//2+1)) already re-centred.

        ``ctf`` (n, P·(P//2+1)) real data multiplier, or None for 1; ``weights`` the same
        shape (default ``ctf²``, see :mod:`.ctf_modes`); ``halves`` (n,) in {0, 1}. With
        nearest/linear interpolation ``ctf`` may instead be a :class:`.ctf_modes.KernelCTF`
        (no ``weights``): the kernel then computes both multipliers per row.
        """
        p = self.padded_box
        fused = self.disc != "cubic"    # nearest/linear: c·y and w scattered in one pass
        in_kernel = isinstance(ctf, KernelCTF)
        if in_kernel and (not fused or weights is not None):
            raise ValueError("a KernelCTF ctf needs nearest or linear interpolation and no weights")
        with self.stage("ctf"):
            spectra = np.asarray(spectra, dtype=np.complex64)
            if fused and not in_kernel:
                # The kernel clips at the slicers' default radius, which is data_radius: the
                # pixels outside self._keep are never scattered, so no product with it.
                ctf = np.ones(spectra.shape, np.float32) if ctf is None else np.asarray(ctf, np.float32)
                weights = np.square(ctf) if weights is None else np.asarray(weights, np.float32)
            elif not fused:
                ctf = np.broadcast_to(self._keep, spectra.shape) if ctf is None else \
                    np.asarray(ctf, dtype=np.float32) * self._keep     # a new array: the caller's stays
                weights = np.square(ctf) if weights is None else np.asarray(weights, np.float32) * self._keep
                data = spectra * ctf
        R = np.asarray(rotations, dtype=np.float32)
        halves = np.asarray(halves)
        with self.stage("backprojection"):
            for h in (0, 1):
                sel, count = _rows_of_half(halves, h)
                if count == 0:
                    continue
                for R_sym in operator_rotations(R[sel], self.operators):
                    if in_kernel:
                        ops.backproject_pair_ctf_into(self.data[h], self.weights[h], spectra[sel], ctf.rows(sel),
                                                      R_sym, p, self.disc)
                    elif fused:
                        ops.backproject_pair_into(self.data[h], self.weights[h], spectra[sel], ctf[sel], weights[sel],
                                                  R_sym, p, self.disc)
                    else:
                        ops.backproject_half_into(self.data[h], data[sel], R_sym, p, self.disc)
                        ops.backproject_half_into(self.weights[h], weights[sel], R_sym, p, self.disc)
                self.counts[h] += count

    def add_images(self, images: np.ndarray, rotations: np.ndarray, translations: np.ndarray,
                   ctf_params: np.ndarray, halves: np.ndarray, max_frequency: Optional[np.ndarray] = None,
                   on_spectra: Optional[Callable[[], None]] = None) -> None:
        """Backproject real images (n, D, D) with recovar poses (pixels) and CTF rows (n, 9).

        ``max_frequency`` (n,) 1/Å: no data or weight beyond it (see :mod:`.ctf_modes`).
        ``on_spectra()`` is called once the images' spectra are made (the job starts reading
        its next chunk then: the reads overlap the backprojection, not the FFT).
        """
        n = images.shape[0]
        if n == 0:
            return
        p = self.padded_box
        halves = np.asarray(halves)
        order = np.argsort(halves, kind="stable")
        if np.any(order != np.arange(n)):
            # each half set's images consecutive (same order within it, so the same sums): the
            # backprojection then reads views of the spectra instead of copies
            images, rotations, translations, ctf_params, halves = (
                np.asarray(a)[order] for a in (images, rotations, translations, ctf_params, halves))
            if max_frequency is not None and np.ndim(max_frequency) == 1:
                max_frequency = np.asarray(max_frequency)[order]
        with self.stage("fft"):
            spectra = ops.padded_spectra(images, np.asarray(translations, dtype=np.float32), p, self._image_mask,
                                         out=self._spectra_rows(n))
        if on_spectra is not None:
            on_spectra()
        with self.stage("ctf"):
            if self.disc == "cubic":
                data, weights = self.ctf_modes.multipliers(ctf_params, p, self.voxel_size, max_frequency)
            else:
                data, weights = self.ctf_modes.kernel_ctf(ctf_params, p, self.voxel_size, max_frequency), None
        self.add_spectra(spectra, rotations, data, halves, weights)

    def release(self) -> None:
        """Drop the sums (after the last :meth:`reconstruct`), so that the steps on the
        final maps have their memory; counts and timings stay."""
        self.data = self.weights = self._spectra_buffer = None

    def merge(self, other: "Backprojector") -> "Backprojector":
        """Add ``other``'s sums (numerators, CTF² weights, counts) into this one; returns self.

        Both must have the same box, voxel size, interpolation and padding. Summing the
        accumulators of disjoint particle sets gives the accumulators of their union.
        """
        mine = (self.box, self.voxel_size, self.disc, self.padded_box)
        theirs = (other.box, other.voxel_size, other.disc, other.padded_box)
        if mine != theirs:
            raise ValueError(f"cannot merge a Backprojector of (box, voxel size, disc, padded box) {theirs} "
                             f"into one of {mine}")
        for h in (0, 1):
            self.data[h] += other.data[h]
            self.weights[h] += other.weights[h]
            self.counts[h] += other.counts[h]
        for stage, seconds in other.timings.items():
            self.timings[stage] = self.timings.get(stage, 0.0) + seconds
        return self

    def reconstruct(self, unfiltered: bool = False) -> Reconstruction:
        """Wiener-filtered half maps and full map (real space, gridding-corrected, cropped);
        with ``unfiltered`` also the full map without the Wiener term (``full_unfiltered``).

        Works slab by slab (:mod:`.halfgrid`); the accumulators are not modified.
        """
        if min(self.counts) == 0:
            raise ValueError(f"both half sets need particles, got {self.counts[0]} and {self.counts[1]}")
        p = self.padded_box
        data, weights = self.data, self.weights
        with self.stage("reduction"):
            if self.disc == "cubic":
                # Back to plain B-spline gridding (see gridding.py): once, on the sums, by linearity.
                data = [undo_spline_prefilter_half(pair_unfolded_planes(b.copy())) for b in data]
                weights = [undo_spline_prefilter_half(pair_unfolded_planes(w.copy())) for w in weights]
            filters = _WienerShells(data, weights)
        apod = apodization_1d(p, self.disc)[crop_slices(p, self.box)].astype(np.float32)
        maps = []
        with self.stage("final_transforms"):
            for which in (0, 1, None, "unfiltered")[:4 if unfiltered else 3]:
                # separable apodisation: three in-place divisions per block, not a D³ float64 array
                maps.append(cropped_real_map(lambda rows, out: filters.filtered(rows, which, out), p, self.box, apod))
        with self.stage("fsc"):
            curve = fsc_real(maps[0], maps[1])
        freqs = shell_frequencies(self.box, self.voxel_size)
        return Reconstruction(half1=maps[0], half2=maps[1], full=maps[2], fsc=curve, frequencies=freqs,
                              resolution=crossing_frequency(freqs, curve, FSC_THRESHOLD),
                              voxel_size=self.voxel_size, n_particles=tuple(self.counts),
                              full_unfiltered=maps[3] if unfiltered else None)


def _rows_of_half(halves: np.ndarray, h: int) -> tuple:
    """(rows, count) of the images of half set h: a slice when they are consecutive, else indices."""
    rows = np.flatnonzero(halves == h)
    if rows.size and rows[-1] - rows[0] + 1 == rows.size:
        return slice(int(rows[0]), int(rows[-1]) + 1), int(rows.size)
    return rows, int(rows.size)


class _WienerShells:
    """Shell statistics of the two half sets and the Wiener-filtered spectra they give.

    ``w_shell`` mean half-set weight per shell, ``floor`` (float32, per shell) keeps divisions
    finite where W is 0 (outside the sampled sphere), ``fsc`` the padded-grid FSC of the
    unregularised half maps, ``lam`` the regulariser per shell (module docstring).
    """

    def __init__(self, data: list, weights: list):
        self.data, self.weights = data, weights
        p = data[0].shape[0]
        self.p, self.n_shells = p, p // 2 + 1
        n = self.n_shells
        table = shell_table(p, n)
        w_sum = shell_weight_sums(weights[0], weights[1], n)   # m × the full grid's, so the full grid's sum
        count = shell_counts(p, n)
        w_shell = np.where(count > 0, w_sum / np.maximum(count, 1), 0.0)
        tiny = 1e-6 * max(float(w_shell.max()), 1e-30)
        self.floor = np.maximum(1e-3 * w_shell, tiny).astype(np.float32)
        # per-|k|² tables of the per-shell values: one lookup per cell
        self._floor_r2 = self.floor[table]
        # the unregularised half maps B/m / max(W/m, floor) = B / max(W, m·floor) (m is 1 or 2, so exactly)
        curve = fsc_half(data[0], data[1], weights, self._floor_r2, corners=True)
        self.fsc = np.clip(curve, *_FSC_CLIP)
        self.lam = np.maximum(w_shell * (1.0 - self.fsc) / self.fsc, tiny).astype(np.float32)
        self._lam_r2 = self.lam[table]

    def filtered(self, rows: slice, which, out: np.ndarray) -> np.ndarray:
        """Full-grid values of ``B / max(W + λ, floor)`` on axis-1 rows ``rows`` into ``out``
        (complex64 (P, w, P//2+1)), returned: half set ``which`` (0 or 1) or, for None, both
        summed; "unfiltered": both summed with λ = 0. (``B/m / max(W/m + λ, floor) =
        B / max(W + m·λ, m·floor)``: m is 1 or 2, so exactly; :func:`.halfgrid.wiener_rows`.)"""
        return wiener_rows(out, self.data, self.weights, self._lam_r2, self._floor_r2, rows, which)


def split_halves(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) array of 0/1: a random split into halves of sizes ⌈n/2⌉ and ⌊n/2⌋."""
    halves = np.zeros(n, dtype=np.int64)
    halves[rng.permutation(n)[(n + 1) // 2:]] = 1
    return halves


def reconstruct_arrays(images: np.ndarray, rotations: np.ndarray, translations: np.ndarray,
                       ctf_params: np.ndarray, voxel_size: float, halves: np.ndarray,
                       disc: str = "linear", pad: float = 2.0, chunk_size: int = 256,
                       symmetry: str = "C1", ctf_modes: Optional[CtfModes] = None,
                       radial_filter: bool = True, particle_diameter: Optional[float] = None) -> Reconstruction:
    """Reconstruct from in-memory arrays (same steps, same chunking as the file path)."""
    bp = Backprojector(images.shape[-1], voxel_size, disc=disc, pad=pad, symmetry=symmetry,
                       ctf_modes=ctf_modes, particle_diameter=particle_diameter)
    for start in range(0, images.shape[0], chunk_size):
        s = slice(start, start + chunk_size)
        bp.add_images(images[s], rotations[s], translations[s], ctf_params[s], halves[s])
    rec = bp.reconstruct()
    return filter_full_map(rec) if radial_filter else rec


#: Target size of one chunk's arrays (images, spectra, CTFs, products) while backprojecting.
CHUNK_BYTES = 256 * 2 ** 20
#: Julia runtime, compiled kernels, FFTW plans, NumPy and the interpreter (measured, rounded up).
BASE_BYTES = 1024 * 2 ** 20
# Bytes per voxel of the D³ box for the steps after the sums are released: the half maps, the
# full map and the unsharpened one (16), and the radial Wiener filter (three spectra, three band
# maps, FFT scratch: 40 measured with tracemalloc at D = 128, 60 before its radial sums moved to
# Julia). Kept at 80: the masked FSC of --mask needs ~60 bytes per voxel in float64 beside the maps.
MAP_STEPS_BYTES = 80


def _chunk_bytes_per_image(box: int, p: int) -> int:
    """Bytes one image costs while its chunk is processed, as an upper bound: the read image
    twice (current and prefetched), a padded image and six half-spectrum-sized arrays. Since
    the one-pass FFT stage (`ops.padded_spectra`) and the in-kernel CTF, nearest/linear hold
    only the reused spectra buffer besides the images, and cubic the spectra plus its CTF,
    data and weight arrays; the bound was kept so that the chunking (and with it the order
    of the float32 sums) is unchanged. Tightening it would give larger chunks (34 images at
    box 256, 15 at box 384 today) with less per-call overhead (docs/performance.md)."""
    return 2 * 4 * box * box + 4 * p * p + 48 * p * (p // 2 + 1)


def chunk_size_for(box: int, pad: float = 2.0) -> int:
    """Images per chunk for this box: about CHUNK_BYTES of chunk arrays, between 8 and 1024
    (above 1024 images per thread the Julia kernel adds a blocked-summation volume)."""
    p = pad_size(int(box), pad)
    return int(min(1024, max(8, CHUNK_BYTES // _chunk_bytes_per_image(int(box), p))))


def _kernel_copies(p: int, chunk_size: int, threads: int) -> int:
    """Accumulator copies the Julia backprojection uses for a chunk (its
    ``backprojection_threads`` for linear interpolation, the larger work): one per thread only
    when the chunk's scatter work exceeds the half volume; else one, shared by slab threads."""
    vh = p * p * (p // 2 + 1)
    work = chunk_size * p * (p // 2 + 1) * 8
    return max(1, min(threads, chunk_size, work // vh))


def estimated_peak_bytes(box: int, pad: float, chunk_size: int, threads: int) -> int:
    """Peak resident bytes of a reconstruction (nearest/linear), whatever the particle count.

    With P = padded box, ``Vh = P²(P//2+1)`` half-grid cells and D = box:

    * backprojecting: ``24·Vh`` (accumulators: 2 × complex64 + 2 × float32)
      ``+ 12·Vh·(copies − 1)`` (the fused kernel's per-thread copies of the data and weight
      accumulators; ``copies = max(1, min(threads, chunk_size, 8·chunk_size·P(P//2+1) ÷ Vh))``
      as the kernel picks them: more than one only when a chunk's scatter work exceeds the
      volume, otherwise the threads share the accumulators, each updating its slab)
      ``+ chunk_size·(8D² + 4P² + 48·P(P//2+1))`` (the chunk's arrays) ``+ BASE_BYTES``;
    * final maps: ``24·Vh + 8·D·P·(P//2+1)`` (one map's partial inverse) ``+ 24·D³`` (the
      three maps and the two half-map spectra of their FSC) ``+`` slab temporaries (32 bytes ×
      2**22 cells: the slab buffer, its axis-0 inverse and kept rows; the shell sums and the
      Wiener division are Julia passes without temporaries) ``+ BASE_BYTES``;
    * after the sums are released (:meth:`Backprojector.release`): ``MAP_STEPS_BYTES·D³``
      (the four maps, and the radial Wiener filter's spectra and band maps)
      ``+ BASE_BYTES``.

    The peak is the largest. Cubic adds ``24·Vh`` when undoing its prefilter and the kernel's
    full-grid per-thread volumes.
    """
    for name, value in (("box", box), ("chunk_size", chunk_size), ("threads", threads)):
        if int(value) < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    box, chunk_size, threads = int(box), int(chunk_size), int(threads)
    p = pad_size(box, pad)
    vh = p * p * (p // 2 + 1)
    accumulators = 24 * vh
    copies = _kernel_copies(p, chunk_size, threads)
    backprojecting = 12 * vh * (copies - 1) + chunk_size * _chunk_bytes_per_image(box, p)
    final = 8 * box * p * (p // 2 + 1) + 24 * box ** 3 + 32 * SLAB_CELLS
    return max(accumulators + max(backprojecting, final), MAP_STEPS_BYTES * box ** 3) + BASE_BYTES


def backproject_rows(bp: Backprojector, reader, particles, halves: np.ndarray, start: int, stop: int,
                     chunk_size: int, on_chunk: Optional[Callable[[int], None]] = None) -> Backprojector:
    """Add the particles ``start:stop`` of a STAR table to ``bp``, chunk by chunk.

    ``reader`` is a :func:`.optics.open_particle_reader` over ``particles`` (a ParticleSet);
    ``halves`` (n,) in {0, 1}; ``on_chunk(count)`` is called after each chunk (progress).
    Memory: two chunks of ``chunk_size`` images (one prefetched by a reader thread). The in-process job and every
    distributed shard (:mod:`.distributed`) go through here.
    """
    from .prefetch import Prefetcher, chunk_rows

    limits = getattr(reader, "max_frequency", None)  # a resampling reader (optics groups) bounds |k|
    # each chunk's rows half by half (stable): add_images then needs no reordering copy, and the
    # sums are the same as for the chunk in STAR order (add_images sorts it the same way)
    chunks = Prefetcher(reader.read, [rows[np.argsort(halves[rows], kind="stable")]
                                      for rows in (start + r for r in chunk_rows(stop - start, chunk_size))])
    for rows, images in chunks:
        bp.add_images(images, particles.rotations[rows], particles.translations[rows],
                      particles.ctf_params[rows], halves[rows],
                      max_frequency=None if limits is None else limits(rows), on_spectra=chunks.read_ahead)
        if on_chunk is not None:
            on_chunk(rows.size)
    bp.timings["read"] = bp.timings.get("read", 0.0) + chunks.read_seconds
    bp.timings["read_wait"] = bp.timings.get("read_wait", 0.0) + chunks.wait_seconds
    return bp
