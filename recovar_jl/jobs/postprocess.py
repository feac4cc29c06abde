"""Post-processing of two half maps as relion_postprocess does it: solvent mask, masked FSC
corrected by phase randomisation, FSC weighting, B-factor sharpening, low-pass filter.

All maps are real, cubic, indexed [x, y, z] (box N, voxel size in Å); FSC curves have
shells 0 … N//2 as in :mod:`.fsc`. Spectra are NumPy real FFTs (float32 in, complex64);
a voxel's shell is ``round(|k|)``, its spatial frequency ``|k| / (N · voxel size)``.
Memory: a few N³ complex arrays at a time (the FSC works in float64: about 60 bytes per
voxel, 1 GB at N = 256), independent of the number of particles.
Conventions and choices: docs/cli.md, "Masks and masked FSC" and "Sharpening".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import scipy.fft

from .errors import JobError
from .fsc import fsc, shell_frequencies

RANDOMISE_BELOW = 0.8        # phases are randomised beyond the shell where the unmasked FSC drops below this
CORRECTION_OFFSET = 2        # the correction starts this many shells beyond that one (RELION's choice)
GUINIER_LOW_RESOLUTION = 10.0  # Å: the automatic B-factor fit starts here
LOWPASS_EDGE_SHELLS = 2.0    # width of the low-pass filter's raised-cosine edge, in shells


# ---- frequency grid of the real FFT -------------------------------------------------------
def _radius(n: int) -> np.ndarray:
    """|k| (integer frequency units) on the (n, n, n//2+1) grid of a real 3-D FFT, float32."""
    k = np.fft.fftfreq(n, 1.0 / n).astype(np.float32)
    kz = np.fft.rfftfreq(n, 1.0 / n).astype(np.float32)
    return np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + kz[None, None, :] ** 2)


def _rfft(volume: np.ndarray) -> np.ndarray:
    return scipy.fft.rfftn(np.asarray(volume, dtype=np.float32))


def _irfft(spectrum: np.ndarray, n: int) -> np.ndarray:
    return np.ascontiguousarray(scipy.fft.irfftn(spectrum, s=(n, n, n)), dtype=np.float32)


def _per_shell(curve: np.ndarray, shells: np.ndarray) -> np.ndarray:
    """A shell curve (0 … N//2) spread over the voxels; voxels beyond Nyquist get 0."""
    padded = np.append(np.asarray(curve, dtype=np.float32), np.float32(0))
    return padded[np.minimum(shells, len(curve))]


