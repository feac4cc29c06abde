"""recovar_jl.core.ctf: parity with recovar 1.0.5, CTF physics, dose filters, bad input."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import assert_close, load_fixture
from generators import packed_columns, packed_pixel_indices
from hardening import LAYOUTS, Refused, as_user_input, computes_in, hardening, outcome, rel_error
from recovar_jl.core import ctf

FIX = load_fixture("ctf")

# recovar's grids are float32 and it forms s² = x² + y² and atan2(y, x) in float32 before
# promoting to the parameters' dtype, so even its float64 CTF carries ~2e-6 relative error
# at high defocus (γ ~ 10³ rad). We compute everything in float64 from the same float32 grid
# values: both our dtypes agree with recovar's float64 output to this tolerance, and our
# float64 output agrees with the textbook formula to ~1e-11 (test below).
PARITY = 1e-5


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

def grid(n, voxel_size):
    """recovar's float32 frequency grid (docs/conventions.md §3), as float64 values."""
    g = (np.arange(n, dtype=np.float32) - np.float32(n // 2)) / np.float32(n * voxel_size)
    return g.astype(np.float64)


def numpy_ctf(kx, ky, p):
    """Textbook CTF (docs/conventions.md §9) with atan2, float64: (n, npts)."""
    p = np.asarray(p, np.float64)
    dfu, dfv, ang, volt, cs, w, phase, bfac, contrast = (p[:, i, None] for i in range(9))
    volt = volt * 1000
    lam = 12.2642598 / np.sqrt(volt * (1 + 9.78475598e-7 * volt))
    s2 = kx**2 + ky**2
    theta = np.arctan2(ky, kx)
    df = 0.5 * (dfu + dfv + (dfu - dfv) * np.cos(2 * (theta - np.deg2rad(ang))))
    gamma = 2 * np.pi * (-0.5 * df * lam * s2 + 0.25 * cs * 1e7 * lam**3 * s2**2) - np.deg2rad(phase)
    return (np.sqrt(1 - w**2) * np.sin(gamma) - w * np.cos(gamma)) * np.exp(-bfac / 4 * s2) * contrast


def full_grid_points(n, voxel_size):
    g = grid(n, voxel_size)
    return np.tile(g, n), np.repeat(g, n)  # kx = column frequency, ky = row frequency


def ctf_row(dfu=15000.0, dfv=14000.0, ang=20.0, volt=300.0, cs=2.7, w=0.1, phase=0.0, bfac=0.0, contrast=1.0):
    return [dfu, dfv, ang, volt, cs, w, phase, bfac, contrast]


def fixture_case(name):
    meta = FIX[f"{name}__meta"]
    return FIX[f"{name}__params"], int(meta[0]), float(meta[1]), bool(meta[2]), FIX[f"{name}__expected"]


SPA_CASES = ["spa_32_full", "spa_32_half", "spa_64_half", "spa_128_half", "spa_33_full", "spa_33_half", "spa_65_half"]
ANTI_CASES = ["antialiased_32_full", "antialiased_32_half", "antialiased_31_full", "antialiased_31_half"]
SQUARED_CASES = ["squared_32_full", "squared_32_half", "squared_31_full", "squared_31_half"]


# ---------------------------------------------------------------------------------------
# parity with recovar
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SPA_CASES)
def test_spa_ctf_matches_recovar_on_real_parameter_rows(name):
    params, side, voxel, half, expected = fixture_case(name)
    out32 = ctf.CTFEvaluator()(params, (side, side), voxel, half_image=half)
    assert out32.dtype == np.float32
    assert_close(out32, expected, rtol=1e-5, name=name)
    out64 = ctf.CTFEvaluator()(params.astype(np.float64), (side, side), voxel, half_image=half)
    assert out64.dtype == np.float64
    assert_close(out64, expected, rtol=PARITY, name=name + " float64")


@pytest.mark.parametrize("name", ANTI_CASES)
def test_antialiased_ctf_matches_recovar(name):
    params, side, voxel, half, expected = fixture_case(name)
    evaluator = ctf.CTFEvaluator(mode=ctf.CTFMode.SPA_ANTIALIASED)
    assert_close(evaluator(params, (side, side), voxel, half_image=half), expected, rtol=1e-5, name=name)
    assert_close(evaluator(params.astype(np.float64), (side, side), voxel, half_image=half), expected,
                 rtol=PARITY, name=name)


@pytest.mark.parametrize("name", SQUARED_CASES)
def test_antialiased_ctf_squared_matches_recovar(name):
    params, side, voxel, half, expected = fixture_case(name)
    out = ctf.compute_antialiased_ctf_squared(ctf.CTFEvaluator(), params, (side, side), voxel, half_image=half)
    assert_close(out, expected, rtol=1e-5, name=name)


@pytest.mark.parametrize("name", ["tilt_series_32_full", "tilt_series_32_half"])
def test_tilt_series_ctf_matches_recovar(name):
    params, side, voxel, half, expected = fixture_case(name)
    dose_per_tilt, angle_per_tilt = FIX[f"{name}__meta"][3:5]
    evaluator = ctf.CTFEvaluator(ctf.CTFMode.TILT_SERIES, dose_per_tilt, angle_per_tilt)
    assert_close(evaluator(params, (side, side), voxel, half_image=half), expected, rtol=1e-5, name=name)
    assert_close(evaluator(params.astype(np.float64), (side, side), voxel, half_image=half), expected,
                 rtol=PARITY, name=name)


@pytest.mark.parametrize("name", ["cryo_et_32_full", "cryo_et_33_half"])
def test_cryo_et_ctf_matches_recovar(name):
    params, side, voxel, half, expected = fixture_case(name)
    evaluator = ctf.CTFEvaluator(mode=ctf.CTFMode.CRYO_ET)
    assert_close(evaluator(params, (side, side), voxel, half_image=half), expected, rtol=1e-5, name=name)
    assert_close(evaluator(params.astype(np.float64), (side, side), voxel, half_image=half), expected,
                 rtol=PARITY, name=name)


def test_evaluate_ctf_matches_recovar_at_arbitrary_frequencies():
    freqs, params = FIX["evaluate__freqs"], FIX["evaluate__params"]
    out = ctf.evaluate_ctf(freqs, params)
    assert out.shape == (params.shape[0], freqs.shape[0]) and out.dtype == np.float32
    assert_close(out, FIX["evaluate__expected"], rtol=1e-5)
    assert_close(ctf.evaluate_ctf(freqs, params.astype(np.float64)), FIX["evaluate__expected"], rtol=PARITY)


@pytest.mark.parametrize("name", ["dose_32_full", "dose_32_half", "dose_33_half"])
def test_dose_filters_match_recovar(name):
    side, apix, half, voltage = FIX[f"{name}__meta"]
    out = ctf.get_dose_filters(apix, (int(side), int(side)), FIX[f"{name}__dose"], FIX[f"{name}__angles"],
                               voltage, half_image=bool(half))
    assert out.dtype == np.float32
    assert_close(out, FIX[f"{name}__expected"], rtol=1e-6, name=name)


def test_dose_filters_from_tilt_number_match_recovar():
    out = ctf.get_dose_filters_from_tilt_number(1.3, (32, 32), 2.5, 3.0, FIX["dose_tilt_number__numbers"], 200.0)
    assert_close(out, FIX["dose_tilt_number__expected"], rtol=1e-6)


@pytest.mark.parametrize("voltage", [300.0, 200.0])
def test_critical_exposure_matches_recovar(voltage):
    freq = FIX["critical__freq"]
    out = ctf.critical_exposure(freq, voltage)
    expected = FIX[f"critical_{int(voltage)}__expected"]
    assert out.dtype == np.float32 and np.isinf(out[0]) and np.isinf(expected[0])
    assert_close(out[1:], expected[1:], rtol=1e-6)


# ---------------------------------------------------------------------------------------
# physics and layout properties
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("side", [16, 17])
def test_evaluator_equals_textbook_formula_with_atan2(side):
    rng = np.random.default_rng(0)
    params = np.array([ctf_row(dfu=rng.uniform(5000, 30000), dfv=rng.uniform(5000, 30000),
                               ang=rng.uniform(0, 180), phase=rng.uniform(0, 90), bfac=rng.uniform(-20, 100),
                               contrast=rng.uniform(0.5, 1.5), w=rng.uniform(0, 0.3)) for _ in range(3)])
    kx, ky = full_grid_points(side, 1.7)
    out = ctf.CTFEvaluator()(params, (side, side), 1.7)
    np.testing.assert_allclose(out, numpy_ctf(kx, ky, params), rtol=0, atol=1e-11)


def test_value_at_zero_frequency_is_minus_amplitude_contrast_times_contrast():
    params = np.array([ctf_row(w=0.1), ctf_row(w=0.07, phase=90.0, contrast=0.5), ctf_row(w=0.0, bfac=80.0)])
    out = ctf.CTFEvaluator()(params, (8, 8), 1.0)
    dc = out[:, 4 * 8 + 4]
    np.testing.assert_allclose(dc[[0, 2]], [-0.1, 0.0], atol=1e-7)
    # with a 90° phase plate: sqrt(1 - W²)·sin(-90°)·0.5 - W·cos(90°)·0.5
    np.testing.assert_allclose(dc[1], -0.5 * np.sqrt(1 - 0.07**2), atol=1e-7)
    half = ctf.CTFEvaluator()(params, (8, 8), 1.0, half_image=True)
    np.testing.assert_array_equal(half[:, 4 * 5], dc)  # DC = packed row 4, column 0


@pytest.mark.parametrize("side", [8, 9])
def test_ctf_is_symmetric_under_k_to_minus_k(side):
    params = np.array([ctf_row(ang=33.0, phase=20.0, bfac=30.0), ctf_row(dfu=28000, dfv=26000, ang=-70.0)])
    img = ctf.CTFEvaluator()(params.astype(np.float64), (side, side), 1.3).reshape(2, side, side)
    # index i has frequency i - side//2; -k lives at 2·(side//2) - i (in range for i ≥ 1 if even)
    lo = 1 if side % 2 == 0 else 0
    core = img[:, lo:, lo:]
    np.testing.assert_allclose(core, core[:, ::-1, ::-1], rtol=0, atol=1e-14)


def test_ctf_vanishes_where_gamma_crosses_multiples_of_pi():
    # W = 0, no astigmatism, no phase shift: ctf = sin γ, γ(s²) = -π λ Δf s² + (π/2) Cs λ³ s⁴.
    dfu, volt, cs = 12000.0, 300.0, 2.7
    v = volt * 1000
    lam = 12.2642598 / np.sqrt(v * (1 + 9.78475598e-7 * v))
    a, b = np.pi / 2 * cs * 1e7 * lam**3, -np.pi * lam * dfu
    zeros_s2 = []
    for m in range(1, 12):  # a s⁴ + b s² + m π = 0, smaller root
        disc = b * b - 4 * a * m * np.pi
        zeros_s2.append((-b - np.sqrt(disc)) / (2 * a))
    s = np.sqrt(np.array(zeros_s2))
    angle = np.linspace(0, 2 * np.pi, len(s), endpoint=False)
    freqs = np.stack([s * np.cos(angle), s * np.sin(angle)], axis=1)
    params = np.array([ctf_row(dfu=dfu, dfv=dfu, ang=0.0, w=0.0)])
    at_zero = ctf.evaluate_ctf(freqs, params)[0]
    np.testing.assert_allclose(at_zero, 0.0, atol=1e-9)
    # and the sign flips across each zero
    below = ctf.evaluate_ctf(freqs * (1 - 1e-3), params)[0]
    above = ctf.evaluate_ctf(freqs * (1 + 1e-3), params)[0]
    assert np.all(np.sign(below) == -np.sign(above))


@pytest.mark.parametrize("side", [10, 11])
@pytest.mark.parametrize("mode", list(ctf.CTFMode))
def test_half_image_equals_packed_full_image(side, mode):
    params = np.zeros((3, 11))
    params[:, :9] = [ctf_row(phase=10.0, bfac=20.0), ctf_row(dfu=25000, dfv=24000), ctf_row(ang=90)]
    params[:, 9] = [0.0, 3.0, 40.0]
    params[:, 10] = [0.0, 20.0, -45.0]
    evaluator = ctf.CTFEvaluator(mode, dose_per_tilt=2.0, angle_per_tilt=3.0)
    full = evaluator(params, (side, side), 1.2)
    half = evaluator(params, (side, side), 1.2, half_image=True)
    np.testing.assert_array_equal(half, full[:, packed_pixel_indices(side)])


@pytest.mark.parametrize("side", [8, 9])
def test_antialiased_ctf_is_box_filtered_double_resolution_ctf(side):
    params = np.array([ctf_row(dfu=20000, dfv=18000, bfac=50.0), ctf_row(phase=45.0)])
    kx, ky = full_grid_points(2 * side, 1.4)
    fine = numpy_ctf(kx, ky, params).reshape(2, 2 * side, 2 * side)
    padded = np.pad(fine, ((0, 0), (1, 1), (1, 1)))
    box = sum(padded[:, 1 + dr:1 + dr + 2 * side, 1 + dc:1 + dc + 2 * side]
              for dr in (-1, 0, 1) for dc in (-1, 0, 1)) / 9
    expected = box[:, ::2, ::2].reshape(2, -1)
    out = ctf.CTFEvaluator(mode=ctf.CTFMode.SPA_ANTIALIASED)(params, (side, side), 1.4)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-11)
    squared = ctf.compute_antialiased_ctf_squared(ctf.CTFEvaluator(), params, (side, side), 1.4)
    box2 = np.pad(fine**2, ((0, 0), (1, 1), (1, 1)))
    expected2 = (sum(box2[:, 1 + dr:1 + dr + 2 * side, 1 + dc:1 + dc + 2 * side]
                     for dr in (-1, 0, 1) for dc in (-1, 0, 1)) / 9)[:, ::2, ::2].reshape(2, -1)
    np.testing.assert_allclose(squared, expected2, rtol=0, atol=1e-11)


