"""FSC, gridding apodisation, phantom and plots of recovar_jl.jobs (NumPy only, no Julia)."""
import numpy as np
import pytest

from recovar_jl.jobs.fsc import (
    crossing_frequency, fsc, fsc_fourier, resolution_text, shell_frequencies, shell_index, shell_means,
)
from recovar_jl.jobs.gridding import (
    apodization_1d, apodization_3d, crop_slices, disc_type, pad_size, undo_spline_prefilter,
)
from recovar_jl.jobs.phantom import gaussian_atom_phantom
from recovar_jl.jobs.plots import fsc_plot, slices_plot  # matplotlib before Julia starts (see jobs/plots.py)


# ---- FSC ------------------------------------------------------------------------------------
def test_fsc_of_a_volume_with_itself_or_a_scaled_copy_is_one(rng):
    v = rng.standard_normal((16, 16, 16))
    np.testing.assert_allclose(fsc(v, v), 1.0, atol=1e-12)
    np.testing.assert_allclose(fsc(v, 3.5 * v), 1.0, atol=1e-12)
    np.testing.assert_allclose(fsc(v, -v), -1.0, atol=1e-12)


def test_fsc_of_independent_noise_is_near_zero_beyond_the_first_shells(rng):
    curve = fsc(rng.standard_normal((32,) * 3), rng.standard_normal((32,) * 3))
    assert curve.shape == (17,)
    # Shell r has ~4πr² voxels: |FSC| ≲ 3/sqrt(count).
    assert np.all(np.abs(curve[4:]) < 3 / np.sqrt(4 * np.pi * np.arange(4, 17) ** 2) + 0.02)


def test_fsc_sees_noise_only_above_the_band_of_a_shared_signal(rng):
    n = 32
    signal = np.fft.fftshift(np.fft.fftn(rng.standard_normal((n,) * 3)))
    signal[shell_index(n) > 8] = 0
    common = np.real(np.fft.ifftn(np.fft.ifftshift(signal)))
    a = common + 0.01 * rng.standard_normal((n,) * 3)
    b = common + 0.01 * rng.standard_normal((n,) * 3)
    curve = fsc(a, b)
    assert np.all(curve[1:8] > 0.99) and np.all(np.abs(curve[10:]) < 0.2)


def test_shell_index_counts_and_shell_means():
    s = shell_index(8)
    assert s[4, 4, 4] == 0 and s[4, 4, 5] == 1 and s[0, 0, 0] == 7  # |(-4,-4,-4)| = 6.93
    np.testing.assert_allclose(shell_means(np.ones((8, 8, 8)), s, 5), 1.0)
    vals = s.astype(float) * 2
    np.testing.assert_allclose(shell_means(vals, s, 5), 2 * np.arange(5))


def test_fsc_fourier_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        fsc_fourier(np.ones((4, 4, 4)), np.ones((6, 6, 6)))


def test_crossing_frequency_interpolates_between_shells():
    f = shell_frequencies(8, 2.0)                 # shells 0..4 at r/16 1/Å
    np.testing.assert_allclose(f, np.arange(5) / 16)
    curve = np.array([1.0, 0.9, 0.5, 0.1, 0.0])
    assert crossing_frequency(f, curve, 0.3) == pytest.approx(2.5 / 16)
    assert crossing_frequency(f, np.ones(5), 0.143) is None
    assert resolution_text(None, f[-1]) == "better than 4.00 Å (Nyquist)"
    assert resolution_text(2.5 / 16, f[-1]) == "6.40 Å"


# ---- gridding apodisation -------------------------------------------------------------------
def _beta(t):
    t = np.abs(t)
    return np.where(t <= 1, 4 - 6 * t ** 2 + 3 * t ** 3, np.where(t <= 2, (2 - t) ** 3, 0.0))


def _grid_1d(q, values, n, kind):
    """1-D gridding the way the 3-D adjoints do it ("cubic-prefiltered": scatter, then the
    B-spline prefilter, as recovar's cubic adjoint)."""
    out = np.zeros(n, complex)
    c = n // 2
    if kind == "nearest":
        np.add.at(out, np.rint(q).astype(int) + c, values)
    elif kind == "linear":
        b = np.floor(q).astype(int)
        f = q - b
        np.add.at(out, b + c, values * (1 - f))
        np.add.at(out, b + 1 + c, values * f)
    else:
        b = np.floor(q).astype(int)
        for j in range(-1, 3):
            np.add.at(out, (b + j + c) % n, values * _beta(q - (b + j)))
        if kind == "cubic-prefiltered":
            lam = 4 + 2 * np.cos(2 * np.pi * np.arange(n) / n)
            out = np.fft.ifft(np.fft.fft(out) / lam)
    return out


