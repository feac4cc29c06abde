"""recovar_jl.core.slicing: parity with recovar 1.0.5, mathematical properties, edge cases."""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from conftest import assert_close, load_fixture
from generators import centered_dft, crandn, expand_half, fold_full, packed_columns, random_rotations
from hardening import LAYOUTS as MEMORY_LAYOUTS  # this file's LAYOUTS are the half/full layouts
from hardening import (ALL_DTYPES, COMPLEX_DTYPES, NUMERICS_BOX, NUMERICS_IMAGES, NUMERICS_TOLERANCE, REAL_DTYPES,
                       Refused, as_user_input, computes_in, hardening, max_relative_error, outcome, random_values,
                       rel_error, rotations, tolerance_for)

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


# --- property-based hardening (hypothesis): a dense NumPy reference of the operator ---------------
# Every call gets an input in some dtype and memory layout and either returns what a dense
# NumPy reference of the operator says (slicing W·v, backprojection Wᵀ·s, built from the
# spec's formulas) or refuses with ValueError/TypeError naming the argument.

ORDERS = {"nearest": 0, "linear_interp": 1, "cubic": 3}


def cubic_basis(t):
    t = np.abs(t)
    return np.where(t <= 1, 4 - 6 * t ** 2 + 3 * t ** 3, np.where(t <= 2, (2 - t) ** 3, 0.0))