@pytest.mark.parametrize("half", [False, True])
def test_antialiased_ctf_squared_of_any_callable_equals_fused_path(half):
    params = np.array([ctf_row(), ctf_row(dfu=9000, dfv=8800, phase=30.0)], np.float32)
    evaluator = ctf.CTFEvaluator()
    calls = []

    def plain(p, shape, voxel_size, half_image=False):
        calls.append((shape, half_image))
        return evaluator(p, shape, voxel_size, half_image=half_image)

    generic = ctf.compute_antialiased_ctf_squared(plain, params, (12, 12), 1.1, half_image=half)
    fused = ctf.compute_antialiased_ctf_squared(evaluator, params, (12, 12), 1.1, half_image=half)
    assert calls == [((24, 24), False)]
    assert generic.dtype == fused.dtype == np.float32
    assert_close(generic, fused, rtol=1e-6)


def test_antialiased_ctf_squared_is_not_square_of_antialiased_ctf():
    params = np.array([ctf_row(dfu=25000, dfv=24000)])
    anti = ctf.CTFEvaluator(mode=ctf.CTFMode.SPA_ANTIALIASED)(params, (16, 16), 1.0)
    squared = ctf.compute_antialiased_ctf_squared(ctf.CTFEvaluator(), params, (16, 16), 1.0)
    assert np.all(squared >= anti**2 - 1e-6)  # mean of squares ≥ square of mean (Jensen), 1/9-weights
    assert not np.allclose(squared, anti**2, atol=1e-3)


