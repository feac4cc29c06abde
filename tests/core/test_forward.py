"""recovar_jl.core.forward: forward model, adjoint, AᵀAv (docs/conventions.md §11), batch translations."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import assert_close, load_fixture
from generators import crandn, ctf_rows, expand_half, packed_columns, random_rotations
from hardening import (LAYOUTS, NUMERICS_BOX, NUMERICS_IMAGES, NUMERICS_TOLERANCE, Refused, as_user_input, hardening,
                       max_relative_error, outcome, random_values, rel_error, rotations)
from recovar_jl.core import forward, slicing
from recovar_jl.core.configs import ForwardModelConfig
from recovar_jl.core.ctf import CTFEvaluator, CTFMode


# -------------------------------------------------------------------------------------
# helpers
# -------------------------------------------------------------------------------------

def config_for(N, disc_type, ctf=None, voxel_size=4.0):
    return ForwardModelConfig((N, N), (N, N, N), N, voxel_size, 0, disc_type,
                              CTFEvaluator() if ctf is None else ctf)


def inner(a, b):
    """Complex inner product ⟨a, b⟩ = Σ conj(a)·b."""
    return np.vdot(np.asarray(a).ravel(), np.asarray(b).ravel())


def rel_gap(lhs, rhs):
    return abs(lhs - rhs) / max(abs(lhs), abs(rhs), 1e-300)


@pytest.fixture(scope="module")
def problem():
    """float64 problem with real CTF rows and random poses, box 10."""
    rng = np.random.default_rng(7)
    N, n = 10, 4
    return dict(N=N, n=n, volume=crandn(rng, N ** 3),
                params=ctf_rows(rng, n, defocus=(5000.0, 30000.0), bfactor=False), rot=random_rotations(n, rng),
                slices=crandn(rng, n, N * N), half_slices=crandn(rng, n, N * (N // 2 + 1)),
                half_volume=crandn(rng, N * N * (N // 2 + 1)), rng=rng)


# -------------------------------------------------------------------------------------
# parity with recovar 1.0.5
# -------------------------------------------------------------------------------------

FIX = load_fixture("forward")
CASES = [("even", "linear_interp", True), ("even", "nearest", True), ("even", "cubic", True),
         ("odd", "linear_interp", False), ("odd", "cubic", False), ("f64", "linear_interp", False)]


def _case(tag, disc):
    get = lambda key: FIX[f"{tag}__{key}"]  # noqa: E731
    N = int(get("N"))
    cfg = config_for(N, disc, voxel_size=float(get("voxel_size")))
    ref = lambda key: FIX[f"{tag}__{disc}__{key}"]  # noqa: E731
    return cfg, get, ref


def _check(actual, expected, name):
    assert actual.dtype == expected.dtype, f"{name}: dtype {actual.dtype} != {expected.dtype}"
    assert_close(actual, expected, name=name)


@pytest.mark.parametrize("tag, disc, full", CASES)
def test_forward_model_matches_recovar(tag, disc, full):
    cfg, get, ref = _case(tag, disc)
    vol, params, rot = get("volume"), get("ctf_params"), get("rotations")
    _check(forward.forward_model(cfg, vol, params, rot), ref("forward"), "forward")
    if not full:
        return
    _check(forward.forward_model(cfg, vol, params, rot, half_image=True), ref("forward_half_image"), "half_image")
    _check(forward.forward_model(cfg, get("half_volume"), params, rot, half_volume=True),
           ref("forward_half_volume"), "half_volume")
    _check(forward.forward_model(cfg, get("half_volume"), params, rot, half_image=True, half_volume=True),
           ref("forward_half_both"), "half_both")
    _check(forward.forward_model(cfg, vol, params, rot, skip_ctf=True), ref("forward_skip_ctf"), "skip_ctf")


@pytest.mark.parametrize("tag, disc, full", CASES)
def test_adjoint_forward_model_matches_recovar(tag, disc, full):
    cfg, get, ref = _case(tag, disc)
    slices, params, rot = get("slices"), get("ctf_params"), get("rotations")
    _check(forward.adjoint_forward_model(cfg, slices, params, rot), ref("adjoint"), "adjoint")
    if not full:
        return
    acc = get("accumulator")
    acc_before = acc.copy()
    _check(forward.adjoint_forward_model(cfg, slices, params, rot, volume=acc), ref("adjoint_acc"), "accumulator")
    assert np.array_equal(acc, acc_before), "the accumulator argument was modified"
    _check(forward.adjoint_forward_model(cfg, get("half_slices"), params, rot, half_image=True),
           ref("adjoint_half_image"), "half_image")
    _check(forward.adjoint_forward_model(cfg, slices, params, rot, half_volume=True),
           ref("adjoint_half_volume"), "half_volume")
    _check(forward.adjoint_forward_model(cfg, slices, params, rot, skip_ctf=True), ref("adjoint_skip_ctf"),
           "skip_ctf")


@pytest.mark.parametrize("tag, disc, full", CASES)
def test_compute_AtAv_matches_recovar(tag, disc, full):
    cfg, get, ref = _case(tag, disc)
    vol, params, rot = get("volume"), get("ctf_params"), get("rotations")
    real = get("noise_pixel").dtype.type
    result = forward.compute_AtAv(cfg, vol, params, rot, real(1.7))
    assert isinstance(result, tuple) and len(result) == 1
    _check(result[0], ref("AtAv_scalar"), "scalar noise")
    if not full:
        return
    _check(forward.compute_AtAv(cfg, vol, params, rot, get("noise_pixel"))[0], ref("AtAv_pixel"), "per-pixel noise")
    _check(forward.compute_AtAv(cfg, vol, params, rot, get("noise_full"))[0], ref("AtAv_full"), "per-image noise")
    _check(forward.compute_AtAv(cfg, vol, params, rot, real(1.0), skip_ctf=True)[0], ref("AtAv_skip_ctf"),
           "skip_ctf")


@pytest.mark.parametrize("disc", ["linear_interp", "nearest", "cubic"])
def test_forward_model_and_adjoint_matches_recovar(disc):
    cfg, get, ref = _case("even", disc)
    slices, f_adj = forward.forward_model_and_adjoint(cfg, get("volume"), get("ctf_params"), get("rotations"))
    _check(slices, ref("fma_slices"), "slices")
    result = f_adj(get("slices"))
    assert isinstance(result, tuple) and len(result) == 1
    _check(result[0], ref("fma_adjoint"), "f_adj")


def test_batch_translate_images_matches_recovar():
    result = forward.batch_translate_images(FIX["translate__images"], FIX["translate__translations"],
                                            (int(FIX["translate__N"]),) * 2)
    _check(result, FIX["translate__result"], "batch_translate_images")


# -------------------------------------------------------------------------------------
# mathematical properties (float64)
# -------------------------------------------------------------------------------------

@pytest.mark.parametrize("disc", ["linear_interp", "nearest"])
def test_adjoint_forward_model_is_adjoint_of_forward_model_with_ctf(problem, disc):
    p = problem
    cfg = config_for(p["N"], disc)
    Av = forward.forward_model(cfg, p["volume"], p["params"], p["rot"])
    Aty = forward.adjoint_forward_model(cfg, p["slices"], p["params"], p["rot"])
    assert rel_gap(inner(Av, p["slices"]), inner(p["volume"], Aty)) < 1e-12


@pytest.mark.parametrize("disc", ["linear_interp", "nearest"])
def test_half_image_and_half_volume_adjoints_with_ctf(problem, disc):
    """Real inner products: half image ↔ its Hermitian expansion; half volume ↔ its fold."""
    p = problem
    N = p["N"]
    cfg = config_for(N, disc)
    h, S, y = p["half_volume"], p["half_slices"], p["slices"]
    # half volume: Re⟨A expand(h), y⟩ = Re⟨h, fold(Aᵀ y)⟩
    lhs = inner(forward.forward_model(cfg, h, p["params"], p["rot"], half_volume=True), y).real
    rhs = inner(h, forward.adjoint_forward_model(cfg, y, p["params"], p["rot"], half_volume=True)).real
    assert rel_gap(lhs, rhs) < 1e-12
    full_S = expand_half(S.reshape(-1, N, N // 2 + 1), (N, N))
    # half image: Re⟨A v, expand(S)⟩ = Re⟨v, Aᵀ_half S⟩
    lhs = inner(forward.forward_model(cfg, p["volume"], p["params"], p["rot"]), full_S).real
    rhs = inner(p["volume"], forward.adjoint_forward_model(cfg, S, p["params"], p["rot"], half_image=True)).real
    assert rel_gap(lhs, rhs) < 1e-12
    # both: Re⟨A expand(h), expand(S)⟩ = Re⟨h, fold(Aᵀ expand S)⟩
    lhs = inner(forward.forward_model(cfg, h, p["params"], p["rot"], half_volume=True), full_S).real
    rhs = inner(h, forward.adjoint_forward_model(cfg, S, p["params"], p["rot"], half_image=True,
                                                 half_volume=True)).real
    assert rel_gap(lhs, rhs) < 1e-12


def test_half_image_forward_is_packed_full_forward(problem):
    p = problem
    cfg = config_for(p["N"], "linear_interp")
    full = forward.forward_model(cfg, p["volume"], p["params"], p["rot"])
    half = forward.forward_model(cfg, p["volume"], p["params"], p["rot"], half_image=True)
    N = p["N"]
    packed = full.reshape(-1, N, N)[..., packed_columns(N)].reshape(half.shape)
    assert np.allclose(half, packed, rtol=0, atol=1e-12 * np.abs(full).max())


def test_forward_model_is_slice_times_config_ctf(problem):
    p = problem
    for disc in ("linear_interp", "cubic"):
        cfg = config_for(p["N"], disc)
        expected = slicing.slice_volume(p["volume"], p["rot"], cfg.image_shape, cfg.volume_shape, disc) \
            * cfg.compute_ctf(p["params"])
        assert_close(forward.forward_model(cfg, p["volume"], p["params"], p["rot"]), expected, rtol=1e-12)


@pytest.mark.parametrize("evaluator, columns", [
    (CTFEvaluator(CTFMode.SPA_ANTIALIASED), None),
    (CTFEvaluator(CTFMode.TILT_SERIES, dose_per_tilt=3.0, angle_per_tilt=3.0), "tilt"),
    (CTFEvaluator(CTFMode.CRYO_ET), "et"),
])
def test_inline_ctf_of_every_mode_equals_the_ctf_module(problem, evaluator, columns):
    p = problem
    n = p["n"]
    params = p["params"].copy()
    params[:, 7] = [0.0, 40.0, 80.0, 10.0]  # B-factors
    if columns == "tilt":
        params = np.concatenate([params, np.arange(n, dtype=float)[:, None]], axis=1)
    elif columns == "et":
        params = np.concatenate([params, np.array([[0.0, 0.0], [30.0, -20.0], [60.0, 40.0], [90.0, 60.0]])], axis=1)
    cfg = config_for(p["N"], "linear_interp", ctf=evaluator)
    for half in (False, True):
        expected = slicing.slice_volume(p["volume"], p["rot"], cfg.image_shape, cfg.volume_shape, "linear_interp",
                                        half_image=half) * cfg.compute_ctf(params, half_image=half)
        actual = forward.forward_model(cfg, p["volume"], params, p["rot"], half_image=half)
        assert_close(actual, expected, rtol=1e-12, name=f"half_image={half}")
    y = p["slices"]
    expected = slicing.adjoint_slice_volume(y * cfg.compute_ctf(params), p["rot"], cfg.image_shape, cfg.volume_shape,
                                            "linear_interp")
    assert_close(forward.adjoint_forward_model(cfg, y, params, p["rot"]), expected, rtol=1e-12)


@pytest.mark.parametrize("disc", ["linear_interp", "nearest"])
@pytest.mark.parametrize("noise_kind", ["scalar", "pixel", "image", "full"])
def test_AtAv_equals_adjoint_of_forward_over_noise(problem, disc, noise_kind):
    p = problem
    rng = np.random.default_rng(3)
    n, npix = p["n"], p["N"] ** 2
    noise = {"scalar": 2.5, "pixel": rng.uniform(0.5, 2, npix), "image": rng.uniform(0.5, 2, (n, 1)),
             "full": rng.uniform(0.5, 2, (n, npix))}[noise_kind]
    cfg = config_for(p["N"], disc)
    y = forward.forward_model(cfg, p["volume"], p["params"], p["rot"])
    expected = forward.adjoint_forward_model(cfg, y / noise, p["params"], p["rot"])
    (actual,) = forward.compute_AtAv(cfg, p["volume"], p["params"], p["rot"], noise)
    assert_close(actual, expected, rtol=1e-12)


def test_cubic_f_adj_is_exact_transpose_and_AtAv_uses_it(problem):
    p = problem
    cfg = config_for(p["N"], "cubic")
    Av, f_adj = forward.forward_model_and_adjoint(cfg, p["volume"], p["params"], p["rot"])
    (Aty,) = f_adj(p["slices"])
    assert rel_gap(inner(Av, p["slices"]), inner(p["volume"], Aty)) < 1e-12
    (AtAv,) = forward.compute_AtAv(cfg, p["volume"], p["params"], p["rot"], 0.5)
    assert_close(AtAv, f_adj(Av / 0.5)[0], rtol=1e-12)


def test_cubic_adjoint_forward_model_is_the_adjoint_of_slicing_coefficients(problem):
    """recovar's cubic adjoint is coefficients(Aᵀ y), not Aᵀ y (docs/conventions.md §6, §11)."""
    p = problem
    cfg = config_for(p["N"], "cubic")
    _, f_adj = forward.forward_model_and_adjoint(cfg, p["volume"], p["params"], p["rot"])
    (transpose,) = f_adj(p["slices"])
    adjoint = forward.adjoint_forward_model(cfg, p["slices"], p["params"], p["rot"])
    coefficients = slicing.precompute_cubic_coefficients(transpose, cfg.volume_shape).ravel()
    assert_close(adjoint, coefficients, rtol=1e-12)
    assert np.linalg.norm(adjoint - transpose) > 1e-3 * np.linalg.norm(transpose)