def reference_operator(N, volume_shape, R, disc_type, max_r2, fragile_tol=0.0):
    """Dense W (n·N², V) with slice = W @ volume (full image, full volume); rows of pixels
    whose sample point is within `fragile_tol` of a rounding tie are flagged as fragile."""
    n = R.shape[0]
    npix = N * N
    rows, cols = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    kx = (cols - N // 2).ravel().astype(float)
    ky = (rows - N // 2).ravel().astype(float)
    u = max(1, volume_shape[0] // N)
    V = int(np.prod(volume_shape))
    shape = np.array(volume_shape)
    W = np.zeros((n * npix, V))
    fragile = np.zeros(n * npix, bool)
    order = ORDERS[disc_type]
    keep = np.ones(npix, bool) if (max_r2 < 0 or order == 3) else (kx ** 2 + ky ** 2 <= max_r2)
    center = np.array(volume_shape) // 2 if order != 3 else np.full(3, volume_shape[0] // 2)
    for i in range(n):
        g = np.stack([u * kx, u * ky, 0 * kx], -1) @ R[i] + center
        base = i * npix
        if order == 0:
            idx = np.round(g).astype(int)
            frac = g - np.floor(g)
            fragile[base:base + npix] = np.any(np.abs(frac - 0.5) < fragile_tol, axis=1)
            ok = keep & np.all((idx >= 0) & (idx < shape), axis=1)
            p = np.nonzero(ok)[0]
            np.add.at(W, (base + p, np.ravel_multi_index(idx[ok].T, volume_shape)), 1.0)
        elif order == 1:
            b = np.floor(g).astype(int)
            f = g - b
            for d in itertools.product((0, 1), repeat=3):
                d = np.array(d)
                j = b + d
                w = np.prod(np.where(d, f, 1 - f), axis=1)
                ok = keep & np.all((j >= 0) & (j < shape), axis=1)
                p = np.nonzero(ok)[0]
                np.add.at(W, (base + p, np.ravel_multi_index(j[ok].T, volume_shape)), w[ok])
        else:
            b = np.floor(g).astype(int)
            for d in itertools.product(range(-1, 3), repeat=3):
                j = b + np.array(d)
                w = np.prod(cubic_basis(g - j), axis=1)
                jw = np.mod(j, shape)
                np.add.at(W, (base + np.arange(npix), np.ravel_multi_index(jw.T, volume_shape)), w)
    return W, fragile


def expected_slice_dtype(disc_type, volume_dtype, rotation_dtype):
    vol = np.dtype(volume_dtype)
    vol = vol if vol in (np.float64, np.complex64, np.complex128) else np.dtype(np.float32)
    if disc_type == "nearest":
        return vol
    coord = np.dtype(np.float64) if np.dtype(rotation_dtype) == np.float64 else np.dtype(np.float32)
    return np.result_type(vol, coord)


def max_r_strategy(N):
    return st.one_of(st.just(slicing._AUTO), st.none(), st.floats(-1.0, float(N), allow_nan=False),
                     st.integers(0, N), st.just(np.float32(N / 3)), st.just(float("inf")))


def max_r2_of(max_r, N):
    if max_r is slicing._AUTO:
        m = slicing._default_max_r((N, N))
    elif max_r is None:
        return -1.0
    else:
        m = float(max_r)
    return -1.0 if np.isinf(m) else m * m


@hardening(40)
@given(st.data())
def test_slice_volume_matches_dense_reference_for_any_dtype_layout_and_clip(data):
    N = data.draw(st.integers(1, 7), label="N")
    disc_type = data.draw(st.sampled_from(list(ORDERS)), label="disc_type")
    if disc_type == "cubic":
        volume_shape = (N,) * 3 if data.draw(st.booleans()) else (2 * N,) * 3
    else:
        volume_shape = tuple(data.draw(st.lists(st.integers(max(1, N - 1), N + 1), min_size=3, max_size=3)))
    n = data.draw(st.integers(0, 3), label="n")
    vdtype = data.draw(st.sampled_from(ALL_DTYPES), label="volume dtype")
    vlayout = data.draw(st.sampled_from(MEMORY_LAYOUTS), label="volume layout")
    rdtype = data.draw(st.sampled_from(REAL_DTYPES[:3] + COMPLEX_DTYPES + ["object"]), label="rotation dtype")
    rlayout = data.draw(st.sampled_from(MEMORY_LAYOUTS), label="rotation layout")
    grid_shaped = data.draw(st.booleans(), label="grid-shaped volume")
    max_r = data.draw(max_r_strategy(N), label="max_r")
    seed = data.draw(st.integers(0, 2**31 - 1))
    R = data.draw(rotations(n))
    values = random_values(seed, volume_shape if grid_shaped else (int(np.prod(volume_shape)),))
    volume, vdtype, vol_seen = as_user_input(values, vdtype, vlayout)
    rot, rdtype, rot_seen = as_user_input(R, rdtype, rlayout)
    empty_list = rlayout == "list" and n == 0   # [] cannot say it is (0, 3, 3)
    try:
        out = outcome(slicing.slice_volume, volume, rot, (N, N), volume_shape, disc_type, max_r=max_r,
                      names=("volume", "rotation_matrices"))
    except Refused as exc:
        # Only object and complex inputs may be refused (nothing numeric about them to compute).
        assert vdtype == "object" or rdtype in COMPLEX_DTYPES + ["object"] or empty_list, str(exc)
        return
    assert vdtype != "object" and rdtype not in COMPLEX_DTYPES + ["object"], "accepted a non-real input"
    rot_dtype = computes_in(rdtype)
    assert out.shape == (n, N * N)
    assert out.dtype == expected_slice_dtype(disc_type, vdtype, rot_dtype), out.dtype
    R_used = rot_seen.astype(rot_dtype).astype(np.float64)
    single = rot_dtype == np.float32 or np.dtype(vdtype) not in (np.float64, np.complex128)
    W, fragile = reference_operator(N, volume_shape, R_used, disc_type, max_r2_of(max_r, N),
                                    fragile_tol=1e-4 if single else 0.0)
    expected = (W @ vol_seen.reshape(-1).astype(np.complex128)).reshape(n, N * N)
    got = out.reshape(-1)[~fragile]
    tol = 1e-10 if not single else 5e-5
    assert rel_error(got, expected.reshape(-1)[~fragile]) <= tol


@hardening(30)
@given(st.data())
def test_half_image_and_half_volume_equal_the_packed_full_computation(data):
    N = data.draw(st.integers(1, 7), label="N")
    disc_type = data.draw(st.sampled_from(list(ORDERS)), label="disc_type")
    volume_shape = (N,) * 3
    n = data.draw(st.integers(1, 3))
    R = data.draw(rotations(n)).astype(np.float32)
    seed = data.draw(st.integers(0, 2**31 - 1))
    half_shape = (N, N, N // 2 + 1)
    h = random_values(seed, half_shape).astype(np.complex64)
    full = expand_half(h, volume_shape).astype(np.complex64)
    from_full = slicing.slice_volume(full.reshape(-1), R, (N, N), volume_shape, disc_type)
    from_half = slicing.slice_volume(h.reshape(-1), R, (N, N), volume_shape, disc_type, half_volume=True)
    assert rel_error(from_half, from_full) <= 1e-5
    half_images = slicing.slice_volume(full, R, (N, N), volume_shape, disc_type, half_image=True)
    packed = from_full.reshape(n, N, N)[:, :, packed_columns(N)].reshape(n, -1)
    assert rel_error(half_images, packed) <= 1e-5


@hardening(40)
@given(st.data())
def test_adjoint_slice_volume_is_the_reference_transpose_for_any_dtype_and_layout(data):
    N = data.draw(st.integers(1, 6), label="N")
    disc_type = data.draw(st.sampled_from(["nearest", "linear_interp"]), label="disc_type")
    volume_shape = tuple(data.draw(st.lists(st.integers(max(1, N - 1), N + 1), min_size=3, max_size=3)))
    n = data.draw(st.integers(0, 3), label="n")
    sdtype = data.draw(st.sampled_from(ALL_DTYPES), label="slices dtype")
    slayout = data.draw(st.sampled_from(MEMORY_LAYOUTS), label="slices layout")
    grid_images = data.draw(st.booleans())
    with_volume = data.draw(st.booleans())
    max_r = data.draw(max_r_strategy(N), label="max_r")
    seed = data.draw(st.integers(0, 2**31 - 1))
    R = data.draw(rotations(n)).astype(np.float32)
    values = random_values(seed, (n, N, N) if grid_images else (n, N * N))
    slices, sdtype, seen = as_user_input(values, sdtype, slayout)
    empty_list = slayout == "list" and n == 0
    V = int(np.prod(volume_shape))
    acc = random_values(seed + 1, V).astype(np.complex64) if with_volume else None
    kwargs = {"max_r": max_r}
    if with_volume:
        kwargs["volume"] = acc
    try:
        out = outcome(slicing.adjoint_slice_volume, slices, R, (N, N), volume_shape, disc_type,
                      names=("slices",), **kwargs)
    except Refused as exc:
        assert sdtype == "object" or empty_list, str(exc)
        return
    assert sdtype != "object"
    sd = computes_in(sdtype)
    want_dtype = np.result_type(sd, acc.dtype) if with_volume else sd
    assert out.shape == (V,) and out.dtype == want_dtype
    W, fragile = reference_operator(N, volume_shape, R.astype(np.float64), disc_type, max_r2_of(max_r, N),
                                    fragile_tol=1e-4)
    if fragile.any():
        return  # a sample point on a rounding tie: float32 and float64 may pick different voxels
    expected = W.T @ seen.reshape(-1).astype(np.complex128)
    if with_volume:
        expected = expected + acc
    assert rel_error(out, expected) <= 5e-5


@hardening(25)
@given(st.data())
def test_batch_functions_equal_a_loop_of_single_calls_including_empty_batches(data):
    N = data.draw(st.integers(1, 6))
    disc_type = data.draw(st.sampled_from(list(ORDERS)))
    B = data.draw(st.integers(0, 3))
    n = data.draw(st.integers(0, 2))
    vs = (N,) * 3
    R = data.draw(rotations(n)).astype(np.float32)
    seed = data.draw(st.integers(0, 2**31 - 1))
    vols = random_values(seed, (B, N ** 3)).astype(np.complex64)
    out = slicing.batch_slice_volume(vols, R, (N, N), vs, disc_type)
    assert out.shape == (B, n, N * N)
    for b in range(B):
        np.testing.assert_array_equal(out[b], slicing.slice_volume(vols[b], R, (N, N), vs, disc_type))
    imgs = random_values(seed + 1, (B, n, N * N)).astype(np.complex64)
    back = slicing.batch_adjoint_slice_volume(imgs, R, (N, N), vs, disc_type)
    assert back.shape == (B, N ** 3)
    for b in range(B):
        single = slicing.adjoint_slice_volume(imgs[b], R, (N, N), vs, disc_type)
        assert rel_error(back[b], single) <= 1e-6


@hardening(30)
@given(st.data())
def test_precompute_cubic_coefficients_solves_the_periodic_system(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=3, max_size=3)))
    dtype = data.draw(st.sampled_from(ALL_DTYPES))
    lay = data.draw(st.sampled_from(MEMORY_LAYOUTS))
    values = random_values(data.draw(st.integers(0, 2**31 - 1)), shape)
    vol, dtype, seen = as_user_input(values, dtype, lay)
    try:
        coeffs = outcome(slicing.precompute_cubic_coefficients, vol, shape, names=("volume",))
    except Refused:
        assert dtype == "object"
        return
    assert dtype != "object" and coeffs.shape == shape
    lam = [4 + 2 * np.cos(2 * np.pi * np.arange(m) / m) for m in shape]
    denom = lam[0][:, None, None] * lam[1][None, :, None] * lam[2][None, None, :]
    expected = np.fft.ifftn(np.fft.fftn(seen.reshape(shape)) / denom)
    if seen.dtype.kind != "c":
        expected = expected.real
    assert rel_error(coeffs, expected) <= tolerance_for(coeffs.dtype) * 10


BAD_ARGUMENTS = {
    "volume": [np.zeros(5), "volume", None, [[1, 2], [3]], np.array(["a"] * 8)],
    "rotation_matrices": [np.zeros((2, 3, 2)), np.eye(3), np.full((1, 3, 3), np.nan), np.full((1, 3, 3), np.inf),
                          np.eye(3)[None] * 1j, "R", None],
    "image_shape": [(2,), (2, 3), (0, 0), (-2, -2), "ab", 2, (2, 2.5), None, (2, 2, 2)],
    "volume_shape": [(2, 2), (0, 2, 2), "xyz", None, (2, 2, -1), 8],
    "disc_type": ["cubic2", None, 1, "Linear", b"nearest"],
    "half_image": ["yes", 2, None, 0.5],
    "half_volume": ["no", -1, [True]],
    "max_r": ["x", float("nan"), [1, 2], 1j],
}


@hardening(60)
@given(st.data())
def test_bad_arguments_are_refused_naming_the_argument(data):
    which = data.draw(st.sampled_from(sorted(BAD_ARGUMENTS)))
    bad = data.draw(st.sampled_from(BAD_ARGUMENTS[which]))
    func = data.draw(st.sampled_from(["slice", "adjoint", "batch_slice"]))
    args = {"volume": np.zeros(8, np.complex64), "rotation_matrices": np.eye(3, dtype=np.float32)[None],
            "image_shape": (2, 2), "volume_shape": (2, 2, 2), "disc_type": "linear_interp",
            "half_image": False, "half_volume": False, "max_r": slicing._AUTO}
    args[which] = bad
    names = (which,)
    if func == "slice":
        call = lambda: slicing.slice_volume(**args)  # noqa: E731
    elif func == "batch_slice":
        a = dict(args)
        volume = a.pop("volume")
        if which == "volume":
            names = ("volumes",)
        call = lambda: slicing.batch_slice_volume(volume if which == "volume" else volume[None], **a)  # noqa: E731
    else:
        a = dict(args)
        volume = a.pop("volume")
        slices = volume if which == "volume" else np.zeros((1, 4), np.complex64)
        if which == "volume":
            names = ("slices",)
        call = lambda: slicing.adjoint_slice_volume(slices, **a)  # noqa: E731
    if which == "volume_shape" and bad == 8:
        names = ("volume_shape",)
    with pytest.raises(Refused):
        outcome(call, names=names)


@hardening(25)
@given(st.data())
def test_numpy_scalars_lists_and_arrays_are_accepted_for_shapes_and_flags(data):
    N = data.draw(st.integers(2, 5))
    shape_form = data.draw(st.sampled_from(["tuple", "list", "array", "np-ints"]))
    image_shape = {"tuple": (N, N), "list": [N, N], "array": np.array([N, N]),
                   "np-ints": (np.int32(N), np.int64(N))}[shape_form]
    volume_shape = {"tuple": (N,) * 3, "list": [N] * 3, "array": np.array([N] * 3),
                    "np-ints": (np.int64(N),) * 3}[shape_form]
    flag = data.draw(st.sampled_from([False, np.bool_(False), 0]))
    max_r = data.draw(st.sampled_from([slicing._AUTO, np.float32(N // 2 - 1), np.int64(N // 2 - 1), N // 2 - 1]))
    vol = random_values(1, N ** 3).astype(np.complex64)
    R = np.eye(3, dtype=np.float32)[None]
    want = slicing.slice_volume(vol, R, (N, N), (N,) * 3, "linear_interp")
    got = slicing.slice_volume(vol, R, image_shape, volume_shape, "linear_interp", half_volume=flag,
                               half_image=flag, max_r=max_r)
    np.testing.assert_array_equal(got, want)


@hardening(30)
@given(st.data())
def test_half_layout_backprojection_is_the_full_one_through_expand_and_fold(data):
    N = data.draw(st.integers(1, 7), label="N")
    disc_type = data.draw(st.sampled_from(["nearest", "linear_interp"]), label="disc_type")
    n = data.draw(st.integers(0, 3), label="n")
    half_image = data.draw(st.booleans(), label="half_image")
    half_volume = data.draw(st.booleans(), label="half_volume")
    R = data.draw(rotations(n)).astype(np.float64)
    seed = data.draw(st.integers(0, 2**31 - 1))
    vs = (N, N, N)
    width = N // 2 + 1 if half_image else N
    S = random_values(seed, (n, N, width))
    out = slicing.adjoint_slice_volume(S.reshape(n, N * width), R, (N, N), vs, disc_type, half_image=half_image,
                                       half_volume=half_volume, max_r=None)
    full_images = expand_half(S, (N, N)) if half_image else S
    full = slicing.adjoint_slice_volume(full_images.reshape(n, N * N), R, (N, N), vs, disc_type, max_r=None)
    expected = fold_full(full.reshape(vs), vs).reshape(-1) if half_volume else full
    assert out.shape == expected.shape
    assert rel_error(out, expected) <= 1e-9


# --- numerical guard: float32 accumulation of 10⁵ images (tests/hardening.py) ---------------------

@pytest.mark.parametrize("disc_type", ["nearest", "linear_interp"])
@pytest.mark.parametrize("noise", [0.0, 1e-3])
def test_float32_backprojection_of_1e5_images_on_one_voxel_set_matches_float64(disc_type, noise):
    N = NUMERICS_BOX
    # A plain float32 running sum of 10^5 times 0.3 is off by ~4e-4 (measured).
    rotations = np.repeat(np.eye(3, dtype=np.float32)[None], NUMERICS_IMAGES, 0)
    rng = np.random.default_rng(1)
    slices = (np.float32(0.3) + rng.uniform(0, noise, (NUMERICS_IMAGES, N * N))).astype(np.float32)
    single = slicing.adjoint_slice_volume(slices, rotations, (N, N), (N, N, N), disc_type)
    double = slicing.adjoint_slice_volume(slices.astype(np.float64), rotations, (N, N), (N, N, N), disc_type)
    assert single.dtype == np.float32 and double.dtype == np.float64
    overall, per_voxel = max_relative_error(single, double)
    assert overall <= NUMERICS_TOLERANCE and per_voxel <= NUMERICS_TOLERANCE, (overall, per_voxel)


def test_float32_backprojection_of_1e5_randomly_rotated_images_matches_float64():
    N = NUMERICS_BOX
    rng = np.random.default_rng(2)
    rotations = random_rotations(NUMERICS_IMAGES, rng, np.float32)
    slices = (1.0 + rng.standard_normal((NUMERICS_IMAGES, N * N))).astype(np.float32)
    single = slicing.adjoint_slice_volume(slices, rotations, (N, N), (N, N, N), "linear_interp")
    double = slicing.adjoint_slice_volume(slices.astype(np.float64), rotations, (N, N), (N, N, N), "linear_interp")
    overall, per_voxel = max_relative_error(single, double)
    assert overall <= NUMERICS_TOLERANCE and per_voxel <= NUMERICS_TOLERANCE, (overall, per_voxel)