@pytest.mark.parametrize("half", [False, True])
def test_tilt_series_is_dose_filter_from_tilt_number_times_spa(half):
    params = np.zeros((4, 10), np.float32)
    params[:, :9] = ctf_row(phase=5.0)
    params[:, 0] += [0, 1000, 2000, 3000]
    params[:, 9] = [0, 1, 4, 9]
    params[1:, 3] = 200.0  # only the first row's voltage enters the dose filter
    out = ctf.CTFEvaluator(ctf.CTFMode.TILT_SERIES, 4.0, 3.0)(params, (12, 12), 1.5, half_image=half)
    spa = ctf.CTFEvaluator()(params[:, :9], (12, 12), 1.5, half_image=half)
    dose = ctf.get_dose_filters_from_tilt_number(1.5, (12, 12), 4.0, 3.0, params[:, 9], 300.0, half_image=half)
    assert_close(out, spa * dose, rtol=1e-6)


def test_cryo_et_is_dose_filter_times_spa():
    params = np.zeros((3, 12))
    params[:, :9] = ctf_row(bfac=20.0)
    params[:, 9] = [0.0, 30.0, 90.0]
    params[:, 10] = [0.0, 30.0, -60.0]
    out = ctf.CTFEvaluator(mode=ctf.CTFMode.CRYO_ET)(params, (10, 10), 2.0)
    spa = ctf.CTFEvaluator()(params[:, :9], (10, 10), 2.0)
    dose = ctf.get_dose_filters(2.0, (10, 10), params[:, 9], params[:, 10], params[0, 3])
    np.testing.assert_allclose(out, spa * dose, rtol=1e-12, atol=1e-15)


