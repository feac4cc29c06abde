"""recovar_jl.core.cubic_interpolation (mirrors recovar.core.cubic_interpolation).

Periodic cubic B-spline interpolation in any number of dimensions (docs/conventions.md §6).
Basis ``β(t) = 4 − 6t² + 3|t|³`` (|t| ≤ 1), ``(2 − |t|)³`` (1 ≤ |t| ≤ 2), so samples and
coefficients are related by ``data[i] = C[i−1] + 4C[i] + C[i+1]`` (indices modulo N), and
``S(x) = Σ_{j=floor(x)−1}^{floor(x)+2} C[j mod N]·β(x − j)`` reproduces the data at integer
points. Kernels: RecovarCore ``src/interp/spline.jl``.
"""
from __future__ import annotations

import itertools
import numbers

import numpy as np

from recovar_jl import _julia
from recovar_jl import _validate as v

__all__ = ["calculate_spline_coefficients", "interpolate_with_spline", "map_coordinates",
           "map_coordinates_with_cubic_spline"]


def calculate_spline_coefficients(data):
    """Periodic cubic spline coefficients of an array (every axis).

    Parameters
    ----------
    data : array of any shape, real or complex.

    Returns
    -------
    Array of the same shape and dtype (integers compute in float32): along each axis in
    turn the solution of ``C[i−1] + 4C[i] + C[i+1] = data[i]`` (periodic), i.e.
    ``ifft(fft(C)/(4 + 2cos(2πk/N)))``. Preserves Hermitian symmetry of centered spectra.
    """
    arr = v.numeric_array(data, "data", finite=False)
    coeffs = np.array(arr, copy=True, order="C")
    if coeffs.ndim and coeffs.size:
        _julia.call("calculate_spline_coefficients", coeffs)
    elif coeffs.ndim == 0:
        coeffs = coeffs  # no axis: nothing to solve (as recovar)
    return coeffs


def _coordinate_list(coords, ndim, name):
    if isinstance(coords, np.ndarray):
        items = [coords[i] for i in range(coords.shape[0])] if coords.ndim else []
    else:
        try:
            items = list(coords)
        except TypeError:
            raise TypeError(f"{name} must be a sequence of {ndim} coordinate arrays") from None
    if len(items) != ndim:
        raise ValueError(f"{name}: number of coordinate arrays ({len(items)}) must match coefficient "
                         f"dimensions ({ndim})")
    shapes = [v.as_array(c, f"{name}[{d}]").shape for d, c in enumerate(items)]
    arrays = [v.real_array(c, f"{name}[{d}]", finite=False) for d, c in enumerate(items)]
    shape = shapes[0]
    for d, s in enumerate(shapes):
        if s != shape:
            raise ValueError(f"{name} arrays must share one shape: {name}[0] has {shape}, {name}[{d}] has {s}")
    dtype = np.result_type(*[a.dtype for a in arrays])
    return arrays, shape, dtype


