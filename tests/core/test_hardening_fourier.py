"""Property-based hardening of fourier_transform_utils and padding against NumPy.

Centered transforms (docs/conventions.md §1–2) for any dtype, memory layout, batch (including
empty batches) and odd/even sizes; refusals name the argument. Skipped for functions that
have not landed yet.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from generators import centered_dft, centered_idft, packed_columns

from hardening import (ALL_DTYPES, LAYOUTS, Refused, as_user_input, computes_in, hardening, outcome,
                                   random_values, rel_error)

ftu = pytest.importorskip("recovar_jl.core.fourier_transform_utils")


def need(module, *names):
    missing = [n for n in names if not hasattr(module, n)]
    if missing:
        pytest.skip(f"{module.__name__}: {', '.join(missing)} not landed")


def complex_result_dtype(dtype_name):
    d = computes_in(dtype_name)
    return np.dtype(np.complex128) if d in (np.float64, np.complex128) else np.dtype(np.complex64)


TRANSFORMS = {
    "get_dft": (1, centered_dft), "get_idft": (1, centered_idft),
    "get_dft2": (2, centered_dft), "get_idft2": (2, centered_idft),
    "get_dft3": (3, centered_dft), "get_idft3": (3, centered_idft),
}


@hardening(40)
@given(st.data())
def test_centered_transforms_match_numpy_for_any_dtype_layout_and_batch(data):
    name = data.draw(st.sampled_from(sorted(TRANSFORMS)), label="function")
    need(ftu, name)
    rank, reference = TRANSFORMS[name]
    batch = tuple(data.draw(st.lists(st.integers(0, 3), max_size=2), label="batch"))
    shape = tuple(data.draw(st.lists(st.integers(1, 7), min_size=rank, max_size=rank), label="shape"))
    dtype = data.draw(st.sampled_from(ALL_DTYPES), label="dtype")
    lay = data.draw(st.sampled_from(LAYOUTS), label="layout")
    values = random_values(data.draw(st.integers(0, 2**31 - 1)), batch + shape)
    x, dtype, seen = as_user_input(values, dtype, lay)
    empty_list = lay == "list" and 0 in batch
    try:
        out = outcome(getattr(ftu, name), x, names=("img",))
    except Refused as exc:
        assert dtype == "object" or empty_list, str(exc)
        return
    assert dtype != "object"
    axes = tuple(range(-rank, 0))
    expected = reference(seen.astype(np.complex128), axes)
    assert out.shape == expected.shape and out.dtype == complex_result_dtype(dtype)
    tol = 1e-12 if out.dtype == np.complex128 else 2e-6
    assert rel_error(out, expected) <= tol * max(1, np.prod(shape)) ** 0.5


@hardening(30)
@given(st.data())
def test_real_transforms_are_packed_full_transforms_and_invert(data):
    need(ftu, "get_dft2_real", "get_idft2_real")
    batch = data.draw(st.integers(0, 3))
    H = data.draw(st.integers(1, 8))
    W = data.draw(st.integers(1, 8))
    dtype = data.draw(st.sampled_from(["float16", "float32", "float64", "int32", "bool"]))
    lay = data.draw(st.sampled_from(LAYOUTS))
    x, dtype, seen = as_user_input(random_values(data.draw(st.integers(0, 99)), (batch, H, W), False), dtype, lay)
    try:
        F = outcome(ftu.get_dft2_real, x, names=("img",))
    except Refused as exc:
        assert lay == "list" and batch == 0, str(exc)
        return
    full = centered_dft(seen.astype(np.float64), (-2, -1))
    assert rel_error(F, full[..., packed_columns(W)]) <= 1e-5
    back = ftu.get_idft2_real(F, image_shape=(H, W))
    assert back.shape == (batch, H, W) and back.dtype.kind == "f"
    assert rel_error(back, seen) <= 1e-5


@hardening(30)
@given(st.data())
def test_half_full_round_trip_for_hermitian_spectra(data):
    need(ftu, "full_image_to_half_image", "half_image_to_full_image")
    N = data.draw(st.integers(1, 9))
    n = data.draw(st.integers(0, 3))
    real_images = random_values(data.draw(st.integers(0, 99)), (n, N, N), False)
    full = centered_dft(real_images, (-2, -1)).astype(np.complex64)
    flat = data.draw(st.booleans())
    arg = full.reshape(n, N * N) if flat else full
    half = ftu.full_image_to_half_image(arg, (N, N))
    back = ftu.half_image_to_full_image(half, (N, N))
    assert rel_error(np.asarray(back).reshape(n, N, N), full) <= 1e-6


@hardening(30)
@given(st.data())
def test_padding_round_trips_and_matches_numpy(data):
    padding = pytest.importorskip("recovar_jl.core.padding")
    need(padding, "pad_images_spatial_domain", "unpad_images_spatial_domain")
    n = data.draw(st.integers(0, 3))
    N = data.draw(st.integers(1, 7))
    p = data.draw(st.integers(0, 5))
    dtype = data.draw(st.sampled_from(["float32", "float64", "complex64", "float16", "int64", "bool"]))
    lay = data.draw(st.sampled_from(LAYOUTS))
    x, dtype, seen = as_user_input(random_values(3, (n, N, N)), dtype, lay)
    try:
        padded = outcome(padding.pad_images_spatial_domain, x, p, names=("images",))
    except Refused as exc:
        assert lay == "list" and n == 0, str(exc)
        return
    expected = np.zeros((n, N + p, N + p), dtype=np.complex128)
    expected[:, p // 2:p // 2 + N, p // 2:p // 2 + N] = seen
    assert padded.shape == expected.shape
    assert rel_error(padded, expected) <= 1e-6
    if p % 2 == 0:
        assert rel_error(padding.unpad_images_spatial_domain(padded, p), seen) <= 1e-6


BAD_IMAGES = [None, "img", np.array([["a"]]), [[1, 2], [3]], np.zeros((2, 2), dtype=object), {"x": 1}]


@hardening(30)
@given(st.data())
def test_fourier_functions_refuse_non_numeric_images_naming_them(data):
    name = data.draw(st.sampled_from(["get_dft2", "get_idft2", "get_dft3", "get_dft2_real", "get_dft"]))
    need(ftu, name)
    bad = data.draw(st.sampled_from(BAD_IMAGES))
    with pytest.raises(Refused):
        outcome(getattr(ftu, name), bad, names=("img",))
