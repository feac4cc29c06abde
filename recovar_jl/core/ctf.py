"""recovar_jl.core.ctf (mirrors recovar.core.ctf): contrast transfer function and dose filters.

The CTF of every image is computed by one fused Julia kernel over images × pixels (threaded
over images) on the full or the rfft-packed half grid. Values are computed in float64 and
rounded once; the output dtype is the promotion of float32 with the parameters' dtype.

Parameter rows follow :class:`CTFParamIndex` (docs/conventions.md §8): defocus U/V (Å), astigmatism angle
(degrees), voltage (kV), Cs (mm), amplitude contrast W, phase shift (degrees), B-factor (Å²),
contrast scale, then dose (or tilt number) and tilt angle for cryo-ET.
"""
from __future__ import annotations

import dataclasses
import numbers
from enum import IntEnum
from typing import Callable

import numpy as np

from .. import _julia
from .. import _validate as v

__all__ = [
    "CTFMode",
    "CTFEvaluator",
    "as_ctf_evaluator",
    "CTFParamIndex",
    "evaluate_ctf",
    "critical_exposure",
    "get_dose_filters",
    "get_dose_filters_from_tilt_number",
]


class CTFParamIndex(IntEnum):
    """Column of each CTF parameter in a `ctf_params` row."""

    DFU = 0
    DFV = 1
    DFANG = 2
    VOLT = 3
    CS = 4
    W = 5
    PHASE_SHIFT = 6
    BFACTOR = 7
    CONTRAST = 8
    DOSE = 9
    TILT_ANGLE = 10


class CTFMode(IntEnum):
    """Imaging modality: how :class:`CTFEvaluator` turns parameters into a CTF.

    SPA: plain CTF. SPA_ANTIALIASED: CTF on a 2× finer grid, 3×3 box mean, decimated.
    TILT_SERIES: CTF × dose filter from the tilt number (column 9) and the evaluator's
    `dose_per_tilt` / `angle_per_tilt`. CRYO_ET: CTF × dose filter from the per-image
    dose (column 9) and tilt angle (column 10).
    """

    SPA = 0
    SPA_ANTIALIASED = 1
    TILT_SERIES = 2
    CRYO_ET = 3


# Minimum number of parameter columns each mode reads.
_REQUIRED_COLUMNS = {CTFMode.SPA: 9, CTFMode.SPA_ANTIALIASED: 9, CTFMode.TILT_SERIES: 10, CTFMode.CRYO_ET: 11}
_DOSE_MODE = {CTFMode.TILT_SERIES: 1, CTFMode.CRYO_ET: 2}


def _as_mode(mode) -> CTFMode:
    if isinstance(mode, str):
        try:
            return CTFMode[mode.strip().upper()]
        except KeyError:
            pass
    elif isinstance(mode, numbers.Integral) and not isinstance(mode, (bool, np.bool_)):
        try:
            return CTFMode(int(mode))
        except ValueError:
            pass
    names = ", ".join(m.name for m in CTFMode)
    raise ValueError(f"mode must be a CTFMode ({names}), got {mode!r}")