def _fill_number(value, name):
    """The fill value `value` (argument `name`) as a complex number."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Number):
        arr = np.asarray(value)
        if arr.shape != () or arr.dtype.kind not in "biufc":
            raise TypeError(f"{name} must be a number, got {value!r}")
        value = arr.item()
    return complex(value)


def _output_dtype(fill, data_dtype, coord_dtype, wrap):
    """The output dtype, complex when a complex fill value `fill` can be read."""
    out_dtype = np.result_type(data_dtype, coord_dtype)
    if not wrap and fill.imag != 0 and out_dtype.kind != "c":
        out_dtype = v.complex_dtype(out_dtype)
    return out_dtype


def _evaluate(coeffs, arrays, shape, coord_dtype, shift, wrap, fill):
    """S(x + shift) at the points given by `arrays` (one per axis); `fill` is complex."""
    out_dtype = _output_dtype(fill, coeffs.dtype, coord_dtype, wrap)
    m = int(np.prod(shape))
    out = np.empty(m, dtype=out_dtype)
    if m:
        points = np.stack([a.reshape(-1).astype(coord_dtype) for a in arrays], axis=-1)
        if shift:
            points += coord_dtype.type(shift)
        _julia.call("interpolate_with_spline", out, coeffs, np.ascontiguousarray(points), int(wrap),
                    fill.real, fill.imag)
    return out.reshape(shape)


def _evaluate_low_order(data, arrays, shape, coord_dtype, order, wrap, fill):
    """Order 0 (nearest sample, ties to even) or 1 (multilinear) interpolation of `data`
    itself at the points `arrays`; indices wrap or read the complex `fill` outside, as the
    cubic path. A non-finite coordinate gives NaN."""
    out_dtype = _output_dtype(fill, data.dtype, coord_dtype, wrap)
    points = [a.reshape(-1).astype(coord_dtype) for a in arrays]
    finite = np.logical_and.reduce([np.isfinite(x) for x in points]) if points else np.ones(0, bool)
    points = [np.where(finite, x, 0) for x in points]
    base = [np.rint(x) if order == 0 else np.floor(x) for x in points]
    frac = [x - b for x, b in zip(points, base)]
    base = [b.astype(np.int64) for b in base]
    out = np.zeros(finite.shape, dtype=out_dtype)
    for offsets in itertools.product(range(order + 1), repeat=data.ndim):
        index, inside = [], np.ones(finite.shape, bool)
        weight = np.ones(finite.shape, dtype=coord_dtype)
        for d, o in enumerate(offsets):
            i = base[d] + o
            n = data.shape[d]
            if wrap:
                i = np.mod(i, n)
            else:
                inside &= (i >= 0) & (i < n)
                i = np.clip(i, 0, n - 1)
            index.append(i)
            if order == 1:
                weight = weight * (frac[d] if o else 1 - frac[d])
        value = data[tuple(index)].astype(out_dtype)
        if not wrap:
            value = np.where(inside, value, np.asarray(fill if out_dtype.kind == "c" else fill.real, out_dtype))
        out += weight * value
    out[~finite] = np.nan
    return out.reshape(shape)


def _mode(mode, name):
    if not isinstance(mode, str):
        raise TypeError(f"{name} must be a string ('wrap' or a fill mode), got {mode!r}")
    return mode == "wrap"


def _coefficient_array(x, name):
    arr = v.numeric_array(x, name, finite=False)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension")
    return arr


def interpolate_with_spline(spline_coeffs, coords, boundary_mode="wrap", fill_value=0.0):
    """Evaluate a cubic spline from its coefficients (recovar's index convention).

    Parameters
    ----------
    spline_coeffs : N-dimensional coefficients (`calculate_spline_coefficients`).
    coords : sequence of N arrays of one shape (coordinate along each axis, grid units).
    boundary_mode : "wrap" (periodic) or any other string (stencil points outside the
        array read ``fill_value``).

    Returns
    -------
    Array of ``coords[0].shape``: at point x, ``Σ C[b + o]·Π_d β(x_d − b_d − o_d + 1)`` over
    ``b = floor(x)``, ``o ∈ {0,…,3}^N`` — i.e. ``S(x + 1)``; use
    `map_coordinates_with_cubic_spline` for ``S(x)``.
    """
    coeffs = _coefficient_array(spline_coeffs, "spline_coeffs")
    wrap = _mode(boundary_mode, "boundary_mode")
    arrays, shape, dtype = _coordinate_list(coords, coeffs.ndim, "coords")
    return _evaluate(coeffs, arrays, shape, dtype, 1, wrap, _fill_number(fill_value, "fill_value"))


def map_coordinates_with_cubic_spline(coefficients, coordinates, mode="wrap", cval=0.0):
    """Evaluate the periodic cubic spline ``S`` of precomputed coefficients at coordinates.

    Parameters
    ----------
    coefficients : N-dimensional coefficients.
    coordinates : array (N, ...) or sequence of N arrays of one shape (grid units; index
        ``i`` is the sample ``i``).
    mode : "wrap" (periodic) or a fill mode using ``cval``.

    Returns
    -------
    ``S(x) = Σ_j C[j]·Π_d β(x_d − j_d)``, ``j_d = floor(x_d) − 1 … floor(x_d) + 2``, shape of
    one coordinate array.
    """
    coeffs = _coefficient_array(coefficients, "coefficients")
    wrap = _mode(mode, "mode")
    arrays, shape, dtype = _coordinate_list(coordinates, coeffs.ndim, "coordinates")
    return _evaluate(coeffs, arrays, shape, dtype, 0, wrap, _fill_number(cval, "cval"))


def map_coordinates(input, coordinates, order, mode="wrap", cval=0.0):
    """Interpolate ``input`` at ``coordinates``, exact at integer points.

    Parameters
    ----------
    input : N-dimensional array (the samples).
    coordinates : array (N, ...) or sequence of N arrays of one shape (grid units).
    order : 3 (periodic cubic spline, as recovar: equals
        ``map_coordinates_with_cubic_spline(calculate_spline_coefficients(input), …)``),
        1 (multilinear) or 0 (nearest sample, ties to even); any other order is a
        ValueError. (recovar accepts only 3: docs/differences.md.)
    mode, cval : "wrap" (periodic) or a fill mode: samples outside ``input`` read ``cval``.

    Returns
    -------
    Array of the shape of one coordinate array.
    """
    if np.ndim(order) != 0 or isinstance(order, (bool, np.bool_)) or not isinstance(order, numbers.Integral):
        raise TypeError(f"order must be an integer (0, 1 or 3), got {order!r}")
    if order not in (0, 1, 3):
        raise ValueError(f"order must be 0, 1 or 3 (spline order), got {order}")
    data = v.numeric_array(input, "input", finite=False)  # errors name `input`, not `data`
    if data.ndim == 0:
        raise ValueError("input must have at least one dimension")
    if order == 3:
        return map_coordinates_with_cubic_spline(calculate_spline_coefficients(data), coordinates, mode, cval)
    wrap = _mode(mode, "mode")
    arrays, shape, dtype = _coordinate_list(coordinates, data.ndim, "coordinates")
    return _evaluate_low_order(data, arrays, shape, dtype, int(order), wrap, _fill_number(cval, "cval"))