def test_dose_filter_formula_tilt_factor_and_cutoff():
    dose = np.array([0.0, 20.0, 200.0])
    tilt = np.array([0.0, 60.0, 0.0])
    out = ctf.get_dose_filters(1.0, (16, 16), dose, tilt, 300.0)
    kx, ky = full_grid_points(16, 1.0)
    s = np.sqrt(kx**2 + ky**2)
    with np.errstate(divide="ignore"):
        ne = 0.245 * s**-1.665 + 2.81
    expected = np.exp(-dose[:, None] / (2 * ne)) * (dose[:, None] < 2.51284 * ne) * np.cos(np.deg2rad(tilt))[:, None]
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out[:, 8 * 16 + 8], [1.0, 0.5, 1.0], atol=1e-7)  # DC = cos(tilt)
    assert np.any(out[2] == 0) and np.all(out[0] == 1)


def test_critical_exposure_scales_by_three_quarters_at_200_kv_and_broadcasts():
    freq = np.array([0.02, 0.1, 0.3])
    e300 = ctf.critical_exposure(freq, 300)
    e200 = ctf.critical_exposure(freq, 200.0000001)
    np.testing.assert_allclose(e200 - 2.81, 0.75 * (e300 - 2.81), rtol=1e-12)
    np.testing.assert_allclose(e300, 0.245 * freq**-1.665 + 2.81, rtol=1e-12)
    both = ctf.critical_exposure(freq[:, None], np.array([200.0, 300.0]))
    assert both.shape == (3, 2)
    np.testing.assert_allclose(both, np.stack([e200, e300], axis=1), rtol=1e-9)
    assert ctf.critical_exposure(0.1, 300).shape == ()
    assert np.isinf(ctf.critical_exposure(0.0, 300))