def _npix(side: int, half_image: bool) -> int:
    return side * (side // 2 + 1) if half_image else side * side


def _ctf_params(ctf_params, columns: int, name: str = "ctf_params") -> np.ndarray:
    """Validated (n, K ≥ columns) float32/float64 C-contiguous parameter array."""
    params = v.real_array(ctf_params, name, ndim=2)
    if params.shape[1] < columns:
        raise ValueError(f"{name} must have at least {columns} columns (one row per image: "
                         f"DFU, DFV, DFANG, VOLT, CS, W, PHASE_SHIFT, BFACTOR, CONTRAST"
                         f"{', DOSE' if columns > 9 else ''}{', TILT_ANGLE' if columns > 10 else ''}), "
                         f"got shape {params.shape}")
    if params.shape[0]:
        if np.any(params[:, CTFParamIndex.VOLT] <= 0):
            raise ValueError(f"{name} column {int(CTFParamIndex.VOLT)} (VOLT, kV) must be positive")
        if np.any(np.abs(params[:, CTFParamIndex.W]) > 1):
            raise ValueError(f"{name} column {int(CTFParamIndex.W)} (W, amplitude contrast) must lie in [-1, 1]")
    return params


def _ctf_on_grid(params: np.ndarray, side: int, voxel_size: float, half_image: bool, *,
                 antialias: int = 0, dose_mode: int = 0, dose_per_tilt: float = 0.0,
                 angle_per_tilt: float = 0.0) -> np.ndarray:
    dtype = np.result_type(np.float32, params.dtype)
    shape = (params.shape[0], _npix(side, half_image))
    v.check_memory(int(np.prod(shape)) * dtype.itemsize, "the CTF array")
    out = np.empty(shape, dtype=dtype)
    params = np.ascontiguousarray(params, dtype=dtype)
    _julia.call("ctf_grid", out, params, int(side), float(voxel_size), int(half_image), int(antialias),
                int(dose_mode), float(dose_per_tilt), float(angle_per_tilt))
    return out


@dataclasses.dataclass(frozen=True)
class CTFEvaluator:
    """CTF of a batch of images for one imaging modality; immutable, hashable by its fields.

    Call as ``evaluator(ctf_params, image_shape, voxel_size, *, half_image=False)``.

    Parameters
    ----------
    mode : CTFMode
        Imaging modality (also accepted: its int value or name).
    dose_per_tilt : float
        e⁻/Å² per tilt; TILT_SERIES only.
    angle_per_tilt : float
        Tilt increment in degrees; TILT_SERIES only.
    """

    mode: CTFMode = CTFMode.SPA
    dose_per_tilt: float = 0.0
    angle_per_tilt: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "mode", _as_mode(self.mode))
        object.__setattr__(self, "dose_per_tilt", float(v.real_number(self.dose_per_tilt, "dose_per_tilt")))
        object.__setattr__(self, "angle_per_tilt", float(v.real_number(self.angle_per_tilt, "angle_per_tilt")))

    def __call__(self, ctf_params, image_shape, voxel_size, *, half_image=False):
        """Evaluate the CTF of every image.

        Parameters
        ----------
        ctf_params : array_like, shape (n, K)
            One parameter row per image (K ≥ 9; ≥ 10 for TILT_SERIES; ≥ 11 for CRYO_ET).
        image_shape : tuple of int
            (N, N) image size in pixels (square).
        voxel_size : float
            Pixel size in Å.
        half_image : bool
            Evaluate on the rfft-packed half grid (N·(N//2+1) pixels, Nyquist column at −N/2).

        Returns
        -------
        ndarray, shape (n, N²) or (n, N·(N//2+1))
            float32 for float32/integer parameters, float64 for float64 parameters.
        """
        params = _ctf_params(ctf_params, _REQUIRED_COLUMNS[self.mode])
        side = v.square_image_shape(image_shape)[0]
        voxel_size = v.positive_scalar(voxel_size, "voxel_size")
        half_image = v.flag(half_image, "half_image")
        if self.mode == CTFMode.SPA_ANTIALIASED:
            return _ctf_on_grid(params, side, voxel_size, half_image, antialias=1)
        return _ctf_on_grid(params, side, voxel_size, half_image, dose_mode=_DOSE_MODE.get(self.mode, 0),
                            dose_per_tilt=self.dose_per_tilt, angle_per_tilt=self.angle_per_tilt)


@dataclasses.dataclass(frozen=True)
class _LegacyCTFAdapter:
    """Wraps a plain function ``fn(ctf_params, image_shape, voxel_size, half_image=…)`` as an evaluator."""

    _fn: Callable

    def __call__(self, ctf_params, image_shape, voxel_size, *, half_image=False, **kwargs):
        return self._fn(ctf_params, image_shape, voxel_size, half_image=half_image, **kwargs)


