"""recovar_jl.core.slicing: parity with recovar 1.0.5, mathematical properties, edge cases."""
import numpy as np
import pytest
from conftest import assert_close, load_fixture
from generators import centered_dft, crandn, expand_half, fold_full, packed_columns, random_rotations

from recovar_jl.core import slicing
from recovar_jl.core.slicing import (_AUTO, _default_max_r, adjoint_slice_volume, batch_adjoint_slice_volume,
                                     batch_slice_volume, decide_order, precompute_cubic_coefficients,
                                     precompute_cubic_coefficients_half, slice_from_cubic_coefficients,
                                     slice_volume)

DISCS = ("nearest", "linear_interp", "cubic")
LAYOUTS = ((False, False), (True, False), (False, True), (True, True))  # (half_volume, half_image)


# ---- input generators (as scripts/fixtures/make_slicing.py) ----------------------------------

def blob_volume_spectrum(params, N):
    x = (np.arange(N) - N // 2) / N
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    vol = np.zeros((N, N, N))
    for cx, cy, cz, w, a in params:
        vol += a * np.exp(-((X - cx) ** 2 + (Y - cy) ** 2 + (Z - cz) ** 2) / (2 * w * w))
    return np.fft.fftshift(np.fft.fftn(np.fft.fftshift(vol))).astype(np.complex64).reshape(-1)


def half_volume(full_flat, N):
    return np.ascontiguousarray(np.asarray(full_flat).reshape(N, N, N)[..., packed_columns(N)]).reshape(-1)


def pattern_slices(n, npix, dtype=np.complex64):
    i = np.arange(n)[:, None]
    p = np.arange(npix)[None, :]
    return (np.cos(0.37 * i + 0.011 * p * (1 + i)) + 1j * np.sin(0.23 * p - 0.5 * i)).astype(dtype)


def sketch_weights(size):
    j = np.arange(size, dtype=np.float64)
    return (np.exp(2j * np.pi * np.modf(j * 0.6180339887498949)[0]),
            np.exp(2j * np.pi * np.modf(j * 0.4142135623730951)[0]))


def check_fixture(fix, key, actual, rtol=1e-5):
    """Compare with a stored output: whole, or its subset/norm/sketch (see make_slicing.py)."""
    actual = np.asarray(actual)
    if key in fix:
        assert actual.dtype == fix[key].dtype, f"{key}: dtype {actual.dtype} != {fix[key].dtype}"
        assert_close(actual, fix[key], rtol=rtol, name=key)
        return
    assert actual.shape == tuple(fix[key + "__shape"]), key
    assert str(actual.dtype) == str(fix[key + "__dtype"]), key
    flat = actual.reshape(-1)
    assert_close(flat[fix[key + "__idx"]], fix[key + "__val"], rtol=rtol, name=key + " subset")
    norm = np.linalg.norm(flat.astype(np.complex128))
    assert abs(norm - fix[key + "__norm"]) <= rtol * fix[key + "__norm"], key + " norm"
    for w, ref in zip(sketch_weights(flat.size), fix[key + "__sketch"]):
        assert abs(np.sum(w * flat) - ref) <= rtol * np.sqrt(flat.size) * norm, key + " sketch"


@pytest.fixture(scope="module")
def fix():
    return load_fixture("slicing")


# ---- independent layout maps (docs/conventions.md §2), for the properties ---------------------------

def real_dot(a, b):
    return np.real(np.vdot(np.asarray(a).ravel(), np.asarray(b).ravel()))


# ---- parity with recovar -------------------------------------------------------------------------

@pytest.mark.parametrize("N", [8, 7, 32, 64, 128])
@pytest.mark.parametrize("disc", DISCS)
@pytest.mark.parametrize("layout", LAYOUTS, ids=["full", "half_volume", "half_image", "half_both"])
def test_slice_and_adjoint_match_recovar_fixture(fix, N, disc, layout):
    hv, hi = layout
    R = fix[f"N{N}__rotations"]
    vol = blob_volume_spectrum(fix[f"N{N}__blobs"], N)
    tag = f"N{N}__{disc}__hv{int(hv)}hi{int(hi)}"
    out = slice_volume(half_volume(vol, N) if hv else vol, R, (N, N), (N, N, N), disc, half_volume=hv,
                       half_image=hi)
    check_fixture(fix, tag + "__slice", out)
    npix = N * (N // 2 + 1) if hi else N * N
    adj = adjoint_slice_volume(pattern_slices(len(R), npix), R, (N, N), (N, N, N), disc, half_image=hi,
                               half_volume=hv)
    check_fixture(fix, tag + "__adjoint", adj)


@pytest.mark.parametrize("disc", ["nearest", "linear_interp"])
@pytest.mark.parametrize("max_r", [None, 10, 7.5], ids=["none", "r10", "r7p5"])
def test_max_r_none_and_explicit_match_recovar_fixture(fix, disc, max_r):
    N = 32
    R = fix["N32__rotations"]
    vol = blob_volume_spectrum(fix["N32__blobs"], N)
    label = {None: "none", 10: "r10", 7.5: "r7p5"}[max_r]
    for hv, hi in ((False, False), (True, True)):
        tag = f"N32__{disc}__hv{int(hv)}hi{int(hi)}__max_r_{label}"
        out = slice_volume(half_volume(vol, N) if hv else vol, R, (N, N), (N, N, N), disc, half_volume=hv,
                           half_image=hi, max_r=max_r)
        check_fixture(fix, tag + "__slice", out)
        npix = N * (N // 2 + 1) if hi else N * N
        adj = adjoint_slice_volume(pattern_slices(len(R), npix), R, (N, N), (N, N, N), disc, half_image=hi,
                                   half_volume=hv, max_r=max_r)
        check_fixture(fix, tag + "__adjoint", adj)


@pytest.mark.parametrize("disc", DISCS)
def test_dtype_promotion_and_accumulation_match_recovar_fixture(fix, disc):
    N, shape = 8, (8, 8, 8)
    vol = blob_volume_spectrum(fix["dtype__blobs"], N)
    R32, R64 = fix["dtype__rotations32"], fix["dtype__rotations64"]
    check_fixture(fix, f"dtype__{disc}__real_volume__slice",
                  slice_volume(np.real(vol).astype(np.float32), R32, (N, N), shape, disc))
    check_fixture(fix, f"dtype__{disc}__c128_r64__slice",
                  slice_volume(vol.astype(np.complex128), R64, (N, N), shape, disc))
    check_fixture(fix, f"dtype__{disc}__c64_r64__slice", slice_volume(vol, R64, (N, N), shape, disc))
    sl = pattern_slices(3, N * N, np.complex128)
    check_fixture(fix, f"dtype__{disc}__c128_r64__adjoint", adjoint_slice_volume(sl, R64, (N, N), shape, disc))
    check_fixture(fix, f"dtype__{disc}__real_slices__adjoint",
                  adjoint_slice_volume(np.real(sl).astype(np.float32), R32, (N, N), shape, disc))
    accumulator = (np.arange(N ** 3) % 7 - 3).astype(np.complex64)
    check_fixture(fix, f"dtype__{disc}__accumulate__adjoint",
                  adjoint_slice_volume(sl.astype(np.complex64), R32, (N, N), shape, disc, volume=accumulator))
    volumes = np.stack([vol, np.conj(vol) * 0.5])
    check_fixture(fix, f"batch__{disc}__slice", batch_slice_volume(volumes, R32, (N, N), shape, disc))
    stacks = np.stack([pattern_slices(3, N * N), 2 * pattern_slices(3, N * N)[::-1]])
    check_fixture(fix, f"batch__{disc}__adjoint", batch_adjoint_slice_volume(stacks, R32, (N, N), shape, disc))


def test_cubic_upsampled_volume_matches_recovar_fixture(fix):
    # recovar's cubic path scales plane frequencies by volume_shape[0] // image_shape[0]
    vol16 = blob_volume_spectrum(fix["upsampled__blobs"], 16)
    R = fix["dtype__rotations32"]
    check_fixture(fix, "upsampled__cubic__slice", slice_volume(vol16, R, (8, 8), (16, 16, 16), "cubic"))
    check_fixture(fix, "upsampled__cubic__adjoint",
                  adjoint_slice_volume(pattern_slices(3, 64), R, (8, 8), (16, 16, 16), "cubic"))


def test_cubic_coefficient_helpers_match_recovar_fixture(fix):
    N, shape = 8, (8, 8, 8)
    vol = blob_volume_spectrum(fix["dtype__blobs"], N)
    R = fix["dtype__rotations32"]
    coeffs = precompute_cubic_coefficients(vol, shape)
    check_fixture(fix, "cubic__coefficients", coeffs)
    half = precompute_cubic_coefficients_half(vol, shape)
    check_fixture(fix, "cubic__coefficients_half", half)
    check_fixture(fix, "cubic__from_coefficients__full", slice_from_cubic_coefficients(coeffs, R, (N, N), shape))
    check_fixture(fix, "cubic__from_coefficients__half_image",
                  slice_from_cubic_coefficients(coeffs, R, (N, N), shape, half_image=True))
    check_fixture(fix, "cubic__from_coefficients__half_volume",
                  slice_from_cubic_coefficients(half, R, (N, N), shape))


# ---- adjoint identities (float64) --------------------------------------------------------------

def project(v, R, N, disc, hv, hi, **kw):
    return slice_volume(v, R, (N, N), (N, N, N), disc, half_volume=hv, half_image=hi, **kw)


def backproject(y, R, N, disc, hv, hi, **kw):
    return adjoint_slice_volume(y, R, (N, N), (N, N, N), disc, half_image=hi, half_volume=hv, **kw)


@pytest.mark.parametrize("N", [8, 7])
@pytest.mark.parametrize("disc", ["nearest", "linear_interp"])
@pytest.mark.parametrize("layout", LAYOUTS, ids=["full", "half_volume", "half_image", "half_both"])
@pytest.mark.parametrize("max_r", [_AUTO, None], ids=["default", "none"])
def test_nearest_and_linear_backprojection_is_adjoint_of_slicing(N, disc, layout, max_r):
    """Re<A v, y> = Re<v, Aᵀ y> (complex inner product too for full layouts); with half
    images A is the slice into full images folded by the adjoint of half_image_to_full_image."""
    hv, hi = layout
    rng = np.random.default_rng(N + 10 * hv + 20 * hi)
    R = random_rotations(5, N)
    v = crandn(rng, N * N * (N // 2 + 1) if hv else N ** 3)
    y = crandn(rng, 5, N * (N // 2 + 1) if hi else N * N)
    Av = project(v, R, N, disc, hv, False, max_r=max_r)
    if hi:
        Av = fold_full(Av.reshape(-1, N, N), (N, N)).reshape(len(Av), -1)
    Aty = backproject(y, R, N, disc, hv, hi, max_r=max_r)
    assert Aty.dtype == np.complex128
    scale = np.linalg.norm(Av) * np.linalg.norm(y)
    assert abs(real_dot(Av, y) - real_dot(v, Aty)) <= 1e-10 * scale
    if not hv and not hi:
        assert abs(np.vdot(Av, y) - np.vdot(v, Aty)) <= 1e-10 * scale


@pytest.mark.parametrize("N", [8, 7])
@pytest.mark.parametrize("layout", LAYOUTS, ids=["full", "half_volume", "half_image", "half_both"])
def test_cubic_backprojection_is_adjoint_of_slicing_the_spline_coefficients(N, layout):
    """docs/conventions.md §6: adjoint(cubic) is the adjoint of v ↦ slice(coefficients(v)) (with a half
    volume of h ↦ slice(coefficients(expand(h)))); half images are the packed pixels."""
    hv, hi = layout
    rng = np.random.default_rng(3 * N + hv + 2 * hi)
    R = random_rotations(4, N + 1)
    v = crandn(rng, N * N * (N // 2 + 1) if hv else N ** 3)
    y = crandn(rng, 4, N * (N // 2 + 1) if hi else N * N)
    full = expand_half(v.reshape(N, N, N // 2 + 1), (N,) * 3).ravel() if hv else v
    Av = project(precompute_cubic_coefficients(full, (N, N, N)), R, N, "cubic", False, hi)
    Aty = backproject(y, R, N, "cubic", hv, hi)
    scale = np.linalg.norm(Av) * np.linalg.norm(y)
    assert abs(real_dot(Av, y) - real_dot(v, Aty)) <= 1e-10 * scale
    if not hv:
        assert abs(np.vdot(Av, y) - np.vdot(v, Aty)) <= 1e-10 * scale


def test_cubic_forward_and_adjoint_are_not_mutual_adjoints_as_in_recovar():
    N = 8
    rng = np.random.default_rng(5)
    R = random_rotations(3, 2)
    v, y = crandn(rng, N ** 3), crandn(rng, 3, N * N)
    lhs = np.vdot(project(v, R, N, "cubic", False, False), y)
    rhs = np.vdot(v, backproject(y, R, N, "cubic", False, False))
    assert abs(lhs - rhs) > 1e-3 * abs(lhs)


def test_linear_backprojection_is_adjoint_of_slicing_with_upsampled_volume():
    N, M = 8, 16
    rng = np.random.default_rng(9)
    R = random_rotations(4, 3)
    v, y = crandn(rng, M ** 3), crandn(rng, 4, N * N)
    Av = slice_volume(v, R, (N, N), (M, M, M), "linear_interp", max_r=None)
    Aty = adjoint_slice_volume(y, R, (N, N), (M, M, M), "linear_interp", max_r=None)
    assert abs(np.vdot(Av, y) - np.vdot(v, Aty)) <= 1e-10 * np.linalg.norm(Av) * np.linalg.norm(y)


# ---- layouts against their definitions -----------------------------------------------------------

@pytest.mark.parametrize("N", [8, 7])
@pytest.mark.parametrize("disc", DISCS)
def test_half_layouts_equal_the_full_computation(N, disc):
    """Half image = packed columns of the full image; half volume = its Hermitian expansion
    (for any half volume); half-volume adjoint = fold of the full adjoint."""
    rng = np.random.default_rng(N)
    R = random_rotations(4, 7 * N)
    h = crandn(rng, N * N * (N // 2 + 1))
    full = expand_half(h.reshape(N, N, N // 2 + 1), (N,) * 3).ravel()
    ref = project(full, R, N, disc, False, False, max_r=None)
    got = project(h, R, N, disc, True, False, max_r=None)
    assert_close(got, ref, rtol=1e-12)
    gathered = ref.reshape(4, N, N)[..., packed_columns(N)].reshape(4, -1)
    assert_close(project(h, R, N, disc, True, True, max_r=None), gathered, rtol=1e-12)
    assert_close(project(full, R, N, disc, False, True, max_r=None), gathered, rtol=1e-12)
    y = crandn(rng, 4, N * N)
    full_adj = backproject(y, R, N, disc, False, False, max_r=None)
    if disc == "cubic":
        return  # cubic half-volume adjoint: covered by the coefficient adjoint test
    folded = fold_full(full_adj.reshape((N,) * 3), (N,) * 3).ravel()
    assert_close(backproject(y, R, N, disc, True, False, max_r=None), folded, rtol=1e-12)


@pytest.mark.parametrize("disc", ["nearest", "linear_interp"])
def test_half_image_backprojection_is_full_backprojection_of_expanded_images(disc):
    N = 8
    rng = np.random.default_rng(4)
    R = random_rotations(3, 4)
    s = crandn(rng, 3, N * (N // 2 + 1))
    full = expand_half(s.reshape(3, N, N // 2 + 1), (N, N))
    assert_close(backproject(s, R, N, disc, False, True), backproject(full.reshape(3, -1), R, N, disc, False, False),
                 rtol=1e-12)


# ---- geometry: Fourier slice theorem, rotations, clipping ----------------------------------------

def smooth_volume(N, seed=0):
    rng = np.random.default_rng(seed)
    x = np.arange(N) - N // 2
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    vol = np.zeros((N, N, N))
    for _ in range(4):
        c = rng.uniform(-N / 6, N / 6, 3)
        vol += np.exp(-((X - c[0]) ** 2 + (Y - c[1]) ** 2 + (Z - c[2]) ** 2) / (2 * (N / 10) ** 2))
    return vol


@pytest.mark.parametrize("N", [16, 15])
@pytest.mark.parametrize("disc", DISCS)
def test_identity_slice_is_dft_of_projection_along_z(N, disc):
    """Fourier slice theorem (docs/conventions.md §5): with R = I the image is the 2-D DFT of
    sum(vol, axis=2).T. Cubic slices take spline coefficients."""
    vol = smooth_volume(N)
    spectrum = centered_dft(vol).reshape(-1)
    source = precompute_cubic_coefficients(spectrum, (N, N, N)) if disc == "cubic" else spectrum
    image = slice_volume(source, np.eye(3)[None], (N, N), (N, N, N), disc, max_r=None)
    expected = centered_dft(vol.sum(axis=2).T)
    assert_close(image.reshape(N, N), expected, rtol=1e-10 if disc != "cubic" else 1e-8)


@pytest.mark.parametrize("disc", DISCS)
def test_quarter_turn_permutes_the_volume(disc):
    """R with rows (e1, e2, e0): image x ↦ volume axis 1, image y ↦ axis 2, projection along
    axis 0, so image[r, c] = V[N/2, c, r] = DFT of sum(vol, axis=0).T."""
    N = 12
    vol = smooth_volume(N, 1)
    spectrum = centered_dft(vol)
    R = np.array([[[0.0, 1, 0], [0, 0, 1], [1, 0, 0]]])
    source = precompute_cubic_coefficients(spectrum, (N, N, N)) if disc == "cubic" else spectrum
    image = slice_volume(source, R, (N, N), (N, N, N), disc, max_r=None).reshape(N, N)
    assert_close(image, spectrum[N // 2].T, rtol=1e-10 if disc != "cubic" else 1e-8)
    assert_close(image, centered_dft(vol.sum(axis=0).T), rtol=1e-8)


@pytest.mark.parametrize("disc", ["linear_interp", "cubic"])
def test_rotated_slice_converges_to_the_continuous_spectrum(disc):
    """A smooth analytic spectrum F sampled on the grid: the slice at R approximates F at
    q = (kx, ky, 0) @ R with second-order (linear) or fourth-order (cubic spline) accuracy:
    doubling F's width divides the error by about 4 or 16."""
    N = 48
    x = np.arange(N) - N // 2
    Q = np.stack(np.meshgrid(x, x, x, indexing="ij"), -1).astype(float)
    shift = np.array([0.11, -0.2, 0.07])  # phase ramp in units of the width
    R = random_rotations(3, 11)
    ky, kx = np.meshgrid(x, x, indexing="ij")
    plane = np.stack([kx.ravel(), ky.ravel(), np.zeros(N * N)], -1)
    inside = (kx ** 2 + ky ** 2 <= (N // 2 - 1) ** 2).ravel()
    errors = []
    for width in (2.5, 5.0):
        def F(q):
            return np.exp(-np.sum(q ** 2, -1) / (2 * width ** 2)) * np.exp(-2j * np.pi * q @ shift / width)

        spectrum = F(Q).reshape(-1)
        source = precompute_cubic_coefficients(spectrum, (N, N, N)) if disc == "cubic" else spectrum
        images = slice_volume(source, R, (N, N), (N, N, N), disc)
        expected = np.stack([np.where(inside, F(plane @ r), 0) for r in R])
        errors.append(np.linalg.norm(images - expected) / np.linalg.norm(expected))
    order = 2 if disc == "linear_interp" else 4
    assert errors[1] < (0.1 if order == 2 else 2e-3)
    assert errors[0] / errors[1] > 0.7 * 2 ** order


@pytest.mark.parametrize("N", [8, 9])
def test_default_max_r_clips_outside_the_inscribed_disc(N):
    vol = crandn(np.random.default_rng(1), N ** 3)
    ref = vol.reshape(N, N, N)[:, :, N // 2].T.reshape(-1)
    k = np.arange(N) - N // 2
    kx, ky = np.meshgrid(k, k)  # kx varies along columns
    keep = (kx ** 2 + ky ** 2 <= (N // 2 - 1) ** 2).reshape(-1)
    for disc in ("nearest", "linear_interp"):
        got = slice_volume(vol, np.eye(3)[None], (N, N), (N, N, N), disc)[0]
        assert_close(got, np.where(keep, ref, 0), rtol=1e-12)
        assert_close(slice_volume(vol, np.eye(3)[None], (N, N), (N, N, N), disc, max_r=None)[0], ref, rtol=1e-12)
    assert _default_max_r((N, N)) == N // 2 - 1


def test_cubic_ignores_max_r():
    N = 8
    vol = crandn(np.random.default_rng(2), N ** 3)
    R = random_rotations(2, 5)
    a = slice_volume(vol, R, (N, N), (N, N, N), "cubic")
    assert np.array_equal(a, slice_volume(vol, R, (N, N), (N, N, N), "cubic", max_r=1))
    assert np.array_equal(a, slice_volume(vol, R, (N, N), (N, N, N), "cubic", max_r=None))


def test_backprojection_skips_clipped_pixels():
    N = 8
    R = random_rotations(2, 1)
    y = np.ones((2, N * N), complex)
    k = np.arange(N) - N // 2
    kx, ky = np.meshgrid(k, k)
    inside = (kx ** 2 + ky ** 2 <= 4).reshape(-1)
    for disc in ("nearest", "linear_interp"):
        a = adjoint_slice_volume(y, R, (N, N), (N, N, N), disc, max_r=2)
        b = adjoint_slice_volume(np.where(inside, y, 0), R, (N, N), (N, N, N), disc, max_r=None)
        assert_close(a, b, rtol=1e-12)


@pytest.mark.parametrize("disc", DISCS)
def test_upsampled_volume_scales_plane_frequencies(disc):
    """Zero-padding a volume to 2N in real space halves its frequency spacing: frequency k of
    the N-box is frequency 2k of the 2N-box. So the slice of the padded volume's spectrum with
    volume_shape (2N,)*3 equals the slice of the original spectrum (identity pose, where the
    samples are grid points). recovar's CPU nearest/linear path would sample 1k instead."""
    N = 8
    vol = smooth_volume(N, 3)
    big = centered_dft(np.pad(vol, N // 2)).reshape(-1)
    if disc == "cubic":
        big = precompute_cubic_coefficients(big, (2 * N,) * 3)
    image = slice_volume(big, np.eye(3)[None], (N, N), (2 * N,) * 3, disc, max_r=None)
    assert_close(image.reshape(N, N), centered_dft(vol)[:, :, N // 2].T, rtol=1e-8)


# ---- batches, shapes, dtypes, edge cases -------------------------------------------------------

@pytest.mark.parametrize("disc", DISCS)
@pytest.mark.parametrize("layout", LAYOUTS, ids=["full", "half_volume", "half_image", "half_both"])
def test_batch_versions_equal_a_loop_over_single_calls(disc, layout):
    hv, hi = layout
    N = 7
    rng = np.random.default_rng(12)
    R = random_rotations(3, 8, np.float32)
    size = N * N * (N // 2 + 1) if hv else N ** 3
    vols = crandn(rng, 3, size).astype(np.complex64)
    out = batch_slice_volume(vols, R, (N, N), (N, N, N), disc, half_volume=hv, half_image=hi)
    for b in range(3):
        assert np.array_equal(out[b], slice_volume(vols[b], R, (N, N), (N, N, N), disc, half_volume=hv,
                                                   half_image=hi))
    npix = N * (N // 2 + 1) if hi else N * N
    stacks = crandn(rng, 2, 3, npix).astype(np.complex64)
    acc = crandn(rng, 2, size).astype(np.complex64)
    adj = batch_adjoint_slice_volume(stacks, R, (N, N), (N, N, N), disc, volumes=acc, half_image=hi,
                                     half_volume=hv)
    for b in range(2):
        single = adjoint_slice_volume(stacks[b], R, (N, N), (N, N, N), disc, volume=acc[b], half_image=hi,
                                      half_volume=hv)
        assert_close(adj[b], single, rtol=1e-6)


def test_grid_shaped_inputs_equal_flat_inputs():
    N = 8
    rng = np.random.default_rng(3)
    R = random_rotations(2, 3)
    vol = crandn(rng, N, N, N)
    assert np.array_equal(slice_volume(vol, R, (N, N), (N, N, N), "linear_interp"),
                          slice_volume(vol.reshape(-1), R, (N, N), (N, N, N), "linear_interp"))
    half = crandn(rng, N, N, N // 2 + 1)
    assert np.array_equal(slice_volume(half, R, (N, N), (N, N, N), "nearest", half_volume=True),
                          slice_volume(half.reshape(-1), R, (N, N), (N, N, N), "nearest", half_volume=True))
    s = crandn(rng, 2, N, N // 2 + 1)
    assert np.array_equal(adjoint_slice_volume(s, R, (N, N), (N, N, N), "linear_interp", half_image=True),
                          adjoint_slice_volume(s.reshape(2, -1), R, (N, N), (N, N, N), "linear_interp",
                                               half_image=True))


def test_accumulator_is_added_and_not_modified():
    N = 8
    rng = np.random.default_rng(4)
    R = random_rotations(2, 3, np.float32)
    s = crandn(rng, 2, N * N).astype(np.complex64)
    acc = crandn(rng, N ** 3).astype(np.complex64)
    keep = acc.copy()
    for disc in DISCS:
        with_acc = adjoint_slice_volume(s, R, (N, N), (N, N, N), disc, volume=acc)
        without = adjoint_slice_volume(s, R, (N, N), (N, N, N), disc)
        assert_close(with_acc - without, acc, rtol=1e-6)
        assert np.array_equal(acc, keep)
    promoted = adjoint_slice_volume(s.real.astype(np.float32), R, (N, N), (N, N, N), "nearest",
                                    volume=acc.astype(np.complex128))
    assert promoted.dtype == np.complex128


@pytest.mark.parametrize("disc", DISCS)
def test_output_dtypes_follow_the_spec(disc):
    N = 6
    R32, R64 = random_rotations(2, 1, np.float32), random_rotations(2, 1)
    v32 = np.ones(N ** 3, np.float32)
    assert slice_volume(v32, R32, (N, N), (N, N, N), disc).dtype == np.float32
    assert slice_volume(v32.astype(np.complex64), R32, (N, N), (N, N, N), disc).dtype == np.complex64
    expected = np.complex64 if disc == "nearest" else np.complex128
    assert slice_volume(v32.astype(np.complex64), R64, (N, N), (N, N, N), disc).dtype == expected
    s = np.ones((2, N * N), np.complex64)
    assert adjoint_slice_volume(s, R64, (N, N), (N, N, N), disc).dtype == np.complex64
    assert adjoint_slice_volume(s.real, R32, (N, N), (N, N, N), disc).dtype == np.float32
    assert adjoint_slice_volume(s.real.astype(np.float64), R32, (N, N), (N, N, N), disc).dtype == np.float64


@pytest.mark.parametrize("disc", DISCS)
def test_batch_of_one_and_empty_batches(disc):
    N = 6
    rng = np.random.default_rng(6)
    vol = crandn(rng, N ** 3)
    R = random_rotations(3, 2)
    one = slice_volume(vol, R[:1], (N, N), (N, N, N), disc)
    assert one.shape == (1, N * N)
    assert_close(one[0], slice_volume(vol, R, (N, N), (N, N, N), disc)[0], rtol=1e-12)
    assert slice_volume(vol, np.zeros((0, 3, 3)), (N, N), (N, N, N), disc).shape == (0, N * N)
    assert batch_slice_volume(np.zeros((0, N ** 3)), R, (N, N), (N, N, N), disc).shape == (0, 3, N * N)
    empty = adjoint_slice_volume(np.zeros((0, N * N)), np.zeros((0, 3, 3)), (N, N), (N, N, N), disc)
    assert empty.shape == (N ** 3,) and not empty.any()
    acc = crandn(rng, N ** 3)
    assert_close(adjoint_slice_volume(np.zeros((0, N * N)), np.zeros((0, 3, 3)), (N, N), (N, N, N), disc,
                                      volume=acc), acc, rtol=0)
    assert batch_adjoint_slice_volume(np.zeros((0, 3, N * N)), R, (N, N), (N, N, N), disc).shape == (0, N ** 3)


def test_decide_order_and_sentinels():
    assert (decide_order("nearest"), decide_order("linear_interp"), decide_order("cubic")) == (0, 1, 3)
    for bad in ("", "linear", None, 1):
        with pytest.raises(ValueError, match="disc_type"):
            decide_order(bad)
    assert slicing._AUTO is _AUTO and repr(_AUTO) == "_AUTO"
    assert _default_max_r((128, 128)) == 63
    assert set(slicing.__all__) >= {"slice_volume", "batch_slice_volume", "adjoint_slice_volume",
                                    "batch_adjoint_slice_volume", "precompute_cubic_coefficients",
                                    "precompute_cubic_coefficients_half", "slice_from_cubic_coefficients",
                                    "decide_order", "_AUTO", "_default_max_r"}


def test_bad_input_raises_errors_naming_the_argument():
    N = 8
    vol = np.zeros(N ** 3, np.complex64)
    R = random_rotations(2, 1)
    shape = (N, N, N)
    with pytest.raises(ValueError, match="rotation_matrices"):
        slice_volume(vol, R[:, :, :2], (N, N), shape, "nearest")
    with pytest.raises(ValueError, match="rotation_matrices"):
        slice_volume(vol, R[0], (N, N), shape, "nearest")
    bad = R.copy()
    bad[1, 2, 2] = np.nan
    with pytest.raises(ValueError, match="rotation_matrices"):
        slice_volume(vol, bad, (N, N), shape, "linear_interp")
    bad[1, 2, 2] = np.inf
    with pytest.raises(ValueError, match="rotation_matrices"):
        adjoint_slice_volume(np.zeros((2, N * N)), bad, (N, N), shape, "linear_interp")
    with pytest.raises(TypeError, match="rotation_matrices"):
        slice_volume(vol, R.astype(complex), (N, N), shape, "nearest")
    with pytest.raises(ValueError, match="volume"):
        slice_volume(vol[:-1], R, (N, N), shape, "nearest")
    with pytest.raises(ValueError, match="volume"):
        slice_volume(vol, R, (N, N), shape, "nearest", half_volume=True)
    with pytest.raises(ValueError, match="disc_type"):
        slice_volume(vol, R, (N, N), shape, "bilinear")
    with pytest.raises(ValueError, match="slices"):
        adjoint_slice_volume(np.zeros((2, N * N + 1)), R, (N, N), shape, "nearest")
    with pytest.raises(ValueError, match="slices"):
        adjoint_slice_volume(np.zeros((2, N, N)), R, (N, N), shape, "nearest", half_image=True)
    with pytest.raises(ValueError, match="rotation_matrices"):
        adjoint_slice_volume(np.zeros((3, N * N)), R, (N, N), shape, "nearest")
    with pytest.raises(ValueError, match="volume"):
        adjoint_slice_volume(np.zeros((2, N * N)), R, (N, N), shape, "nearest", volume=np.zeros(5))
    with pytest.raises(ValueError, match="image_shape"):
        slice_volume(vol, R, (N, N + 2), shape, "nearest")
    with pytest.raises(ValueError, match="volume_shape"):
        slice_volume(vol, R, (N, N), (N, N), "nearest")
    with pytest.raises(TypeError, match="half_volume"):
        slice_volume(vol, R, (N, N), shape, "nearest", half_volume="yes")
    with pytest.raises(TypeError, match="max_r"):
        slice_volume(vol, R, (N, N), shape, "nearest", max_r="big")
    with pytest.raises(ValueError, match="max_r"):
        slice_volume(vol, R, (N, N), shape, "nearest", max_r=float("nan"))
    with pytest.raises(ValueError, match="volumes"):
        batch_slice_volume(vol, R, (N, N), shape, "nearest")
    with pytest.raises(ValueError, match="coeffs"):
        slice_from_cubic_coefficients(np.zeros(10), R, (N, N), shape)
    with pytest.raises(TypeError, match="volume"):
        slice_volume(np.array(["a"] * N ** 3), R, (N, N), shape, "nearest")