def test_float32_output_is_float64_output_rounded():
    rng = np.random.default_rng(3)
    params = np.array([ctf_row(dfu=rng.uniform(5000, 30000), ang=rng.uniform(0, 180)) for _ in range(4)])
    out32 = ctf.CTFEvaluator()(params.astype(np.float32), (64, 64), 0.8)
    out64 = ctf.CTFEvaluator()(params.astype(np.float32).astype(np.float64), (64, 64), 0.8)
    np.testing.assert_array_equal(out32, out64.astype(np.float32))


def test_absurd_phases_stay_bounded():
    # 1e-5 Å pixels put γ near 1e12 rad, beyond the vectorised sine's range: exact fallback
    params = np.array([ctf_row(w=0.1, bfac=-1e-12), ctf_row(w=0.0)])
    out = ctf.CTFEvaluator()(params, (6, 6), 1e-5)
    assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1.0 + 1e-12)
    anti = ctf.CTFEvaluator(mode=ctf.CTFMode.SPA_ANTIALIASED)(params, (6, 6), 1e-5)
    assert np.all(np.abs(anti) <= 1.0 + 1e-12)


def test_dtype_follows_parameters():
    row = np.array([ctf_row()])
    assert ctf.CTFEvaluator()(row.astype(np.float32), (4, 4), 1.0).dtype == np.float32
    assert ctf.CTFEvaluator()(row, (4, 4), 1.0).dtype == np.float64
    assert ctf.CTFEvaluator()(row.astype(np.int64), (4, 4), 1.0).dtype == np.float32
    freqs = np.zeros((3, 2), np.float32)
    assert ctf.evaluate_ctf(freqs, row.astype(np.float32)).dtype == np.float32
    assert ctf.evaluate_ctf(freqs.astype(np.float64), row.astype(np.float32)).dtype == np.float64


def test_batch_of_one_empty_batch_and_extra_columns():
    row = np.array([ctf_row(phase=12.0)])
    one = ctf.CTFEvaluator()(row, (6, 6), 1.0)
    padded = np.hstack([row, np.full((1, 5), 7.0)])
    np.testing.assert_array_equal(ctf.CTFEvaluator()(padded, (6, 6), 1.0), one)
    assert ctf.CTFEvaluator()(np.zeros((0, 9)), (6, 6), 1.0).shape == (0, 36)
    assert ctf.CTFEvaluator()(np.zeros((0, 9)), (6, 6), 1.0, half_image=True).shape == (0, 24)
    assert ctf.CTFEvaluator(mode=3)(np.zeros((0, 11)), (6, 6), 1.0).shape == (0, 36)
    assert ctf.evaluate_ctf(np.zeros((0, 2)), row).shape == (1, 0)
    # non-contiguous and Fortran-ordered parameters are accepted
    many = np.asfortranarray(np.repeat(row, 3, axis=0))
    np.testing.assert_array_equal(ctf.CTFEvaluator()(many[::2], (6, 6), 1.0), np.repeat(one, 2, axis=0))


# ---------------------------------------------------------------------------------------
# the evaluator objects
# ---------------------------------------------------------------------------------------

def test_evaluator_is_immutable_and_hashable_by_fields():
    a = ctf.CTFEvaluator(ctf.CTFMode.TILT_SERIES, 3.0, 2.0)
    b = ctf.CTFEvaluator(mode=2, dose_per_tilt=3, angle_per_tilt=2)
    assert a == b and hash(a) == hash(b) and a.mode is ctf.CTFMode.TILT_SERIES
    assert a != ctf.CTFEvaluator(ctf.CTFMode.TILT_SERIES, 3.0, 2.5)
    assert ctf.CTFEvaluator() == ctf.CTFEvaluator(mode="spa")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.mode = ctf.CTFMode.SPA
    assert len({a, b, ctf.CTFEvaluator()}) == 2


