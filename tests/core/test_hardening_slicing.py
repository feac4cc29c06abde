"""Property-based hardening of recovar_jl.core.slicing.

Every call gets an input in some dtype and memory layout and either returns what a dense
NumPy reference of the operator says (slicing W·v, backprojection Wᵀ·s, built from the
spec's formulas) or refuses with ValueError/TypeError naming the argument.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from generators import expand_half, fold_full, packed_columns

from recovar_jl.core import slicing
from hardening import (ALL_DTYPES, COMPLEX_DTYPES, LAYOUTS, REAL_DTYPES, Refused, as_user_input,
                                   computes_in, hardening, outcome, random_values, rel_error, rotations,
                                   tolerance_for)

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
    vlayout = data.draw(st.sampled_from(LAYOUTS), label="volume layout")
    rdtype = data.draw(st.sampled_from(REAL_DTYPES[:3] + COMPLEX_DTYPES + ["object"]), label="rotation dtype")
    rlayout = data.draw(st.sampled_from(LAYOUTS), label="rotation layout")
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
    slayout = data.draw(st.sampled_from(LAYOUTS), label="slices layout")
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
    lay = data.draw(st.sampled_from(LAYOUTS))
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
