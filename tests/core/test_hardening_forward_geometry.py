"""Property-based hardening of forward and geometry: compositions and closed forms.

forward_model = CTF ⊙ slice_volume and adjoint_forward_model = adjoint_slice_volume(CTF ⊙ ·)
for any dtype and layout; compute_AtAv = Aᵀ(A v / σ²); translations = the phase ramp
formula; nearest grid indices = the rounding of the grid coordinates.
"""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from generators import ctf_rows

from recovar_jl.core import ctf, forward, geometry, slicing
from recovar_jl.core.configs import ForwardModelConfig
from hardening import (LAYOUTS, Refused, as_user_input, computes_in, hardening, outcome, random_values,
                                   rel_error, rotations)

DISC = ["nearest", "linear_interp", "cubic"]


def config(N, disc_type, evaluator=None):
    return ForwardModelConfig(image_shape=(N, N), volume_shape=(N, N, N), grid_size=N, voxel_size=1.7, padding=0,
                              disc_type=disc_type, ctf=evaluator or ctf.CTFEvaluator())


@hardening(20)
@given(st.data())
def test_forward_model_is_ctf_times_slice_for_any_dtype_and_layout(data):
    N = data.draw(st.integers(1, 7), label="N")
    n = data.draw(st.integers(0, 3), label="n")
    disc = data.draw(st.sampled_from(DISC), label="disc_type")
    half_image = data.draw(st.booleans(), label="half_image")
    skip_ctf = data.draw(st.booleans(), label="skip_ctf")
    # few distinct dtypes: each (dtype, order, layout) is one Julia compilation
    vdtype = data.draw(st.sampled_from(["complex64", "float64", "float16", "int32"]))
    lay = data.draw(st.sampled_from(LAYOUTS), label="layout")
    seed = data.draw(st.integers(0, 2**31 - 1))
    R = data.draw(rotations(n)).astype(np.float32)
    params = ctf_rows(seed, n).astype(np.float32)
    vol, vdtype, seen = as_user_input(random_values(seed, N ** 3), vdtype, lay)
    cfg = config(N, disc)
    try:
        out = outcome(forward.forward_model, cfg, vol, params, R, skip_ctf=skip_ctf, half_image=half_image,
                      names=("volume",))
    except Refused as exc:
        raise AssertionError(f"numeric volume refused: {exc}")
    canonical = np.asarray(seen).astype(np.complex128 if seen.dtype.kind == "c" else np.float64)
    sl = slicing.slice_volume(canonical, R.astype(np.float64), (N, N), (N, N, N), disc, half_image=half_image)
    expected = sl if skip_ctf else sl * ctf.CTFEvaluator()(params.astype(np.float64), (N, N), 1.7,
                                                           half_image=half_image)
    assert out.shape == expected.shape
    assert rel_error(out, expected) <= 1e-4


@hardening(15)
@given(st.data())
def test_adjoint_forward_model_is_backprojection_of_ctf_weighted_images(data):
    N = data.draw(st.integers(1, 6))
    n = data.draw(st.integers(0, 3))
    disc = data.draw(st.sampled_from(["nearest", "linear_interp"]))
    sdtype = data.draw(st.sampled_from(["float32", "complex64", "float64", "bool", "int64"]))
    lay = data.draw(st.sampled_from(LAYOUTS))
    seed = data.draw(st.integers(0, 2**31 - 1))
    R = data.draw(rotations(n)).astype(np.float32)
    params = ctf_rows(seed, n).astype(np.float32)
    slices, sdtype, seen = as_user_input(random_values(seed, (n, N * N)), sdtype, lay)
    try:
        out = outcome(forward.adjoint_forward_model, config(N, disc), slices, params, R, names=("slices",))
    except Refused as exc:
        assert lay == "list" and n == 0, str(exc)
        return
    weights = ctf.CTFEvaluator()(params, (N, N), 1.7).astype(np.float64)
    expected = slicing.adjoint_slice_volume(seen.astype(np.complex128).reshape(n, N * N) * weights, R, (N, N),
                                            (N, N, N), disc)
    assert out.shape == (N ** 3,)
    assert rel_error(out, expected) <= 1e-4