@pytest.mark.parametrize("kind", ["nearest", "linear", "cubic", "cubic-prefiltered"])
def test_apodization_is_what_gridding_does_to_a_point_source(kind):
    # Samples of the spectrum of a point at x0 at random off-grid frequencies, gridded and
    # divided by the gridded weights: the real-space peak at x0 is attenuated by exactly the
    # apodisation at x0 / n (normalised by the fraction of the band that is filled).
    n = 32
    rng = np.random.default_rng(3)
    q = rng.uniform(-n / 2 + 3, n / 2 - 3, 200_000)
    weights = _grid_1d(q, np.ones_like(q), n, kind).real
    good = np.abs(np.arange(n) - n // 2) <= n / 2 - 5
    expected = apodization_1d(n, kind.split("-")[0], prefiltered=kind.endswith("prefiltered"))
    for x0 in (0, 6, 10, 13):
        data = _grid_1d(q, np.exp(-2j * np.pi * q * x0 / n), n, kind)
        spectrum = np.where(good, data / np.where(good, weights, 1), 0)
        f = np.fft.ifftshift(np.fft.ifft(np.fft.ifftshift(spectrum)))
        assert abs(f[n // 2 + x0]) * n / good.sum() == pytest.approx(expected[n // 2 + x0], abs=5e-3)


def test_apodization_shapes_values_and_names():
    for kind in ("nearest", "linear", "cubic"):
        for pre in (False, True):
            a = apodization_1d(10, kind, prefiltered=pre)
            assert a[5] == 1.0 and np.all(a > 0) and np.all(np.diff(a[5:]) < 0)
    np.testing.assert_allclose(apodization_1d(8, "linear")[0], (2 / np.pi) ** 2)
    np.testing.assert_allclose(apodization_1d(8, "nearest")[0], 2 / np.pi)
    np.testing.assert_allclose(apodization_1d(8, "cubic")[0], (2 / np.pi) ** 4)
    np.testing.assert_allclose(apodization_1d(8, "cubic", prefiltered=True)[0], 6 * (2 / np.pi) ** 4 / 2)
    a3 = apodization_3d(6, "linear")
    assert a3.shape == (6, 6, 6) and a3[3, 3, 3] == 1.0
    assert disc_type("linear") == "linear_interp" and disc_type("cubic") == "cubic"
    with pytest.raises(ValueError):
        disc_type("quintic")


def test_undo_spline_prefilter_inverts_the_periodic_141_solve(rng):
    # calculate_spline_coefficients solves data[i] = C[i-1] + 4 C[i] + C[i+1] (periodic) per axis.
    coeffs = rng.standard_normal((6, 5, 4)) + 1j * rng.standard_normal((6, 5, 4))
    data = coeffs
    for axis in range(3):
        n = data.shape[axis]
        lam = (4 + 2 * np.cos(2 * np.pi * np.arange(n) / n)).reshape([-1 if a == axis else 1 for a in range(3)])
        data = np.fft.ifft(np.fft.fft(data, axis=axis) * lam, axis=axis)
    np.testing.assert_allclose(undo_spline_prefilter(coeffs), data, atol=1e-12)


def test_pad_size_and_crop_keep_the_origin():
    assert pad_size(32, 2) == 64 and pad_size(32, 1) == 32 and pad_size(30, 1.5) == 46
    s = crop_slices(64, 32)
    assert (s.start, s.stop) == (16, 48) and 64 // 2 - s.start == 32 // 2
    with pytest.raises(ValueError):
        pad_size(32, 0.5)


# ---- phantom --------------------------------------------------------------------------------
def test_phantom_is_deterministic_positive_and_away_from_the_box_edge():
    a = gaussian_atom_phantom(32)
    b = gaussian_atom_phantom(32)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (32, 32, 32) and a.dtype == np.float32 and a.max() == 1.0 and a.min() >= 0
    edge = np.ones(a.shape, bool)
    edge[4:-4, 4:-4, 4:-4] = False
    assert a[edge].max() < 1e-3
    assert not np.array_equal(gaussian_atom_phantom(32, seed=1), a)
    assert (a > 0.2).mean() > 0.01  # a molecule, not a few dots


def test_phantom_is_not_symmetric_under_axis_swaps_or_inversion():
    a = gaussian_atom_phantom(24).astype(np.float64)
    for other in (a.transpose(1, 0, 2), a.transpose(0, 2, 1), a[::-1, ::-1, ::-1]):
        assert np.corrcoef(a.ravel(), other.ravel())[0, 1] < 0.7


# ---- plots ----------------------------------------------------------------------------------
def test_plots_write_png_files(tmp_path):

    f = shell_frequencies(16, 3.0)
    curve = np.linspace(1, -0.05, f.size)
    fsc_plot(tmp_path / "fsc.tmp", f, {"halves": curve, "truth": curve ** 2},
             [(0.143, "FSC = 0.143", crossing_frequency(f, curve, 0.143)), (0.5, "truth", None)], title="t")
    slices_plot(tmp_path / "slices.tmp", {"map": gaussian_atom_phantom(16), "gt": gaussian_atom_phantom(16)}, 3.0)
    for name in ("fsc.tmp", "slices.tmp"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
