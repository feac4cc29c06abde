"""The Julia passes over the finished sums (halfgrid_shells.jl, radial_profiles.jl) against
the NumPy formulas they replaced, on odd and even sides."""
import numpy as np
import pytest

from recovar_jl.jobs import halfgrid, radial_wiener
from recovar_jl.jobs.halfgrid import multiplicity, r2_slab, shell_table


def _sums(p, seed):
    rng = np.random.default_rng(seed)
    shape = halfgrid.half_shape(p)
    data = [(rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64) for _ in range(2)]
    weights = [rng.uniform(0.0, 2.0, shape).astype(np.float32) for _ in range(2)]
    weights[0][0, 0, 0] = 0.0     # a cell where only the floor keeps the division finite
    return data, weights


def _per_r2(p, seed):
    return np.random.default_rng(seed).uniform(0.01, 1.0, 3 * (p // 2) ** 2 + 1).astype(np.float32)


@pytest.mark.parametrize("p", [7, 8, 10, 13])
def test_shell_weight_sums_equal_the_bincount_of_the_half_weights(p):
    _, weights = _sums(p, p)
    n = p // 2 + 1
    shells = shell_table(p, n)[r2_slab(p, slice(0, p))].ravel()
    half = ((weights[0] + weights[1]) * np.float32(0.5)).ravel()
    np.testing.assert_allclose(halfgrid.shell_weight_sums(weights[0], weights[1], n),
                               np.bincount(shells, weights=half, minlength=n), rtol=1e-12)


@pytest.mark.parametrize("p,corners", [(7, True), (8, False), (10, True), (13, False)])
def test_fsc_half_of_the_divided_spectra_equals_the_numpy_formula(p, corners):
    data, weights = _sums(p, p + 1)
    floor_r2 = _per_r2(p, p)
    n = p // 2 + 1
    r2 = r2_slab(p, slice(0, p))
    floor = floor_r2[r2] * multiplicity(p)
    u = [data[h] / np.maximum(weights[h], floor) for h in (0, 1)]
    m = np.broadcast_to(multiplicity(p), r2.shape)
    shells = shell_table(p, n, corners)[r2].ravel()

    def shell_sum(x, y):
        term = (x.real * y.real + x.imag * y.imag) * m
        return np.bincount(shells, weights=term.ravel(), minlength=n + 1)[:n]

    expected = shell_sum(u[0], u[1]) / np.sqrt(shell_sum(u[0], u[0]) * shell_sum(u[1], u[1]))
    got = halfgrid.fsc_half(data[0], data[1], weights, floor_r2, corners=corners)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(halfgrid.fsc_half(data[0], data[1], weights, floor_r2, corners=corners), got)


@pytest.mark.parametrize("p", [7, 8, 12])
@pytest.mark.parametrize("which", [0, 1, None, "unfiltered"])
def test_wiener_rows_equal_the_numpy_division_on_every_slab(p, which):
    data, weights = _sums(p, 2 * p)
    lam_r2, floor_r2 = _per_r2(p, 1), _per_r2(p, 2)
    m = multiplicity(p)
    for rows in (slice(0, p), slice(2, 3), slice(p - 3, p)):
        r2 = r2_slab(p, rows)
        if which in (0, 1):
            b, w = data[which][:, rows], weights[which][:, rows]
        else:
            b, w = data[0][:, rows] + data[1][:, rows], weights[0][:, rows] + weights[1][:, rows]
        lam = np.zeros(r2.shape, np.float32) if which == "unfiltered" else lam_r2[r2]
        expected = b / np.maximum(lam * m + w, floor_r2[r2] * m)
        out = np.empty(b.shape, np.complex64)
        got = halfgrid.wiener_rows(out, data, weights, lam_r2, floor_r2, rows, which)
        assert got is out
        np.testing.assert_allclose(got, expected, rtol=2e-7, atol=0)


def test_the_half_grid_passes_name_their_bad_arguments():
    data, weights = _sums(8, 0)
    table = _per_r2(8, 0)
    out = np.empty((8, 2, 5), np.complex64)
    with pytest.raises(ValueError, match="weights2 must be a C-contiguous float32"):
        halfgrid.shell_weight_sums(weights[0], weights[1].astype(np.float64), 5)
    with pytest.raises(ValueError, match="data2 must be a C-contiguous complex64 array of shape"):
        halfgrid.fsc_half(data[0], data[1][:, :4].copy())
    with pytest.raises(ValueError, match="which must be"):
        halfgrid.wiener_rows(out, data, weights, table, table, slice(0, 2), 2)
    with pytest.raises(ValueError, match="rows must be a non-empty contiguous slice"):
        halfgrid.wiener_rows(out, data, weights, table, table, slice(0, 4, 2), 0)
    with pytest.raises(ValueError, match="out must be a C-contiguous complex64 array of shape"):
        halfgrid.wiener_rows(out, data, weights, table, table, slice(0, 3), 0)
    with pytest.raises(ValueError, match="per-|k|² tables of P = 8 need 49 entries"):
        halfgrid.wiener_rows(out, data, weights, table[:-1], table, slice(0, 2), 0)


def _radial_wiener_numpy(half1, half2, full, n_bands=radial_wiener.N_BANDS, smoothing=radial_wiener.SMOOTHING):
    """radial_wiener as it was before its Julia passes (NumPy radial means and weighting)."""
    from scipy import fft as sfft

    n = full.shape[0]
    k = np.arange(n, dtype=np.float32) - n // 2
    rbin = np.rint(np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)).astype(np.intp).ravel()
    counts = np.maximum(np.bincount(rbin), 1)

    def radial_mean(values):
        return np.bincount(rbin, weights=values.ravel().astype(np.float64), minlength=counts.size) / counts

    ky, kx = np.fft.fftfreq(n) * n, np.fft.rfftfreq(n) * n
    kr = np.sqrt(ky[:, None, None] ** 2 + ky[None, :, None] ** 2 + kx[None, None, :] ** 2).astype(np.float32)
    spectra = [sfft.rfftn(v.astype(np.float32)) for v in (half1, half2, full)]
    out = np.zeros((n, n, n), np.float32)
    for band in radial_wiener.band_weights(kr, n / 2, n_bands):
        a1, a2, af = (sfft.irfftn(s * band, s=(n, n, n)) for s in spectra)
        signal = np.maximum(radial_wiener._smooth(radial_mean(a1 * a2), smoothing), 0.0)
        noise = radial_wiener._smooth(radial_mean(np.square(a1 - a2)), smoothing) / 4.0
        weight = np.where(signal + noise > 0, signal / np.where(signal + noise > 0, signal + noise, 1.0), 1.0)
        out += weight.astype(np.float32)[rbin].reshape(n, n, n) * af
    return out


@pytest.mark.parametrize("n", [9, 16, 21, 24])
def test_radial_wiener_equals_its_numpy_formula(n):
    rng = np.random.default_rng(n)
    truth = rng.standard_normal((n, n, n)).astype(np.float32)
    h1, h2 = (truth + rng.standard_normal(truth.shape).astype(np.float32) for _ in range(2))
    got = radial_wiener.radial_wiener(h1, h2, 0.5 * (h1 + h2))
    expected = _radial_wiener_numpy(h1, h2, 0.5 * (h1 + h2))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("n", [7, 8])
def test_radius_bins_count_every_voxel_once(n):
    bin_r2, counts = radial_wiener._radius_bins(n)
    k = np.arange(n) - n // 2
    r2 = (k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2).ravel()
    np.testing.assert_array_equal(counts, np.maximum(np.bincount(bin_r2[r2]), 1))
    assert counts.sum() == n ** 3
