"""recovar_jl.core.padding: parity with recovar 1.0.5, padding identities, edge cases."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import assert_close, load_fixture
from hardening import LAYOUTS, Refused, as_user_input, hardening, outcome, random_values, rel_error
from recovar_jl.core import fourier_transform_utils as ftu
from recovar_jl.core import padding

FIX = load_fixture("padding")
IMAGE_CASES = [(8, 4), (8, 3), (7, 4), (7, 3), (6, 0)]
VOLUME_CASES = [(6, 2), (5, 3), (6, 3)]


def fx(case, field="output"):
    return FIX[f"{case}__{field}"]


@pytest.mark.parametrize("n,p", IMAGE_CASES)
def test_image_padding_functions_match_recovar(n, p):
    tag = f"n{n}_p{p}"
    for name, fn in [(f"padded_dft_{tag}", lambda x: padding.padded_dft(x, n * n, p)),
                     (f"padded_rfft_{tag}", lambda x: padding.padded_rfft(x, n * n, p)),
                     (f"pad_images_{tag}", lambda x: padding.pad_images_spatial_domain(x, p)),
                     (f"unpad_images_{tag}", lambda x: padding.unpad_images_spatial_domain(x, p)),
                     (f"pad_images_fourier_{tag}", lambda x: padding.pad_images_fourier_domain(x, (n, n), p)),
                     (f"unpad_images_fourier_{tag}",
                      lambda x: padding.unpad_images_fourier_domain(x, (n + p, n + p), p))]:
        out = fn(fx(name, "input"))
        assert out.dtype == fx(name).dtype, name
        assert_close(out, fx(name), name=name)


@pytest.mark.parametrize("n,p", VOLUME_CASES)
def test_volume_padding_functions_match_recovar(n, p):
    tag = f"n{n}_p{p}"
    for name, fn in [(f"pad_volume_{tag}", lambda x: padding.pad_volume_spatial_domain(x, p)),
                     (f"unpad_volume_{tag}", lambda x: padding.unpad_volume_spatial_domain(x, p)),
                     (f"unpad_volume_fourier_{tag}",
                      lambda x: padding.unpad_volume_fourier_domain(x, (n + p,) * 3, p))]:
        out = fn(fx(name, "input"))
        assert out.dtype == fx(name).dtype, name
        assert_close(out, fx(name), name=name)


def test_float16_and_complex_inputs_match_recovar():
    out = padding.padded_rfft(fx("padded_rfft_float16", "input"), 36, 2)
    assert out.dtype == np.complex64
    assert_close(out, fx("padded_rfft_float16"), rtol=1e-5)
    assert_close(padding.padded_dft(fx("padded_dft_complex", "input"), 25, 2), fx("padded_dft_complex"))


@pytest.mark.parametrize("p", [0, 2, 4, 6])
def test_unpad_after_pad_is_identity_for_even_padding(rng, p):
    images = rng.standard_normal((3, 7, 7)).astype(np.float32)
    np.testing.assert_array_equal(padding.unpad_images_spatial_domain(padding.pad_images_spatial_domain(images, p), p),
                                  images)
    vol = rng.standard_normal((5, 6, 4))
    np.testing.assert_array_equal(padding.unpad_volume_spatial_domain(padding.pad_volume_spatial_domain(vol, p), p),
                                  vol)


def test_odd_padding_unpads_one_sample_more_than_the_original(rng):
    images = rng.standard_normal((2, 6, 6)).astype(np.float32)
    padded = padding.pad_images_spatial_domain(images, 3)
    assert padded.shape == (2, 9, 9)
    np.testing.assert_array_equal(padded[:, 1:7, 1:7], images)   # data at p//2 = 1
    back = padding.unpad_images_spatial_domain(padded, 3)
    assert back.shape == (2, 7, 7)
    np.testing.assert_array_equal(back[:, :6, :6], images)
    assert padding.unpad_volume_spatial_domain(np.zeros((9, 9, 9)), 3).shape == (7, 7, 7)


def test_padded_transforms_equal_padding_then_centered_transform(rng):
    images = rng.standard_normal((4, 6, 6)).astype(np.float32)
    big = padding.pad_images_spatial_domain(images, 4)
    assert_close(padding.padded_dft(images, 36, 4), ftu.get_dft2(big).reshape(4, -1))
    assert_close(padding.padded_rfft(images, 36, 4), ftu.get_dft2_real(big).reshape(4, -1))
    assert padding.padded_rfft(images, 36, 4).shape == (4, 10 * 6)


def test_fourier_domain_unpad_inverts_fourier_domain_pad_for_even_padding(rng):
    spectra = ftu.get_dft2(rng.standard_normal((3, 8, 8))).reshape(3, -1)
    padded = padding.pad_images_fourier_domain(spectra, (8, 8), 4)
    assert padded.shape == (3, 144)
    assert_close(padding.unpad_images_fourier_domain(padded, (12, 12), 4), spectra)
    vol = rng.standard_normal((6, 6, 6))
    big = ftu.get_dft3(padding.pad_volume_spatial_domain(vol, 2))
    assert_close(padding.unpad_volume_fourier_domain(big.reshape(-1), (8, 8, 8), 2), ftu.get_dft3(vol).reshape(-1))


def test_padding_preserves_dtype_and_never_touches_input(rng):
    images = (rng.standard_normal((2, 4, 4)) + 1j).astype(np.complex128)
    keep = images.copy()
    assert padding.pad_images_spatial_domain(images, 2).dtype == np.complex128
    assert padding.padded_dft(images, 16, 2).dtype == np.complex128
    out = padding.unpad_images_spatial_domain(images, 0)
    out[...] = 0
    np.testing.assert_array_equal(images, keep)


def test_batch_of_one_and_empty_batch(rng):
    one = rng.standard_normal((1, 5, 5)).astype(np.float32)
    assert padding.padded_dft(one, 25, 2).shape == (1, 49)
    empty = np.zeros((0, 5, 5), np.float32)
    assert padding.padded_dft(empty, 25, 2).shape == (0, 49)
    assert padding.padded_rfft(empty, 25, 2).shape == (0, 7 * 4)


def test_bad_input_raises_errors_naming_the_argument():
    with pytest.raises(ValueError, match="images"):
        padding.pad_images_spatial_domain(np.zeros((4, 4)), 2)
    with pytest.raises(ValueError, match="padding"):
        padding.padded_dft(np.zeros((1, 4, 4)), 16, -2)
    with pytest.raises(TypeError, match="padding"):
        padding.padded_dft(np.zeros((1, 4, 4)), 16, 1.5)
    with pytest.raises(TypeError, match="images"):
        padding.padded_rfft(np.zeros((1, 4, 4), np.complex64), 16, 2)
    with pytest.raises(ValueError, match="images.*NaN"):
        padding.padded_rfft(np.full((1, 4, 4), np.nan), 16, 2)
    with pytest.raises(TypeError, match="images"):
        padding.pad_images_spatial_domain(np.array([[[object()]]]), 2)
    with pytest.raises(ValueError, match="padding"):
        padding.unpad_images_spatial_domain(np.zeros((1, 4, 4)), 4)
    with pytest.raises(ValueError, match="padded_image_shape"):
        padding.unpad_volume_fourier_domain(np.zeros(64, np.complex64), (4, 4), 2)
    with pytest.raises(ValueError, match="volume"):
        padding.unpad_volume_fourier_domain(np.zeros(60, np.complex64), (4, 4, 4), 2)
    with pytest.raises(ValueError, match="image_shape"):
        padding.pad_images_fourier_domain(np.zeros((2, 16), np.complex64), (4, 0), 2)


# --- property-based hardening (hypothesis): any dtype and layout, against NumPy -------------------

@hardening(30)
@given(st.data())
def test_padding_round_trips_and_matches_numpy(data):
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
