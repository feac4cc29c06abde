"""Property-based hardening of recovar_jl.core.ctf against the spec's NumPy formulas."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from generators import packed_columns

from recovar_jl.core import ctf
from hardening import (ALL_DTYPES, LAYOUTS, Refused, as_user_input, computes_in, hardening, outcome,
                                   rel_error)

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