@hardening(12)
@given(st.data())
def test_compute_AtAv_is_adjoint_of_forward_over_noise(data):
    N = data.draw(st.integers(2, 6))
    n = data.draw(st.integers(1, 3))
    disc = data.draw(st.sampled_from(["nearest", "linear_interp"]))
    noise_kind = data.draw(st.sampled_from(["scalar", "per-image", "per-pixel", "full"]))
    seed = data.draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    R = data.draw(rotations(n))
    params = ctf_rows(seed, n)
    vol = random_values(seed, N ** 3)
    noise = {"scalar": 2.5, "per-image": rng.uniform(1, 3, (n, 1)), "per-pixel": rng.uniform(1, 3, (1, N * N)),
             "full": rng.uniform(1, 3, (n, N * N))}[noise_kind]
    cfg = config(N, disc)
    (AtAv,) = forward.compute_AtAv(cfg, vol, params, R, noise)
    Av = forward.forward_model(cfg, vol, params, R)
    expected = forward.adjoint_forward_model(cfg, Av / noise, params, R)
    assert rel_error(AtAv, expected) <= 1e-9


@hardening(30)
@given(st.data())
def test_translate_images_is_the_phase_ramp_for_any_dtype_and_layout(data):
    N = data.draw(st.integers(1, 8))
    n = data.draw(st.integers(0, 3))
    half = data.draw(st.booleans())
    idtype = data.draw(st.sampled_from(["complex64", "complex128", "float32", "float64", "int32", "bool", "object"]))
    tdtype = data.draw(st.sampled_from(["float32", "float64", "int64", "float16", "complex64"]))
    seed = data.draw(st.integers(0, 2**31 - 1))
    W = N // 2 + 1 if half else N
    images, idtype, img_seen = as_user_input(random_values(seed, (n, N * W)), idtype,
                                             data.draw(st.sampled_from(LAYOUTS)))
    shifts, tdtype, t_seen = as_user_input(np.random.default_rng(seed).uniform(-4, 4, (n, 2)), tdtype,
                                           data.draw(st.sampled_from(LAYOUTS)))
    empty_list = n == 0 and (isinstance(images, list) or isinstance(shifts, list))
    try:
        out = outcome(geometry.translate_images, images, shifts, (N, N), half_image=half,
                      names=("image", "translation"))
    except Refused as exc:
        assert idtype == "object" or tdtype.startswith("complex") or empty_list, str(exc)
        return
    assert idtype != "object" and not tdtype.startswith("complex")
    cols = np.arange(N) - N // 2
    if half:
        cols = cols[[(N // 2 + j) % N for j in range(N // 2 + 1)]]
    rows = np.arange(N) - N // 2
    kx = np.tile(cols, N)
    ky = np.repeat(rows, len(cols))
    t = t_seen.astype(np.float64)
    phase = np.exp(-2j * np.pi * (kx[None] * t[:, :1] + ky[None] * t[:, 1:2]) / N)
    expected = img_seen.astype(np.complex128) * phase
    wide = computes_in(idtype) in (np.float64, np.complex128) or computes_in(tdtype) == np.float64
    assert out.dtype == (np.complex128 if wide else np.complex64)
    # the lattice k/N is float32 (as recovar's grids): phases carry float32 rounding in any dtype
    assert rel_error(out, expected) <= 2e-5


@hardening(30)
@given(st.data())
def test_nearest_gridpoint_indices_round_the_gridpoint_coordinates(data):
    N = data.draw(st.integers(1, 7))
    n = data.draw(st.integers(0, 3))
    R = data.draw(rotations(n)).astype(np.float32)
    coords = geometry.batch_get_gridpoint_coords(R, (N, N), (N, N, N))
    idx = geometry.batch_get_nearest_gridpoint_indices(R, (N, N), (N, N, N))
    assert coords.shape == (n, N * N, 3) and idx.shape == (n, N * N) and idx.dtype == np.int32
    # round half away from zero, then clip into the grid (the clipping ravel)
    rounded = np.clip(np.sign(coords) * np.floor(np.abs(coords) + 0.5), 0, N - 1).astype(np.int64)
    tie = np.any(np.abs(np.abs(coords - np.trunc(coords)) - 0.5) < 1e-4, axis=-1)
    flat = np.ravel_multi_index(np.moveaxis(rounded, -1, 0), (N, N, N))
    np.testing.assert_array_equal(idx[~tie], flat[~tie])