@pytest.mark.parametrize("disc", ["linear_interp", "cubic"])
def test_AtAv_is_self_adjoint_and_positive(problem, disc):
    p = problem
    cfg = config_for(p["N"], disc)
    w = crandn(np.random.default_rng(5), p["N"] ** 3)
    noise = np.random.default_rng(6).uniform(0.5, 2.0, p["N"] ** 2)
    (AtAv,) = forward.compute_AtAv(cfg, p["volume"], p["params"], p["rot"], noise)
    (AtAw,) = forward.compute_AtAv(cfg, w, p["params"], p["rot"], noise)
    assert rel_gap(inner(w, AtAv), inner(AtAw, p["volume"])) < 1e-12
    quadratic = inner(p["volume"], AtAv)
    assert quadratic.real > 0 and abs(quadratic.imag) < 1e-12 * quadratic.real


def test_forward_model_and_adjoint_matches_adjoint_forward_model_for_linear(problem):
    p = problem
    cfg = config_for(p["N"], "linear_interp")
    slices, f_adj = forward.forward_model_and_adjoint(cfg, p["volume"], p["params"], p["rot"])
    assert np.array_equal(slices, forward.forward_model(cfg, p["volume"], p["params"], p["rot"]))
    assert_close(f_adj(p["slices"])[0], forward.adjoint_forward_model(cfg, p["slices"], p["params"], p["rot"]),
                 rtol=1e-14)
    # image-shaped cotangents are accepted
    assert_close(f_adj(p["slices"].reshape(p["n"], p["N"], p["N"]))[0], f_adj(p["slices"])[0], rtol=0)