def test_as_ctf_evaluator_returns_evaluators_and_wraps_callables():
    evaluator = ctf.CTFEvaluator()
    assert ctf.as_ctf_evaluator(evaluator) is evaluator
    seen = {}

    def legacy(ctf_params, image_shape, voxel_size, half_image=False, **kwargs):
        seen.update(half_image=half_image, **kwargs)
        return evaluator(ctf_params, image_shape, voxel_size, half_image=half_image)

    wrapped = ctf.as_ctf_evaluator(legacy)
    assert ctf.as_ctf_evaluator(wrapped) is wrapped
    row = np.array([ctf_row()])
    np.testing.assert_array_equal(wrapped(row, (6, 6), 1.0, half_image=True, extra=1),
                                  evaluator(row, (6, 6), 1.0, half_image=True))
    assert seen == {"half_image": True, "extra": 1}
    with pytest.raises(TypeError, match="fn_or_evaluator"):
        ctf.as_ctf_evaluator(42)


def test_param_index_and_mode_values():
    assert [int(i) for i in ctf.CTFParamIndex] == list(range(11))
    assert ctf.CTFParamIndex.CONTRAST == 8 and ctf.CTFParamIndex.TILT_ANGLE == 10
    assert [m.name for m in ctf.CTFMode] == ["SPA", "SPA_ANTIALIASED", "TILT_SERIES", "CRYO_ET"]


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("params, mode, match", [
    (np.zeros((2, 8)), ctf.CTFMode.SPA, "ctf_params"),
    (np.ones((2, 9)), ctf.CTFMode.TILT_SERIES, "ctf_params"),
    (np.ones((2, 10)), ctf.CTFMode.CRYO_ET, "ctf_params"),
    (np.ones(9), ctf.CTFMode.SPA, "ctf_params"),
    (np.array([ctf_row(dfu=np.nan)]), ctf.CTFMode.SPA, "ctf_params"),
    (np.array([ctf_row(bfac=np.inf)]), ctf.CTFMode.SPA, "ctf_params"),
    (np.array([ctf_row(volt=0.0)]), ctf.CTFMode.SPA, "ctf_params"),
    (np.array([ctf_row(w=1.5)]), ctf.CTFMode.SPA, "ctf_params"),
])
def test_bad_parameters_raise_value_error_naming_ctf_params(params, mode, match):
    with pytest.raises(ValueError, match=match):
        ctf.CTFEvaluator(mode)(params, (8, 8), 1.0)


def test_bad_voxel_size_image_shape_and_mode_raise_value_error_naming_them():
    row = np.array([ctf_row()])
    for bad in (-1.0, 0.0, np.nan):
        with pytest.raises(ValueError, match="voxel_size"):
            ctf.CTFEvaluator()(row, (8, 8), bad)
    with pytest.raises(ValueError, match="image_shape"):
        ctf.CTFEvaluator()(row, (8, 6), 1.0)
    with pytest.raises(ValueError, match="image_shape"):
        ctf.CTFEvaluator()(row, (8, 0), 1.0)
    for bad_mode in (7, "phase_plate", -1):
        with pytest.raises(ValueError, match="mode"):
            ctf.CTFEvaluator(mode=bad_mode)
    with pytest.raises(ValueError, match="dose_per_tilt"):
        ctf.CTFEvaluator(ctf.CTFMode.TILT_SERIES, dose_per_tilt=np.nan)
    with pytest.raises(ValueError, match="freqs"):
        ctf.evaluate_ctf(np.zeros((4, 1)), row)
    with pytest.raises(TypeError, match="ctf_params"):
        ctf.evaluate_ctf(np.zeros((4, 2)), row.astype(np.complex64))


def test_bad_dose_filter_input_raises_value_error_naming_the_argument():
    with pytest.raises(ValueError, match="Apix"):
        ctf.get_dose_filters(-1.0, (8, 8), [0.0], [0.0], 300.0)
    with pytest.raises(ValueError, match="tilt_angles"):
        ctf.get_dose_filters(1.0, (8, 8), [0.0, 1.0], [0.0], 300.0)
    with pytest.raises(ValueError, match="cumulative_dose"):
        ctf.get_dose_filters(1.0, (8, 8), [np.nan], [0.0], 300.0)
    with pytest.raises(ValueError, match="voltage"):
        ctf.get_dose_filters(1.0, (8, 8), [0.0], [0.0], np.inf)
    with pytest.raises(ValueError, match="freq"):
        ctf.critical_exposure(np.array([-0.1]), 300.0)
    with pytest.raises(ValueError, match="ctf_fn"):
        ctf.compute_antialiased_ctf_squared(lambda p, s, v: np.zeros((1, 5)), np.array([ctf_row()]), (4, 4), 1.0)


# --- property-based hardening (hypothesis): the spec's NumPy formulas, any dtype and layout -------

PARAM_DTYPES = ["float16", "float32", "float64", "int32", "int64", "complex64", "object"]