def as_ctf_evaluator(fn_or_evaluator):
    """Return `fn_or_evaluator` if it is already an evaluator, else wrap the callable.

    The wrapped callable receives ``(ctf_params, image_shape, voxel_size, half_image=…, **kwargs)``.
    """
    if isinstance(fn_or_evaluator, (CTFEvaluator, _LegacyCTFAdapter)):
        return fn_or_evaluator
    if not callable(fn_or_evaluator):
        raise TypeError(f"fn_or_evaluator must be callable, got {type(fn_or_evaluator).__name__}")
    return _LegacyCTFAdapter(fn_or_evaluator)


def evaluate_ctf(freqs, ctf_params):
    """CTF of each image at given spatial frequencies.

    Parameters
    ----------
    freqs : array_like, shape (p, 2)
        Frequencies in 1/Å; column 0 is x (image column frequency), column 1 is y.
        Further columns are ignored.
    ctf_params : array_like, shape (n, K ≥ 9)
        One parameter row per image (:class:`CTFParamIndex`).

    Returns
    -------
    ndarray, shape (n, p)
        dtype: promotion of the two inputs' float dtypes (integers count as float32).
    """
    freqs = v.real_array(freqs, "freqs", ndim=2)
    if freqs.shape[1] < 2:
        raise ValueError(f"freqs must have shape (p, 2), got {freqs.shape}")
    params = _ctf_params(ctf_params, 9)
    dtype = np.result_type(freqs.dtype, params.dtype)
    shape = (params.shape[0], freqs.shape[0])
    v.check_memory(int(np.prod(shape)) * dtype.itemsize, "the CTF array")
    out = np.empty(shape, dtype=dtype)
    _julia.call("evaluate_ctf", out, np.ascontiguousarray(freqs, dtype=dtype),
                np.ascontiguousarray(params, dtype=dtype))
    return out


def critical_exposure(freq, voltage):
    """Critical exposure (e⁻/Å²) at spatial frequency `freq` (1/Å): 0.245·k·freq^−1.665 + 2.81.

    k = 0.75 where `voltage` is 200 kV (``np.isclose``), else 1; +inf at frequency 0.
    `freq` and `voltage` broadcast; the result has `freq`'s float dtype.
    """
    freq_shape = v.as_array(freq, "freq").shape  # real_array turns 0-d input into shape (1,)
    freq = v.real_array(freq, "freq", finite=False).reshape(freq_shape)
    if np.isnan(freq).any():
        raise ValueError("freq contains NaN")
    if (freq < 0).any():
        raise ValueError("freq must be non-negative (a spatial frequency magnitude)")
    voltage = v.real_array(voltage, "voltage", dtype=np.float64).reshape(np.shape(voltage))
    scale = np.where(np.isclose(voltage, 200), 0.75, 1.0)
    try:
        freq_b, scale_b = np.broadcast_arrays(freq, scale)
    except ValueError:
        raise ValueError(f"freq {freq.shape} and voltage {voltage.shape} do not broadcast") from None
    out = np.empty(freq_b.shape, dtype=freq.dtype)
    _julia.call("critical_exposure", out.reshape(-1), np.ascontiguousarray(freq_b).reshape(-1),
                np.ascontiguousarray(scale_b).reshape(-1))
    return out