def test_batch_translate_images_is_unitary_with_inverse_shift():
    rng = np.random.default_rng(11)
    N, B, n = 8, 2, 3
    x = crandn(rng, B, n, N * N)
    y = crandn(rng, B, n, N * N)
    t = rng.uniform(-3, 3, (B, n, 2))
    Tx = forward.batch_translate_images(x, t, (N, N))
    Tinv_y = forward.batch_translate_images(y, -t, (N, N))
    assert rel_gap(inner(Tx, y), inner(x, Tinv_y)) < 1e-12
    assert_close(forward.batch_translate_images(Tx, -t, (N, N)), x, rtol=1e-12)


def test_batch_translate_images_moves_a_delta():
    """A centered real-space delta shifted by (1, 0) lands one column to the right."""
    N = 8
    delta = np.zeros((N, N))
    delta[N // 2, N // 2] = 1
    spectrum = np.fft.fftshift(np.fft.fft2(np.fft.fftshift(delta))).ravel()
    moved = forward.batch_translate_images(spectrum[None, None], np.array([[[1.0, 0.0]]]), (N, N))[0, 0]
    image = np.fft.ifftshift(np.fft.ifft2(np.fft.ifftshift(moved.reshape(N, N)))).real
    assert np.unravel_index(np.argmax(image), image.shape) == (N // 2, N // 2 + 1)


# -------------------------------------------------------------------------------------
# CTF that is not a standard evaluator
# -------------------------------------------------------------------------------------

def test_user_callable_ctf_is_used_through_its_array(problem):
    p = problem
    N, n = p["N"], p["n"]
    calls = []

    def my_ctf(ctf_params, image_shape, voxel_size, half_image=False):
        calls.append(half_image)
        npix = N * (N // 2 + 1) if half_image else N * N
        return np.cos(np.arange(npix))[None, :] * (1.0 + np.arange(len(ctf_params)))[:, None]

    cfg = config_for(N, "linear_interp", ctf=my_ctf)
    ctf = my_ctf(p["params"], (N, N), 4.0)
    calls.clear()
    sl = slicing.slice_volume(p["volume"], p["rot"], (N, N), (N, N, N), "linear_interp")
    assert_close(forward.forward_model(cfg, p["volume"], p["params"], p["rot"]), sl * ctf, rtol=1e-14)
    half = forward.forward_model(cfg, p["volume"], p["params"], p["rot"], half_image=True)
    assert half.shape == (n, N * (N // 2 + 1)) and calls == [False, True]
    expected = slicing.adjoint_slice_volume(p["slices"] * ctf, p["rot"], (N, N), (N, N, N), "linear_interp")
    assert_close(forward.adjoint_forward_model(cfg, p["slices"], p["params"], p["rot"]), expected, rtol=1e-13)
    (AtAv,) = forward.compute_AtAv(cfg, p["volume"], p["params"], p["rot"], 2.0)
    expected = slicing.adjoint_slice_volume(sl * ctf * ctf / 2.0, p["rot"], (N, N), (N, N, N), "linear_interp")
    assert_close(AtAv, expected, rtol=1e-13)


def test_user_callable_ctf_of_wrong_shape_is_refused(problem):
    p = problem
    cfg = config_for(p["N"], "linear_interp", ctf=lambda *a, **k: np.ones((2, 3)))
    with pytest.raises(ValueError, match="CTF returned by config.ctf"):
        forward.forward_model(cfg, p["volume"], p["params"], p["rot"])


# -------------------------------------------------------------------------------------
# edge cases
# -------------------------------------------------------------------------------------

def test_batch_of_one_and_empty_batch(problem):
    p = problem
    N = p["N"]
    cfg = config_for(N, "linear_interp")
    one = forward.forward_model(cfg, p["volume"], p["params"][:1], p["rot"][:1])
    assert_close(one, forward.forward_model(cfg, p["volume"], p["params"], p["rot"])[:1], rtol=0)
    empty = forward.forward_model(cfg, p["volume"], p["params"][:0], p["rot"][:0])
    assert empty.shape == (0, N * N)
    assert not forward.adjoint_forward_model(cfg, p["slices"][:0], p["params"][:0], p["rot"][:0]).any()
    acc = p["volume"]
    assert np.array_equal(forward.adjoint_forward_model(cfg, p["slices"][:0], p["params"][:0], p["rot"][:0],
                                                        volume=acc), acc)
    (AtAv,) = forward.compute_AtAv(cfg, p["volume"], p["params"][:0], p["rot"][:0], 1.0)
    assert AtAv.shape == (N ** 3,) and not AtAv.any()


def test_real_volume_gives_real_images_and_real_AtAv(problem):
    p = problem
    cfg = config_for(p["N"], "linear_interp")
    vol = p["volume"].real.astype(np.float32)
    images = forward.forward_model(cfg, vol, p["params"], p["rot"].astype(np.float32))
    assert images.dtype == np.float64  # float64 CTF parameters promote
    (AtAv,) = forward.compute_AtAv(cfg, vol, p["params"].astype(np.float32), p["rot"].astype(np.float32), 1.0)
    assert AtAv.dtype == np.float32
    _, f_adj = forward.forward_model_and_adjoint(cfg, vol, p["params"].astype(np.float32),
                                                 p["rot"].astype(np.float32))
    with pytest.raises(TypeError, match="ct must be real"):
        f_adj(p["slices"])


def test_grid_shaped_volume_keeps_its_shape_in_AtAv_and_f_adj(problem):
    p = problem
    N = p["N"]
    cfg = config_for(N, "nearest")
    grid = p["volume"].reshape(N, N, N)
    (AtAv,) = forward.compute_AtAv(cfg, grid, p["params"], p["rot"], 1.0)
    assert AtAv.shape == (N, N, N)
    assert_close(AtAv.ravel(), forward.compute_AtAv(cfg, p["volume"], p["params"], p["rot"], 1.0)[0], rtol=0)
    _, f_adj = forward.forward_model_and_adjoint(cfg, grid, p["params"], p["rot"])
    assert f_adj(p["slices"])[0].shape == (N, N, N)


def test_AtAv_of_complex64_volume_with_float64_noise_stays_complex64(problem):
    """recovar raises here (cotangent dtype mismatch); the result keeps the volume's dtype."""
    p = problem
    cfg = config_for(p["N"], "linear_interp")
    vol = p["volume"].astype(np.complex64)
    params, rot = p["params"].astype(np.float32), p["rot"].astype(np.float32)
    (a,) = forward.compute_AtAv(cfg, vol, params, rot, np.float64(2.0))
    (b,) = forward.compute_AtAv(cfg, vol, params, rot, np.float32(2.0))
    assert a.dtype == np.complex64
    assert_close(a, b, rtol=1e-6)


# -------------------------------------------------------------------------------------
# bad input
# -------------------------------------------------------------------------------------

def test_bad_input_raises_errors_naming_the_argument(problem):
    p = problem
    N = p["N"]
    cfg = config_for(N, "linear_interp")
    vol, params, rot, sl = p["volume"], p["params"], p["rot"], p["slices"]
    with pytest.raises(TypeError, match="config"):
        forward.forward_model({"image_shape": (N, N)}, vol, params, rot)
    with pytest.raises(ValueError, match="disc_type"):
        forward.forward_model(cfg.replace(disc_type=""), vol, params, rot)
    with pytest.raises(ValueError, match="volume"):
        forward.forward_model(cfg, vol[:-1], params, rot)
    with pytest.raises(ValueError, match="rotation_matrices"):
        forward.forward_model(cfg, vol, params, rot[:, :2])
    with pytest.raises(ValueError, match="rotation_matrices"):
        forward.forward_model(cfg, vol, params, np.full_like(rot, np.nan))
    with pytest.raises(ValueError, match="ctf_params"):
        forward.forward_model(cfg, vol, params[:2], rot)
    with pytest.raises(ValueError, match="ctf_params"):
        forward.forward_model(cfg, vol, params[:, :8], rot)
    with pytest.raises(TypeError, match="skip_ctf"):
        forward.forward_model(cfg, vol, params, rot, skip_ctf="yes")
    with pytest.raises(ValueError, match="slices"):
        forward.adjoint_forward_model(cfg, sl[:, :-1], params, rot)
    with pytest.raises(ValueError, match="slices"):
        forward.adjoint_forward_model(cfg, sl[:2], params, rot)
    with pytest.raises(ValueError, match="volume"):
        forward.adjoint_forward_model(cfg, sl, params, rot, volume=vol[:5])
    with pytest.raises(ValueError, match="noise_variance"):
        forward.compute_AtAv(cfg, vol, params, rot, np.ones(N * N + 1))
    with pytest.raises(ValueError, match="noise_variance"):
        forward.compute_AtAv(cfg, vol, params, rot, np.ones((1, p["n"], N * N)))
    with pytest.raises(ValueError, match="noise_variance"):
        forward.compute_AtAv(cfg, vol, params, rot, -1.0)
    with pytest.raises(TypeError, match="noise_variance"):
        forward.compute_AtAv(cfg, vol, params, rot, 1.0 + 0j)
    with pytest.raises(ValueError, match="image_shape"):
        forward.forward_model(cfg.replace(image_shape=(N, N + 2)), vol, params, rot)
    _, f_adj = forward.forward_model_and_adjoint(cfg, vol, params, rot)
    with pytest.raises(ValueError, match="ct"):
        f_adj(sl[:, :5])
    with pytest.raises(ValueError, match="translation"):
        forward.batch_translate_images(sl[None], np.zeros((1, p["n"], 3)), (N, N))
    with pytest.raises(ValueError, match="image"):
        forward.batch_translate_images(sl, np.zeros((p["n"], 2)), (N, N))


def test_f_adj_is_unaffected_by_later_changes_to_the_callers_arrays(problem):
    p = problem
    cfg = config_for(p["N"], "linear_interp")
    rot, params = p["rot"].copy(), p["params"].copy()
    _, f_adj = forward.forward_model_and_adjoint(cfg, p["volume"], params, rot)
    before = f_adj(p["slices"])[0]
    rot[:] = np.eye(3)
    params[:, 0] += 1000.0
    assert np.array_equal(f_adj(p["slices"])[0], before)


# --- property-based hardening (hypothesis): compositions with slicing and the CTF -----------------
# forward_model = CTF ⊙ slice_volume and adjoint_forward_model = adjoint_slice_volume(CTF ⊙ ·)
# for any dtype and layout; compute_AtAv = Aᵀ(A v / σ²).

DISC = ["nearest", "linear_interp", "cubic"]


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
    cfg = config_for(N, disc, voxel_size=1.7)
    try:
        out = outcome(forward.forward_model, cfg, vol, params, R, skip_ctf=skip_ctf, half_image=half_image,
                      names=("volume",))
    except Refused as exc:
        raise AssertionError(f"numeric volume refused: {exc}")
    canonical = np.asarray(seen).astype(np.complex128 if seen.dtype.kind == "c" else np.float64)
    sl = slicing.slice_volume(canonical, R.astype(np.float64), (N, N), (N, N, N), disc, half_image=half_image)
    expected = sl if skip_ctf else sl * CTFEvaluator()(params.astype(np.float64), (N, N), 1.7,
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
        out = outcome(forward.adjoint_forward_model, config_for(N, disc, voxel_size=1.7), slices, params, R,
                      names=("slices",))
    except Refused as exc:
        assert lay == "list" and n == 0, str(exc)
        return
    weights = CTFEvaluator()(params, (N, N), 1.7).astype(np.float64)
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
    cfg = config_for(N, disc, voxel_size=1.7)
    (AtAv,) = forward.compute_AtAv(cfg, vol, params, R, noise)
    Av = forward.forward_model(cfg, vol, params, R)
    expected = forward.adjoint_forward_model(cfg, Av / noise, params, R)
    assert rel_error(AtAv, expected) <= 1e-9


# --- numerical guard: float32 accumulation of 10⁵ images (tests/hardening.py) ---------------------

def test_float32_adjoint_forward_model_of_1e5_images_matches_float64():
    N = NUMERICS_BOX
    config = ForwardModelConfig(image_shape=(N, N), volume_shape=(N, N, N), grid_size=N, voxel_size=2.0,
                                padding=0, disc_type="linear_interp", ctf=CTFEvaluator())
    rotations = np.repeat(np.eye(3, dtype=np.float32)[None], NUMERICS_IMAGES, 0)
    slices = np.full((NUMERICS_IMAGES, N * N), np.float32(0.3))
    ctf_params = np.zeros((NUMERICS_IMAGES, 9), np.float32)
    single = forward.adjoint_forward_model(config, slices, ctf_params, rotations, skip_ctf=True)
    double = forward.adjoint_forward_model(config, slices.astype(np.float64), ctf_params, rotations, skip_ctf=True)
    assert single.dtype == np.float32 and double.dtype == np.float64
    overall, per_voxel = max_relative_error(single, double)
    assert overall <= NUMERICS_TOLERANCE and per_voxel <= NUMERICS_TOLERANCE, (overall, per_voxel)