def reference_ctf(freqs, params):
    x, y = freqs[:, 0], freqs[:, 1]
    p = params[:, :, None]
    V = 1000 * p[:, 3]
    lam = 12.2642598 / np.sqrt(V * (1 + 9.78475598e-7 * V))
    Cs = 1e7 * p[:, 4]
    alpha = np.deg2rad(p[:, 2])
    phi = np.deg2rad(p[:, 6])
    s2 = x ** 2 + y ** 2
    theta = np.arctan2(y, x)
    df = 0.5 * (p[:, 0] + p[:, 1] + (p[:, 0] - p[:, 1]) * np.cos(2 * (theta - alpha)))
    gamma = 2 * np.pi * (-0.5 * df * lam * s2 + 0.25 * Cs * lam ** 3 * s2 ** 2) - phi
    w = p[:, 5]
    return (np.sqrt(1 - w ** 2) * np.sin(gamma) - w * np.cos(gamma)) * np.exp(-p[:, 7] * s2 / 4) * p[:, 8]


def pixel_frequencies(N, voxel_size):
    rows, cols = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    return np.stack([(cols - N // 2).ravel(), (rows - N // 2).ravel()], -1) / (N * voxel_size)


@st.composite
def ctf_parameter_rows(draw, n, columns=9):
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    p = np.zeros((n, columns))
    p[:, 0] = rng.uniform(5000, 25000, n)
    p[:, 1] = p[:, 0] + rng.uniform(-800, 800, n)
    p[:, 2] = rng.uniform(-180, 180, n)
    p[:, 3] = rng.choice([100.0, 200.0, 300.0], n)
    p[:, 4] = rng.uniform(0, 4, n)
    p[:, 5] = rng.uniform(0, 0.3, n)
    p[:, 6] = rng.uniform(0, 90, n)
    p[:, 7] = rng.uniform(0, 100, n)
    p[:, 8] = rng.uniform(0.5, 1.5, n)
    if columns > 9:
        p[:, 9:] = rng.uniform(0, 40, (n, columns - 9))
    return p


@hardening(40)
@given(st.data())
def test_evaluate_ctf_matches_the_formula_for_any_dtype_and_layout(data):
    n = data.draw(st.integers(0, 4), label="n")
    p_count = data.draw(st.integers(0, 20), label="p")
    columns = data.draw(st.sampled_from([9, 10, 11, 12]))
    params = data.draw(ctf_parameter_rows(n, columns))
    seed = data.draw(st.integers(0, 2**31 - 1))
    freqs = np.random.default_rng(seed).uniform(-0.3, 0.3, (p_count, data.draw(st.sampled_from([2, 3]))))
    if p_count:
        freqs[0, :2] = 0  # DC
    fdtype = data.draw(st.sampled_from(["float32", "float64", "float16", "complex64", "object"]), label="freqs dtype")
    pdtype = data.draw(st.sampled_from(PARAM_DTYPES), label="params dtype")
    f_arg, fdtype, f_seen = as_user_input(freqs, fdtype, data.draw(st.sampled_from(LAYOUTS)))
    p_arg, pdtype, p_seen = as_user_input(params, pdtype, data.draw(st.sampled_from(LAYOUTS)))
    empty_list = isinstance(f_arg, list) and p_count == 0 or isinstance(p_arg, list) and n == 0
    try:
        out = outcome(ctf.evaluate_ctf, f_arg, p_arg, names=("freqs", "ctf_params"))
    except Refused as exc:
        non_real = {"complex64", "complex128", "object"}
        integer_volt = pdtype.startswith("int") and n and np.any(np.round(params[:, 5]) != 0)
        assert fdtype in non_real or pdtype in non_real or empty_list or integer_volt, str(exc)
        return
    assert fdtype not in ("complex64", "object") and pdtype not in ("complex64", "object")
    dtype = np.result_type(computes_in(fdtype), computes_in(pdtype))
    assert out.shape == (n, p_count) and out.dtype == dtype
    expected = reference_ctf(f_seen.astype(np.float64), p_seen.astype(np.float64))
    # float32 defoci of ~2e4 Å make γ ~ 1e2 rad: allow float32 phase rounding.
    tol = 1e-9 if dtype == np.float64 else (2e-3 if "float16" in (fdtype, pdtype) else 5e-4)
    if "float16" in (fdtype, pdtype):
        expected = reference_ctf(f_seen.astype(np.float16).astype(np.float64), p_seen.astype(np.float64))
    assert rel_error(out, expected) <= tol


@hardening(30)
@given(st.data())
def test_ctf_evaluator_is_evaluate_ctf_on_the_pixel_grid_and_half_is_packed(data):
    N = data.draw(st.integers(1, 9), label="N")
    n = data.draw(st.integers(0, 3), label="n")
    voxel_size = data.draw(st.sampled_from([0.5, 1.0, 1.7, np.float32(2.5), 3]))
    params = data.draw(ctf_parameter_rows(n)).astype(np.float32)
    full = ctf.CTFEvaluator()(params, (N, N), voxel_size)
    assert full.shape == (n, N * N) and full.dtype == np.float32
    expected = reference_ctf(pixel_frequencies(N, float(voxel_size)), params.astype(np.float64))
    assert rel_error(full, expected) <= 5e-4
    half = ctf.CTFEvaluator()(params, [N, N], voxel_size, half_image=True)
    np.testing.assert_allclose(half, full.reshape(n, N, N)[:, :, packed_columns(N)].reshape(n, N * (N // 2 + 1)), rtol=0,
                               atol=1e-6 * max(1.0, float(np.abs(full).max(initial=0))))
    # Rows are independent: each image's CTF equals its own single-row evaluation.
    for i in range(n):
        np.testing.assert_array_equal(ctf.CTFEvaluator()(params[i:i + 1], (N, N), voxel_size)[0], full[i])


@hardening(30)
@given(st.data())
def test_dose_filters_match_the_formula(data):
    N = data.draw(st.integers(1, 8))
    n = data.draw(st.integers(0, 4))
    seed = data.draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    dose = rng.uniform(0, 100, n)
    tilt = rng.uniform(-60, 60, n)
    voltage = data.draw(st.sampled_from([200.0, 300, np.float32(300)]))
    Apix = data.draw(st.sampled_from([1.0, 2.3, 4]))
    ddtype = data.draw(st.sampled_from(["float32", "float64", "int64", "float16"]))
    d_arg, ddtype, d_seen = as_user_input(dose, ddtype, data.draw(st.sampled_from(LAYOUTS)))
    try:
        out = outcome(ctf.get_dose_filters, Apix, (N, N), d_arg, tilt, voltage, names=("cumulative_dose",))
    except Refused as exc:
        assert isinstance(d_arg, list) and n == 0, str(exc)
        return
    s = np.linalg.norm(pixel_frequencies(N, Apix), axis=1)
    k = 0.75 if np.isclose(float(voltage), 200) else 1.0
    with np.errstate(divide="ignore"):
        Ne = 0.245 * k * s ** -1.665 + 2.81
    D = d_seen.astype(np.float64)[:, None]
    expected = np.exp(-D / (2 * Ne)) * (D < 2.51284 * Ne) * np.cos(np.deg2rad(tilt))[:, None]
    assert out.shape == (n, N * N)
    # Pixels on the cut-off D = 2.51284·Ne may fall either side in float32: compare the rest.
    near_cut = np.abs(D - 2.51284 * Ne) <= 1e-4 * np.maximum(D, 1)
    assert rel_error(np.where(near_cut, 0, out), np.where(near_cut, 0, expected)) <= 1e-5


BAD = {
    "ctf_params": [np.zeros((2, 5)), np.zeros(9), np.full((1, 9), np.nan), np.full((1, 9), np.inf), "p", None,
                   np.ones((1, 9)) * 1j, [[1, 2], [3]]],
    "image_shape": [(4, 5), (0, 0), (4,), "4x4", None, (4.5, 4.5), 4],
    "voxel_size": [0, -1.0, float("nan"), float("inf"), "1", None, [1.0, 2.0], 1j],
}


@hardening(50)
@given(st.data())
def test_evaluator_refuses_bad_arguments_naming_them(data):
    which = data.draw(st.sampled_from(sorted(BAD)))
    bad = data.draw(st.sampled_from(BAD[which]))
    half = data.draw(st.booleans())
    args = {"ctf_params": np.tile([[15000, 15000, 0, 300, 2.7, 0.1, 0, 0, 1]], (2, 1)).astype(np.float32),
            "image_shape": (4, 4), "voxel_size": 1.5}
    args[which] = bad
    with pytest.raises(Refused):
        outcome(lambda: ctf.CTFEvaluator()(args["ctf_params"], args["image_shape"], args["voxel_size"],
                                           half_image=half), names=(which,))


@hardening(30)
@given(st.data())
def test_evaluate_ctf_with_nan_or_inf_anywhere_is_refused_naming_the_argument(data):
    which = data.draw(st.sampled_from(["freqs", "ctf_params"]))
    value = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    freqs = np.zeros((3, 2), np.float32)
    params = np.tile([[15000, 15000, 0, 300, 2.7, 0.1, 0, 0, 1]], (2, 1)).astype(np.float32)
    target = freqs if which == "freqs" else params
    i = data.draw(st.integers(0, target.size - 1))
    target.reshape(-1)[i] = value
    with pytest.raises(Refused):
        outcome(ctf.evaluate_ctf, freqs, params, names=(which,))