def get_dose_filters(Apix, image_shape, cumulative_dose, tilt_angles, voltage, *, half_image=False):
    """Dose-weighting filters: exp(−D/(2 Ne))·[D < 2.51284 Ne]·cos(tilt) per image and pixel.

    Parameters
    ----------
    Apix : float
        Pixel size in Å.
    image_shape : tuple of int
        (N, N), square.
    cumulative_dose : array_like, shape (n,)
        Dose received before each image, e⁻/Å².
    tilt_angles : array_like, shape (n,)
        Degrees.
    voltage : float
        kV (selects the 200 kV scale of the critical exposure).
    half_image : bool
        rfft-packed half grid.

    Returns
    -------
    ndarray, shape (n, N²) or (n, N·(N//2+1)); dtype promoted from float32 and the inputs.
    """
    Apix = v.positive_scalar(Apix, "Apix")
    side = v.square_image_shape(image_shape)[0]
    dose = v.real_array(cumulative_dose, "cumulative_dose", ndim=1)
    tilt = v.real_array(tilt_angles, "tilt_angles", ndim=1)
    if tilt.shape != dose.shape:
        raise ValueError(f"tilt_angles must have the shape of cumulative_dose {dose.shape}, got {tilt.shape}")
    voltage = float(v.real_number(voltage, "voltage"))
    half_image = v.flag(half_image, "half_image")
    dtype = np.result_type(np.float32, dose.dtype, tilt.dtype)
    shape = (dose.shape[0], _npix(side, half_image))
    v.check_memory(int(np.prod(shape)) * dtype.itemsize, "the dose filters")
    out = np.empty(shape, dtype=dtype)
    _julia.call("dose_filters", out, np.ascontiguousarray(dose, dtype=np.float64),
                np.ascontiguousarray(tilt, dtype=np.float64), int(side), float(Apix), float(voltage),
                int(half_image))
    return out


def get_dose_filters_from_tilt_number(Apix, image_shape, dose_per_tilt, angle_per_tilt, tilt_numbers, voltage, *,
                                      half_image=False):
    """Dose filters for tilt numbers: dose = number·dose_per_tilt, tilt = angle_per_tilt·⌈number/2⌉.

    Same output as :func:`get_dose_filters`; `tilt_numbers` has shape (n,).
    """
    dose_per_tilt = float(v.real_number(dose_per_tilt, "dose_per_tilt"))
    angle_per_tilt = float(v.real_number(angle_per_tilt, "angle_per_tilt"))
    numbers_ = v.real_array(tilt_numbers, "tilt_numbers", ndim=1)
    wide = numbers_.astype(np.float64)
    dose = (wide * dose_per_tilt).astype(numbers_.dtype)
    tilt = (angle_per_tilt * np.ceil(wide / 2)).astype(numbers_.dtype)
    return get_dose_filters(Apix, image_shape, dose, tilt, voltage, half_image=half_image)


def compute_antialiased_ctf_squared(ctf_fn, ctf_params, image_shape, voxel_size, *, half_image=False):
    """CTF² with 2× antialiasing: ``ctf_fn`` on the (2N, 2N) grid, squared, 3×3 box mean, decimated.

    Not the square of the SPA_ANTIALIASED CTF: the square is taken before filtering. With
    ``ctf_fn`` an SPA :class:`CTFEvaluator` the whole computation is one fused kernel;
    any other callable is called as ``ctf_fn(ctf_params, (2N, 2N), voxel_size)``.

    Returns
    -------
    ndarray, shape (n, N²) or (n, N·(N//2+1)) when `half_image`.
    """
    shape = v.square_image_shape(image_shape)
    side = shape[0]
    voxel_size = v.positive_scalar(voxel_size, "voxel_size")
    half_image = v.flag(half_image, "half_image")
    if isinstance(ctf_fn, CTFEvaluator) and ctf_fn.mode == CTFMode.SPA:
        params = _ctf_params(ctf_params, 9)
        return _ctf_on_grid(params, side, voxel_size, half_image, antialias=2)
    if not callable(ctf_fn):
        raise TypeError(f"ctf_fn must be callable, got {type(ctf_fn).__name__}")
    fine = v.real_array(ctf_fn(ctf_params, (2 * side, 2 * side), voxel_size), "ctf_fn's result", finite=False)
    if fine.ndim not in (2, 3) or int(np.prod(fine.shape[1:])) != 4 * side * side:
        raise ValueError(f"ctf_fn's result must have shape (n, {4 * side * side}) for the "
                         f"{(2 * side, 2 * side)} grid, got {fine.shape}")
    n = fine.shape[0]
    fine = fine.reshape(n, 4 * side * side)
    out = np.empty((n, _npix(side, half_image)), dtype=fine.dtype)
    _julia.call("ctf_box_downsample", out, fine, int(side), int(half_image), 1)
    return out
