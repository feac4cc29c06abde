"""The rfft-packed half grid of a centred P³ spectrum of a real map, visited in slabs.

A half volume is an array ``(P, P, P//2+1)``: axes 0 and 1 are centred (index i holds frequency ``i − P//2``), axis 2 is packed: column j holds
frequency j for ``j < P/2`` and column P/2 holds ``−P/2`` (``ftu.get_real_fft_packed_last_axis_indices``).
The full-grid frequency ``−k`` of a stored ``k`` in columns ``1 … P/2−1`` is not stored: the
map is real, so its value is the conjugate. The half-volume backprojection adds that
partner's contribution into the stored cell (the fold, adjoint of ``half_volume_to_full_volume``),
so a half accumulator holds ``m × `` the full-grid value, with the column multiplicity
``m = 2`` in columns ``1 … P/2−1`` and 1 in columns 0 and P/2. Sums over the full grid are
therefore ``m``-weighted sums over the half grid.

Everything here works on slabs of axis 1 (``(P, w, P//2+1)`` blocks) so that whole-volume
temporaries are never made; :func:`slab_width` bounds a slab to about 2**22 cells.
"""
from __future__ import annotations

from typing import Callable, Iterator, Optional

import numpy as np

SLAB_CELLS = 1 << 22


def half_shape(p: int) -> tuple:
    """Shape ``(P, P, P//2+1)`` of a half volume."""
    return (p, p, p // 2 + 1)


def multiplicity(p: int) -> np.ndarray:
    """(P//2+1,) float32: how many full-grid cells each packed column stands for (1 or 2):
    1 for column 0 and, for even P, column P/2 (its frequency −P/2 is its own partner)."""
    m = np.full(p // 2 + 1, 2.0, dtype=np.float32)
    m[0] = 1.0
    if p % 2 == 0:
        m[p // 2] = 1.0
    return m


def slab_width(p: int) -> int:
    """Rows of axis 1 per slab: about SLAB_CELLS cells, at least 1."""
    return max(1, min(p, SLAB_CELLS // (p * (p // 2 + 1))))


def slabs(p: int) -> Iterator[slice]:
    """Slices of axis 1 covering 0 … P−1 in slabs of :func:`slab_width` rows."""
    w = slab_width(p)
    for start in range(0, p, w):
        yield slice(start, min(p, start + w))


def r2_slab(p: int, rows: slice) -> np.ndarray:
    """(P, w, P//2+1) int32: the integer ``|k|²`` of the half-grid cells of axis-1 rows ``rows``."""
    k0 = np.arange(p, dtype=np.int32) - p // 2
    k2 = np.arange(p // 2 + 1, dtype=np.int32)
    k2[-1] = -(p // 2)
    r2 = k0[:, None, None] ** 2 + k0[rows][None, :, None] ** 2
    return r2 + k2[None, None, :] ** 2


def shell_index_slab(p: int, rows: slice, n_shells: int, corners: bool = True) -> np.ndarray:
    """(P, w, P//2+1) int32: ``round(|k|)`` of the half-grid cells of axis-1 rows ``rows``.

    Beyond the last shell ``n_shells − 1``: ``corners`` puts them in it (as the Wiener
    filter's statistics do), otherwise they get the index ``n_shells`` (for dropping).
    ``|k|²`` is an integer: one table lookup per cell instead of a square root.
    """
    return shell_table(p, n_shells, corners)[r2_slab(p, rows)]


def shell_table(p: int, n_shells: int, corners: bool = True) -> np.ndarray:
    """int32 table: the shell (as :func:`shell_index_slab`) of each integer ``r2 = 0 … 3·(P/2)²``;
    ``values[shell_table(…)]`` is a per-``r2`` table of a per-shell curve (one lookup per cell)."""
    return _shell_table(p, n_shells - 1 if corners else n_shells)


def r2_histogram(p: int) -> np.ndarray:
    """(3·(P//2)² + 1,) float64: how many cells of the centred P³ grid (``k = i − P//2`` per
    axis) have each integer ``|k|²`` (a P² pass and P shifted adds instead of a pass over the volume)."""
    k = np.arange(p) - p // 2
    plane = np.bincount((k[:, None] ** 2 + k[None, :] ** 2).ravel())
    r2 = np.zeros(3 * (p // 2) ** 2 + 1)
    for kz in k:
        r2[kz * kz:kz * kz + plane.size] += plane
    return r2


def shell_counts(p: int, n_shells: int) -> np.ndarray:
    """(n_shells,) float64: full-grid cells of the P³ grid per shell (corners in the last)."""
    return np.bincount(shell_table(p, n_shells), weights=r2_histogram(p), minlength=n_shells)


def _shell_table(p: int, last: int) -> np.ndarray:
    """int32 table: ``min(round(√r2), last)`` for each integer ``r2 = 0 … 3·(P/2)²``."""
    key = (p, last)
    if key not in _SHELL_TABLES:
        r2 = np.arange(3 * (p // 2) ** 2 + 1, dtype=np.float64)
        _SHELL_TABLES[key] = np.minimum(np.rint(np.sqrt(r2)), last).astype(np.int32)
    return _SHELL_TABLES[key]


_SHELL_TABLES: dict = {}


def _check_half_volumes(p: int, **arrays) -> None:
    """ValueError naming the first array that is not a C-contiguous (P, P, P//2+1) half volume
    of its dtype (``name=(array, dtype)``)."""
    for name, (array, dtype) in arrays.items():
        if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != half_shape(p) \
                or not array.flags.c_contiguous:
            raise ValueError(f"{name} must be a C-contiguous {np.dtype(dtype)} array of shape {half_shape(p)}, got "
                             f"{getattr(array, 'dtype', type(array).__name__)} {getattr(array, 'shape', '')}")


def _r2_values(table: np.ndarray, p: int, dtype) -> np.ndarray:
    """A per-|k|² table (:func:`shell_table`) as a C-contiguous array of ``dtype`` long enough for P."""
    table = np.ascontiguousarray(table, dtype=dtype)
    if table.shape != (3 * (p // 2) ** 2 + 1,):
        raise ValueError(f"per-|k|² tables of P = {p} need {3 * (p // 2) ** 2 + 1} entries, got {table.shape}")
    return table


def shell_weight_sums(weights1: np.ndarray, weights2: np.ndarray, n_shells: int) -> np.ndarray:
    """(n_shells,) float64: per shell (corners in the last) the sum over the half grid of
    ``(W1 + W2)/2`` (float32 cells; ``m ×`` full-grid weights, so the full grid's sum). One
    threaded pass in Julia (RecovarCore ``shell_weight_sums!``)."""
    from .. import _julia

    p = weights1.shape[0] if getattr(weights1, "ndim", 0) == 3 else 0
    _check_half_volumes(p, weights1=(weights1, np.float32), weights2=(weights2, np.float32))
    sums = np.zeros(n_shells)
    _julia.call("shell_weight_sums", sums, weights1, weights2, shell_table(p, n_shells))
    return sums


def _fsc_from_sums(sums: np.ndarray) -> np.ndarray:
    """FSC per shell from the (3, n) cross and power sums; 0 where a shell has no power."""
    cross, power1, power2 = sums
    denom = np.sqrt(power1 * power2)
    return np.where(denom > 0, cross / np.where(denom > 0, denom, 1.0), 0.0)


def fsc_half(data1: np.ndarray, data2: np.ndarray, weights=None, floor_r2=None, corners: bool = False,
             centred: bool = True) -> np.ndarray:
    """FSC per shell 0 … P//2 of two spectra on the half grid (P, P, P//2+1) complex64
    (C-contiguous), in one threaded Julia pass (RecovarCore ``shell_fsc_sums!``).

    Equals :func:`.fsc.fsc_fourier` of the full spectra (the sums are ``m``-weighted);
    ``corners`` as in :func:`shell_index_slab` (False: dropped, as ``fsc_fourier`` does). With
    ``weights`` (two float32 half volumes) and ``floor_r2`` (float32 per |k|², see
    :func:`shell_table`) the spectra are first divided: ``B_h / max(W_h, m·floor)``.
    ``centred`` False: axes 0 and 1 in the plain ``rfftn`` layout (index i holds frequency i,
    or i − P from i > P//2 on) instead of centred. 0 where a shell has no power.
    """
    from .. import _julia

    p = data1.shape[0] if getattr(data1, "ndim", 0) == 3 else 0
    _check_half_volumes(p, data1=(data1, np.complex64), data2=(data2, np.complex64))
    n = p // 2 + 1
    if weights is None:
        weights = (np.zeros((0, 0, 0), np.float32),) * 2
        floor_r2 = np.zeros(3 * (p // 2) ** 2 + 1, np.float32)
    else:
        _check_half_volumes(p, weights1=(weights[0], np.float32), weights2=(weights[1], np.float32))
    sums = np.zeros((3, n + 1))
    _julia.call("shell_fsc_sums", sums, data1, data2, *weights, _r2_values(floor_r2, p, np.float32),
                shell_table(p, n, corners), int(centred))
    return _fsc_from_sums(sums[:, :n])


def wiener_rows(out: np.ndarray, data: list, weights: list, lam_r2: np.ndarray, floor_r2: np.ndarray,
                rows: slice, which) -> np.ndarray:
    """Full-grid values ``B / max(W + m·λ, m·floor)`` of axis-1 rows ``rows`` into ``out``
    (P, w, P//2+1) complex64, returned; one threaded Julia pass (RecovarCore ``wiener_rows!``).

    ``data`` two complex64 and ``weights`` two float32 half volumes (``m ×`` full-grid sums),
    ``lam_r2``/``floor_r2`` float32 per |k|² (:func:`shell_table`). ``which``: 0 or 1 that
    half set, None both summed, "unfiltered" both summed with λ = 0.
    """
    from .. import _julia

    p = data[0].shape[0] if getattr(data[0], "ndim", 0) == 3 else 0
    _check_half_volumes(p, data1=(data[0], np.complex64), data2=(data[1], np.complex64),
                        weights1=(weights[0], np.float32), weights2=(weights[1], np.float32))
    modes = {0: 0, 1: 1, None: 2, "unfiltered": 3}
    if which not in modes:
        raise ValueError(f"which must be 0, 1, None or 'unfiltered', got {which!r}")
    start, stop, step = rows.indices(p)
    if step != 1 or stop <= start:
        raise ValueError(f"rows must be a non-empty contiguous slice of 0 … {p - 1}, got {rows}")
    shape = (p, stop - start, p // 2 + 1)
    if not isinstance(out, np.ndarray) or out.dtype != np.complex64 or out.shape != shape or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous complex64 array of shape {shape}, got "
                         f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}")
    _julia.call("wiener_rows", out, *data, *weights, _r2_values(lam_r2, p, np.float32),
                _r2_values(floor_r2, p, np.float32), start, modes[which])
    return out


def fsc_real(volume1: np.ndarray, volume2: np.ndarray) -> np.ndarray:
    """FSC of two real cubic volumes (D, D, D), shells 0 … D//2, through their half spectra
    (float32 transforms; a ``16·D²(D//2+1)``-byte peak instead of :func:`.fsc.fsc`'s ``~80·D³``).

    Plain ``scipy.fft.rfftn`` spectra, summed in their own layout (``centred=False``): the
    centring of the volumes would multiply both spectra by the same unit phase per frequency,
    which leaves every FSC sum unchanged. (The first centred 3-D transform in Julia costs
    ~2 s of compilation and planning, 40× the transform.)
    """
    from scipy import fft as sfft

    f1, f2 = (sfft.rfftn(np.asarray(v, dtype=np.float32), workers=-1) for v in (volume1, volume2))
    return fsc_half(f1, f2, centred=False)


def centred_rows(p: int, d: int) -> tuple:
    """``(rows, signs)``: the central D of the P samples of a centred inverse DFT are the
    samples ``rows`` (int) of the plain inverse DFT of the centred spectrum, times ``signs``
    (float32 ±1). (Centring the input multiplies the output by (−1)^n; centring the output
    moves sample ``(n − P/2) mod P`` to n.) P even."""
    from .gridding import crop_slices

    rows = (np.arange(p)[crop_slices(p, d)] - p // 2) % p
    return rows, np.where(rows % 2, -1.0, 1.0).astype(np.float32)


def cropped_real_map(spectrum_slab: Callable[..., np.ndarray], p: int, d: int,
                     apodization: Optional[np.ndarray] = None) -> np.ndarray:
    """Centred real map ``(D, D, D)`` (the central D³ of the P³ inverse transform) of a half
    spectrum given slab by slab: ``spectrum_slab(rows, out)`` writes the full-grid values (not
    ``m``-scaled) of axis-1 rows ``rows`` into ``out``, a complex64 ``(P, w, P//2+1)`` buffer
    (reused from slab to slab), and returns it.

    Inverse along axis 0 per slab, kept only for the D central rows (``(D, P, P//2+1)``,
    ``(D/P)·8·P²(P//2+1)`` bytes); then per block of those rows the inverse along axis 1, kept
    for the D central rows, and the real inverse along axis 2 on those D² lines only (output
    pruning: ``irfftn`` over axes 1 and 2 would transform P·D lines along axis 2), cropped.
    ``backward`` normalisation overall (÷P³), as ``get_idft3_real``. Plain (uncentred)
    single-precision FFTs of the centred data, the centring done by :func:`centred_rows` on
    the kept samples only: no shifted copies of the volume. ``apodization`` (D,) float32, if
    given: the map is divided by it along each axis (axis 0, 1, then 2, as three separate
    divisions), block by block while the block is in cache.
    """
    from scipy import fft as sfft

    keep, signs = centred_rows(p, d)
    partial = np.empty((d, p, p // 2 + 1), dtype=np.complex64)
    buffer = np.empty(p * slab_width(p) * (p // 2 + 1), dtype=np.complex64)
    for rows in slabs(p):
        shape = (p, rows.stop - rows.start, p // 2 + 1)
        block = spectrum_slab(rows, buffer[:np.prod(shape)].reshape(shape))
        partial[:, rows, :] = sfft.ifft(block, axis=0, overwrite_x=True, workers=-1)[keep]
    del buffer
    out = np.empty((d, d, d), dtype=np.float32)
    step = max(1, SLAB_CELLS // (p * p))
    for start in range(0, d, step):
        stop = min(d, start + step)
        lines = sfft.ifft(partial[start:stop], axis=1, overwrite_x=True, workers=-1)[:, keep]
        real = sfft.irfft(lines, n=p, axis=2, workers=-1)   # (3-6× slower with overwrite_x)
        # axes 0 and 1 were centred spectra: their signs; axis 2 is packed (plain frequencies)
        block = out[start:stop]
        np.multiply(real[:, :, keep], (signs[start:stop, None] * signs[None, :])[:, :, None], out=block)
        if apodization is not None:
            block /= apodization[start:stop, None, None]
            block /= apodization[None, :, None]
            block /= apodization[None, None, :]
    return out


def undo_spline_prefilter_half(volume: np.ndarray) -> np.ndarray:
    """:func:`.gridding.undo_spline_prefilter` on a half volume holding ``m ×`` full-grid
    values; returns a new half volume, also ``m``-scaled.

    Axes 0 and 1 are whole and periodic. Along the packed axis the neighbours of columns 0
    and P/2 that are not stored (frequencies −1 and −P/2+1) are the conjugates of the
    centred partners ``(P − i) mod P`` of columns 1 and P/2−1.
    """
    p = volume.shape[0]
    m = multiplicity(p)
    v = volume / m
    for axis in (0, 1):
        v = np.roll(v, 1, axis) + 4 * v + np.roll(v, -1, axis)
    partner = (p - np.arange(p)) % p

    def mirrored(column: int) -> np.ndarray:
        c = v[:, :, column][partner][:, partner]
        return np.conj(c) if np.iscomplexobj(c) else c

    h = p // 2
    below = np.empty_like(v)   # value at frequency k − 1 of each stored column
    above = np.empty_like(v)   # value at frequency k + 1
    below[:, :, 1:h] = v[:, :, 0:h - 1]
    below[:, :, 0] = mirrored(1)
    below[:, :, h] = v[:, :, h - 1]          # −P/2 − 1 ≡ P/2 − 1 (periodic)
    above[:, :, 0:h - 1] = v[:, :, 1:h]
    above[:, :, h - 1] = v[:, :, h]          # P/2 ≡ −P/2 (periodic)
    above[:, :, h] = mirrored(h - 1)
    return ((below + 4 * v + above) * m).astype(volume.dtype)


def pair_unfolded_planes(volume: np.ndarray) -> np.ndarray:
    """Average each cell of columns 0 and P/2 with the conjugate of its partner in the same
    column, in place; returns ``volume``.

    Cubic backprojection of half images scatters only their packed pixels, so the full-grid
    sum F is not Hermitian; the fold then holds ``F(k) + conj F(−k)`` in columns 1 … P/2−1
    but only ``F(k)`` in columns 0 and P/2, whose partners are stored in the same column.
    Afterwards every cell holds ``m ×`` the Hermitian part of F, like the other orders.
    """
    p = volume.shape[0]
    partner = (p - np.arange(p)) % p
    for column in (0, p // 2):
        plane = volume[:, :, column]
        mirrored = plane[partner][:, partner]
        volume[:, :, column] = 0.5 * (plane + (np.conj(mirrored) if np.iscomplexobj(plane) else mirrored))
    return volume