# ---- masks -------------------------------------------------------------------------------
def check_mask(mask: np.ndarray, box: int, what: str) -> np.ndarray:
    """A user mask as float32, or JobError: must be box³ with values in [0, 1] and not empty."""
    if mask.shape != (box,) * 3:
        raise JobError(f"{what} has shape {mask.shape}, the particles' box is {box}; give a mask of the map's size")
    lo, hi = float(mask.min()), float(mask.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise JobError(f"{what} has values from {lo:.3g} to {hi:.3g}; a mask must lie in [0, 1] "
                       f"(1 = protein, 0 = solvent), e.g. from relion_mask_create")
    if hi <= 0:
        raise JobError(f"{what} is empty (all zeros); give a mask that covers the particle")
    return np.clip(mask, 0.0, 1.0).astype(np.float32)


def read_mask(path, box: int, voxel_size: float) -> tuple:
    """``--mask`` file → ``(mask float32 [x, y, z], warning or None)``; JobError if unusable."""
    from .mrc import read_volume

    volume, mask_voxel = read_volume(path, hint="give a soft mask, e.g. from relion_mask_create")
    mask = check_mask(volume, box, f"--mask {path}")
    note = None
    if mask_voxel is not None and abs(mask_voxel / voxel_size - 1.0) > 0.01:
        note = (f"--mask {path} has {mask_voxel:g} Å voxels, the particles {voxel_size:g} Å; "
                f"it is used voxel for voxel")
    return mask, note


def auto_mask(half1: np.ndarray, half2: np.ndarray) -> Optional[np.ndarray]:
    """Soft solvent mask of the half maps' average (recovar_jl.core.mask.make_mask: Gaussian
    low-pass, Otsu threshold, largest component, extended and given a cosine edge); None if empty."""
    from ..core.mask import make_mask_from_half_maps

    mask = np.asarray(make_mask_from_half_maps(half1, half2), dtype=np.float32)
    return mask if mask.max() > 0 else None


# ---- masked FSC --------------------------------------------------------------------------
def randomise_phases(volume: np.ndarray, beyond_shell: int, rng: np.random.Generator) -> np.ndarray:
    """The map with the phases of every voxel of shell > ``beyond_shell`` replaced by random ones.

    The random phases are those of white noise's spectrum, so they keep the Hermitian
    symmetry of a real map; amplitudes are unchanged.
    """
    n = volume.shape[0]
    spectrum = _rfft(volume)
    noise = _rfft(rng.standard_normal(volume.shape, dtype=np.float32))
    outer = np.rint(_radius(n)) > beyond_shell
    phases = noise[outer] / np.maximum(np.abs(noise[outer]), np.float32(1e-30))
    spectrum[outer] = np.abs(spectrum[outer]) * phases
    return _irfft(spectrum, n)


@dataclass
class MaskedFSC:
    """FSC curves (shells 0 … N//2) of two half maps, unmasked and masked (Chen et al. 2013)."""

    unmasked: np.ndarray
    masked: np.ndarray
    randomised: np.ndarray     # masked FSC of the half maps with phases randomised beyond randomised_from
    corrected: np.ndarray      # the masked FSC with the mask's own correlation removed
    randomised_from: Optional[int]  # shell; None when the unmasked FSC never drops below 0.8


def masked_fsc(half1: np.ndarray, half2: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
               unmasked: Optional[np.ndarray] = None) -> MaskedFSC:
    """Masked FSC corrected by phase randomisation.

    Phases are randomised beyond the first shell (> 0) where the unmasked FSC is below 0.8;
    from ``CORRECTION_OFFSET`` shells further on, ``corrected = (masked − randomised) / (1 −
    randomised)`` (0 where randomised > masked); below, ``corrected = masked``.
    """
    unmasked = fsc(half1, half2) if unmasked is None else np.asarray(unmasked, dtype=np.float64)
    masked = fsc(half1 * mask, half2 * mask)
    below = np.flatnonzero(unmasked[1:] < RANDOMISE_BELOW)
    if below.size == 0:
        # Signal up to Nyquist: nothing to randomise, the mask adds no correlation worth removing.
        return MaskedFSC(unmasked, masked, np.zeros_like(masked), masked.copy(), None)
    start = int(below[0]) + 1
    randomised = fsc(randomise_phases(half1, start, rng) * mask, randomise_phases(half2, start, rng) * mask)
    corrected = masked.copy()
    tail = np.arange(len(masked)) >= start + CORRECTION_OFFSET
    denominator = np.where(randomised < 1, 1.0 - randomised, 1.0)
    corrected[tail] = np.where(randomised[tail] > masked[tail], 0.0,
                               (masked[tail] - randomised[tail]) / denominator[tail])
    return MaskedFSC(unmasked, masked, randomised, corrected, start)


# ---- sharpening --------------------------------------------------------------------------
def fsc_weights(curve: np.ndarray) -> np.ndarray:
    """Rosenthal & Henderson's weight sqrt(2·FSC / (1 + FSC)) per shell (0 where FSC ≤ 0)."""
    f = np.clip(np.asarray(curve, dtype=np.float64), 0.0, 1.0)
    return np.sqrt(2.0 * f / (1.0 + f))


def guinier(volume: np.ndarray, voxel_size: float) -> tuple:
    """``(s² (1/Å²), ln mean |F|)`` per shell 1 … N//2 (ln = −inf where a shell has no power)."""
    n = volume.shape[0]
    shells = np.rint(_radius(n)).astype(np.int64).ravel()
    amplitude = np.abs(_rfft(volume)).ravel()
    keep = shells <= n // 2
    sums = np.bincount(shells[keep], weights=amplitude[keep], minlength=n // 2 + 1)
    counts = np.bincount(shells[keep], minlength=n // 2 + 1)
    mean = sums / np.maximum(counts, 1)
    with np.errstate(divide="ignore"):
        ln_f = np.where(mean > 0, np.log(np.where(mean > 0, mean, 1.0)), -np.inf)
    s = shell_frequencies(n, voxel_size)
    return s[1:] ** 2, ln_f[1:]


def fit_bfactor(s2: np.ndarray, ln_f: np.ndarray, low_resolution: float, high_resolution: float) -> Optional[tuple]:
    """Least-squares line through the Guinier plot for resolutions from ``low_resolution``
    to ``high_resolution`` Å: ``(B, intercept)`` with ``ln |F| ≈ intercept + (B / 4) s²``,
    or None when fewer than 3 shells lie in that range.

    B is negative for a map whose amplitudes fall off (it is the B-factor that sharpens it).
    """
    inside = (s2 >= 1.0 / low_resolution ** 2) & (s2 <= 1.0 / high_resolution ** 2 * (1 + 1e-9)) & np.isfinite(ln_f)
    if np.count_nonzero(inside) < 3:
        return None
    slope, intercept = np.polyfit(s2[inside], ln_f[inside], 1)
    return 4.0 * float(slope), float(intercept)


def lowpass(resolution_frequency: float, n: int, voxel_size: float, radius: np.ndarray) -> np.ndarray:
    """Raised-cosine low-pass at ``resolution_frequency`` (1/Å), edge ``LOWPASS_EDGE_SHELLS`` wide."""
    cutoff = resolution_frequency * n * voxel_size           # in shells
    lo, hi = cutoff - LOWPASS_EDGE_SHELLS / 2, cutoff + LOWPASS_EDGE_SHELLS / 2
    edge = 0.5 + 0.5 * np.cos(np.pi * np.clip((radius - lo) / (hi - lo), 0.0, 1.0))
    return edge.astype(np.float32)


@dataclass
class Sharpened:
    """A sharpened map [x, y, z] float32 and the Guinier plots behind it."""

    map: np.ndarray
    bfactor: float             # Å², applied as exp(−B s² / 4); negative sharpens
    fitted: bool               # B came from the Guinier fit
    resolution: float          # Å, the low-pass
    s2: np.ndarray             # 1/Å² per shell 1 … N//2
    ln_f: np.ndarray           # Guinier plot of the input map
    ln_f_weighted: np.ndarray  # … after FSC weighting
    ln_f_sharpened: np.ndarray  # … of the output
    intercept: Optional[float]  # of the fitted line
    note: Optional[str] = None  # why an automatic B-factor could not be fitted (then B = 0)


def sharpen(volume: np.ndarray, voxel_size: float, fsc_curve: np.ndarray, resolution_frequency: Optional[float],
            bfactor: Union[str, float] = "auto") -> Sharpened:
    """FSC weighting, B-factor and low-pass of an unfiltered map (relion_postprocess's order).

    ``fsc_curve``: the half-map FSC (masked and corrected when there is a mask), shells 0 … N//2.
    ``resolution_frequency``: 1/Å where it crosses 0.143 (None: Nyquist). ``bfactor``: "auto"
    (fit from 10 Å to the resolution on the FSC-weighted map) or Å² applied as exp(−B s²/4).
    """
    n = volume.shape[0]
    nyquist = 1.0 / (2.0 * voxel_size)
    resolution_frequency = nyquist if resolution_frequency is None else min(resolution_frequency, nyquist)
    radius = _radius(n)
    spectrum = _rfft(volume) * _per_shell(fsc_weights(fsc_curve), np.rint(radius).astype(np.int64))
    weighted = _irfft(spectrum, n)
    s2, ln_f = guinier(volume, voxel_size)
    _, ln_weighted = guinier(weighted, voxel_size)
    intercept = note = None
    fitted = isinstance(bfactor, str)
    if fitted:
        fit = fit_bfactor(s2, ln_weighted, GUINIER_LOW_RESOLUTION, 1.0 / resolution_frequency)
        if fit is None:
            # After a whole reconstruction, a map without B-factor beats no map; the job says so.
            fitted, bfactor = False, 0.0
            note = (f"--bfactor auto: the Guinier plot from {GUINIER_LOW_RESOLUTION:g} Å to the resolution "
                    f"({1.0 / resolution_frequency:.2f} Å) has fewer than 3 shells, so no B-factor was applied; "
                    f"give one, e.g. --bfactor -80")
        else:
            bfactor, intercept = fit
    s2_voxel = (radius / (n * voxel_size)) ** 2
    spectrum *= np.exp(-float(bfactor) / 4.0 * s2_voxel).astype(np.float32)
    spectrum *= lowpass(resolution_frequency, n, voxel_size, radius)
    out = _irfft(spectrum, n)
    return Sharpened(out, float(bfactor), fitted, 1.0 / resolution_frequency, s2, ln_f, ln_weighted,
                     guinier(out, voxel_size)[1], intercept, note)



# ---- the reconstruct job's post-processing step --------------------------------------------
def parse_bfactor(text: str) -> Union[str, float]:
    """--bfactor value: 'auto' or a finite number of Å² (ValueError naming the option)."""
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--bfactor must be 'auto' or a number of Å² (e.g. -80), got {text!r}") from None
    if not np.isfinite(value) or abs(value) > 10000:
        raise ValueError(f"--bfactor must be 'auto' or a number of Å² between -10000 and 10000, got {text!r}")
    return value


@dataclass
class Postprocessed:
    """What the job adds to a reconstruction: masked FSC, the resolution it reports, sharpening."""

    mask: Optional[np.ndarray]
    mask_is_automatic: bool
    masked: Optional[MaskedFSC]
    resolution: Optional[float]   # 1/Å at FSC 0.143: the corrected masked FSC if masked, else the unmasked one
    sharpened: Optional[Sharpened]
    notes: list                   # warnings for the user: what could not be done, and what to do


def postprocess(rec, mask: Optional[np.ndarray] = None, auto: bool = False,
                bfactor: Union[None, str, float] = None, seed: int = 0) -> Postprocessed:
    """Masked FSC (``mask``, or ``auto`` to build one from the half maps) and sharpening
    (``bfactor`` 'auto' or Å²; needs ``rec.full_unfiltered``) of a :class:`.reconstruct.Reconstruction`."""
    from .fsc import crossing_frequency
    from .reconstruct import FSC_THRESHOLD

    notes = []
    if auto:
        mask = auto_mask(rec.half1, rec.half2)
        if mask is None:
            # After a whole reconstruction, the unmasked results beat no results; the job says so.
            notes.append("--auto-mask found no density above the solvent threshold, so the FSC is unmasked; "
                         "give a mask with --mask")
    masked = None
    curve, resolution = rec.fsc, rec.resolution
    if mask is not None:
        masked = masked_fsc(rec.half1, rec.half2, mask, np.random.default_rng(seed), unmasked=rec.fsc)
        curve = masked.corrected
        resolution = crossing_frequency(rec.frequencies, curve, FSC_THRESHOLD)
    sharpened = None
    if bfactor is not None:
        sharpened = sharpen(rec.full_unfiltered, rec.voxel_size, curve, resolution, bfactor)
        if sharpened.note:
            notes.append(sharpened.note)
    return Postprocessed(mask, auto, masked, resolution, sharpened, notes)


def postprocess_columns(post: Optional[Postprocessed]) -> dict:
    """fsc.csv columns the post-processing adds (name → curve over shells)."""
    if post is None or post.masked is None:
        return {}
    return {"fsc_masked": post.masked.masked, "fsc_masked_phase_randomised": post.masked.randomised,
            "fsc_masked_corrected": post.masked.corrected}


def write_postprocess(out, post: Postprocessed, voxel_size: float) -> None:
    """``mask.mrc`` (an automatic mask), ``map_sharpened.mrc`` and ``guinier.png`` into an AtomicOutputs."""
    from .mrc import write_volume
    from .plots import guinier_plot

    if post.mask is not None and post.mask_is_automatic:
        write_volume(out.tmp("mask.mrc"), post.mask, voxel_size)
    sharp = post.sharpened
    if sharp is None:
        return
    write_volume(out.tmp("map_sharpened.mrc"), sharp.map, voxel_size)
    fit = None
    if sharp.fitted:
        fit = (sharp.bfactor, sharp.intercept, 1.0 / GUINIER_LOW_RESOLUTION ** 2, 1.0 / sharp.resolution ** 2)
    # Beyond the low-pass the filtered curves plunge to the numerical floor: not worth the axis range.
    passed = sharp.s2 <= 1.0 / sharp.resolution ** 2 * (1 + 1e-9)
    guinier_plot(out.tmp("guinier.png"), sharp.s2,
                 {"map (unfiltered)": sharp.ln_f, "FSC-weighted": np.where(passed, sharp.ln_f_weighted, np.nan),
                  f"sharpened (B = {sharp.bfactor:.1f} Å², low-pass {sharp.resolution:.2f} Å)":
                      np.where(passed, sharp.ln_f_sharpened, np.nan)},
                 fit=fit, title="Guinier plot")
