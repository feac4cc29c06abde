"""recovar_jl.core.fourier_transform_utils: parity with recovar 1.0.5, transform properties, edge cases."""
import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import assert_close, load_fixture
import generators
from generators import centered_dft, centered_idft, packed_columns, partner
from hardening import (ALL_DTYPES, LAYOUTS, Refused, as_user_input, computes_in, hardening, outcome, random_values,
                       rel_error)
from recovar_jl.core import fourier_transform_utils as ftu

FIX = load_fixture("fourier_transform_utils")
crandn = functools.partial(generators.crandn, dtype=np.complex64)


def case(name, field="output"):
    return FIX[f"{name}__{field}"]


# --- parity with recovar ------------------------------------------------------------------

CENTERED = {"dft": ftu.get_dft, "idft": ftu.get_idft, "dft2": ftu.get_dft2, "idft2": ftu.get_idft2,
            "dft3": ftu.get_dft3, "idft3": ftu.get_idft3}


@pytest.mark.parametrize("name", ["dft_even", "dft_odd", "idft_even", "idft_odd", "dft2_even", "dft2_odd",
                                  "dft2_rect", "idft2_even", "idft2_odd", "dft3_even", "dft3_odd", "idft3_even",
                                  "idft3_odd"])
def test_centered_transforms_match_recovar_for_odd_even_sizes_and_norms(name):
    fn = CENTERED[name.rsplit("_", 1)[0]]
    out = fn(case(name, "input"), norm=str(case(name, "norm")))
    assert out.dtype == case(name).dtype == np.complex64
    assert_close(out, case(name), name=name)


@pytest.mark.parametrize("name,fn", [("dft2_complex128", ftu.get_dft2), ("dft2_real_input", ftu.get_dft2),
                                     ("dft3_float64_input", ftu.get_dft3)])
def test_centered_transform_dtypes_follow_input_precision_like_recovar(name, fn):
    out = fn(case(name, "input"))
    assert out.dtype == case(name).dtype
    assert_close(out, case(name), name=name)


@pytest.mark.parametrize("name,fn,axes", [("dft3_axes012", ftu.get_dft3, (0, 1, 2)),
                                          ("idft3_axes012", ftu.get_idft3, (0, 1, 2)),
                                          ("dft3_axes_scattered", ftu.get_dft3, (0, 2))])
def test_dft3_over_leading_and_scattered_axes_matches_recovar(name, fn, axes):
    assert_close(fn(case(name, "input"), axes=axes), case(name), name=name)


@pytest.mark.parametrize("name", ["dft2_real_even", "dft2_real_odd", "dft2_real_rect"])
def test_dft2_real_matches_recovar(name):
    out = ftu.get_dft2_real(case(name, "input"))
    assert out.dtype == np.complex64
    assert_close(out, case(name), name=name)


@pytest.mark.parametrize("name", ["idft2_real_even", "idft2_real_odd", "idft2_real_rect"])
def test_idft2_real_of_arbitrary_complex_input_matches_recovar(name):
    shape = tuple(int(v) for v in case(name, "image_shape"))
    out = ftu.get_idft2_real(case(name, "input"), image_shape=None if shape[0] < 0 else shape)
    assert out.dtype == np.float32
    assert_close(out, case(name), name=name)


@pytest.mark.parametrize("name", ["dft3_real_even", "dft3_real_odd"])
def test_dft3_real_matches_recovar(name):
    assert_close(ftu.get_dft3_real(case(name, "input")), case(name), name=name)


@pytest.mark.parametrize("name", ["idft3_real_even", "idft3_real_odd"])
def test_idft3_real_of_arbitrary_complex_input_matches_recovar(name):
    shape = tuple(int(v) for v in case(name, "volume_shape"))
    out = ftu.get_idft3_real(case(name, "input"), volume_shape=None if shape[0] < 0 else shape)
    assert_close(out, case(name), name=name)


def test_real_3d_transforms_over_leading_axes_match_recovar():
    assert_close(ftu.get_dft3_real(case("dft3_real_axes012", "input"), axes=(0, 1, 2)), case("dft3_real_axes012"))
    out = ftu.get_idft3_real(case("idft3_real_axes012", "input"), volume_shape=(6, 4, 5), axes=(0, 1, 2))
    assert_close(out, case("idft3_real_axes012"))


@pytest.mark.parametrize("n", [8, 7])
def test_image_packing_both_ways_matches_recovar_grid_and_flat(n):
    shape = (n, n)
    for name, fn in [(f"full_to_half_image_{n}", ftu.full_image_to_half_image),
                     (f"full_to_half_image_flat_{n}", ftu.full_image_to_half_image),
                     (f"half_to_full_image_{n}", ftu.half_image_to_full_image),
                     (f"half_to_full_image_flat_{n}", ftu.half_image_to_full_image)]:
        out = fn(case(name, "input"), shape)
        assert out.dtype == case(name).dtype
        np.testing.assert_array_equal(out, case(name), err_msg=name)


@pytest.mark.parametrize("tag", ["6x6x6", "5x5x5", "4x6x5"])
def test_volume_packing_both_ways_matches_recovar(tag):
    for name, fn in [(f"full_to_half_volume_{tag}", ftu.full_volume_to_half_volume),
                     (f"half_to_full_volume_{tag}", ftu.half_volume_to_full_volume)]:
        shape = tuple(int(v) for v in case(name, "volume_shape"))
        np.testing.assert_array_equal(fn(case(name, "input"), shape), case(name), err_msg=name)


def test_half_to_full_of_real_data_matches_recovar():
    out = ftu.half_image_to_full_image(case("half_to_full_image_real", "input"), (8, 8))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, case("half_to_full_image_real"))


@pytest.mark.parametrize("n", [8, 7, 1])
def test_frequency_grids_match_recovar_values_and_dtypes(n):
    for name, out in [(f"grid_{n}", ftu.get_1d_frequency_grid(n)),
                      (f"grid_rfft_{n}", ftu.get_1d_frequency_grid_rfft(n)),
                      (f"grid_scaled_{n}", ftu.get_1d_frequency_grid(n, 1.5, scaled=True)),
                      (f"grid_rfft_scaled_{n}", ftu.get_1d_frequency_grid_rfft(n, 1.5, scaled=True))]:
        assert out.dtype == case(name).dtype == np.float32, name
        np.testing.assert_array_equal(out, case(name), err_msg=name)


def test_numpy_float64_voxel_size_makes_scaled_grid_float64_like_recovar():
    out = ftu.get_1d_frequency_grid(8, np.float64(1.3), scaled=True)
    assert out.dtype == case("grid_scaled_np_float64").dtype == np.float64
    np.testing.assert_array_equal(out, case("grid_scaled_np_float64"))
    out32 = ftu.get_1d_frequency_grid(8, np.float32(1.3), scaled=True)
    assert out32.dtype == case("grid_scaled_np_float32").dtype == np.float32
    np.testing.assert_array_equal(out32, case("grid_scaled_np_float32"))


@pytest.mark.parametrize("shape", [(8, 8), (7, 7), (6, 4)])
def test_pixel_coordinate_lists_match_recovar(shape):
    tag = "x".join(map(str, shape))
    for name, out in [(f"kcoords_{tag}", ftu.get_k_coordinate_of_each_pixel(shape, 2.0, scaled=True)),
                      (f"kcoords_unscaled_{tag}", ftu.get_k_coordinate_of_each_pixel(shape, 2.0, scaled=False)),
                      (f"kcoords_real_{tag}", ftu.get_k_coordinate_of_each_pixel_real(shape, 2.0, scaled=True)),
                      (f"kcoords_half_{tag}", ftu.get_k_coordinate_of_each_pixel_half(shape, 1, scaled=False))]:
        assert out.dtype == case(name).dtype, name
        np.testing.assert_array_equal(out, case(name), err_msg=name)


@pytest.mark.parametrize("shape", [(4, 4, 4), (5, 3, 6)])
def test_voxel_coordinate_lists_match_recovar(shape):
    tag = "x".join(map(str, shape))
    out = ftu.get_k_coordinate_of_each_pixel_3d(shape, 1.2, scaled=True)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, case(f"kcoords3d_{tag}"))
    np.testing.assert_array_equal(ftu.get_k_coordinate_of_each_pixel_3d_real(shape, 1, scaled=False),
                                  case(f"kcoords3d_real_{tag}"))


RADIAL_KWARGS = {"default": dict(), "unrounded": dict(rounded=False), "scaled": dict(voxel_size=1.7, scaled=True),
                 "shift_scalar": dict(frequency_shift=1),
                 "shift_axes": dict(frequency_shift=np.array([1.0, -2.0]), rounded=False),
                 "shift_half": dict(frequency_shift=0.5)}


@pytest.mark.parametrize("tag", list(RADIAL_KWARGS))
@pytest.mark.parametrize("shape", [(8, 8), (7, 7), (6, 5)])
def test_radial_distance_grids_match_recovar_values_and_dtypes(tag, shape):
    stag = "x".join(map(str, shape))
    for name, fn in [(f"radial_{tag}_{stag}", ftu.get_grid_of_radial_distances),
                     (f"radial_real_{tag}_{stag}", ftu.get_grid_of_radial_distances_real)]:
        out = fn(shape, **RADIAL_KWARGS[tag])
        assert out.dtype == case(name).dtype, name
        if out.dtype == np.int32:
            np.testing.assert_array_equal(out, case(name), err_msg=name)
        else:
            assert_close(out, case(name), name=name)


def test_radial_distances_3d_match_recovar():
    np.testing.assert_array_equal(ftu.get_grid_of_radial_distances((6, 5, 4)), case("radial_3d"))
    np.testing.assert_array_equal(ftu.get_grid_of_radial_distances_real((6, 5, 4), frequency_shift=(0, 1, 2)),
                                  case("radial_real_3d"))


@pytest.mark.parametrize("n", [8, 7, 2, 1])
def test_index_maps_match_recovar(n):
    for name, out in [(f"packed_indices_{n}", ftu.get_real_fft_packed_last_axis_indices(n)),
                      (f"partner_indices_{n}", ftu.get_shifted_conjugate_partner_indices(n))]:
        assert out.dtype == np.int32
        np.testing.assert_array_equal(out, case(name), err_msg=name)


def test_memory_saving_ratio_matches_recovar():
    assert ftu.get_real_fft_memory_saving_ratio((8, 8)) == float(case("memory_saving_ratio_8x8"))
    assert ftu.get_real_fft_memory_saving_ratio((7, 6, 5)) == float(case("memory_saving_ratio_7x6x5"))


# --- conventions and properties -----------------------------------------------------------

def test_index_maps_for_n8_and_n7_are_the_documented_ones():
    assert ftu.get_real_fft_packed_last_axis_indices(8).tolist() == [4, 5, 6, 7, 0]
    assert ftu.get_real_fft_packed_last_axis_indices(7).tolist() == [3, 4, 5, 6]
    assert ftu.get_shifted_conjugate_partner_indices(8).tolist() == [0, 7, 6, 5, 4, 3, 2, 1]
    # recovar's values: for odd n they are not the centered partners (6 − i here), which
    # half_image_to_full_image uses instead; recovar never calls this function.
    assert ftu.get_shifted_conjugate_partner_indices(7).tolist() == [1, 0, 6, 5, 4, 3, 2]


def test_centered_delta_has_flat_spectrum_and_constant_has_dc_at_center():
    delta = np.zeros((8, 8), np.float32)
    delta[4, 4] = 1
    np.testing.assert_allclose(ftu.get_dft2(delta), np.ones((8, 8)), atol=1e-6)
    out = ftu.get_dft2(np.ones((8, 8), np.float32))
    assert out[4, 4] == pytest.approx(64) and np.abs(out).sum() == pytest.approx(64)
    # Odd n: the forward pre-shift puts the real-space origin at n//2 + 1; DC still at n//2.
    delta7 = np.zeros((7, 7), np.float32)
    delta7[4, 4] = 1
    np.testing.assert_allclose(ftu.get_dft2(delta7), np.ones((7, 7)), atol=1e-6)
    assert ftu.get_dft2(np.ones((7, 7), np.float32))[3, 3] == pytest.approx(49)


@pytest.mark.parametrize("shape", [(3, 8), (2, 7, 6), (2, 5, 4, 6), (1, 9, 9)])
@pytest.mark.parametrize("norm", ["backward", "ortho", "forward", None])
def test_forward_then_inverse_is_identity(rng, shape, norm):
    x = crandn(rng, *shape)
    for fwd, inv in [(ftu.get_dft, ftu.get_idft), (ftu.get_dft2, ftu.get_idft2)]:
        assert_close(inv(fwd(x, norm=norm), norm=norm), x)
    if len(shape) >= 3:
        assert_close(ftu.get_idft3(ftu.get_dft3(x, norm=norm), norm=norm), x)


@pytest.mark.parametrize("shape", [(3, 8, 8), (2, 7, 7), (2, 6, 5), (4, 5, 6)])
@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
def test_real_forward_then_inverse_is_identity(rng, shape, norm):
    x = rng.standard_normal(shape).astype(np.float32)
    h = ftu.get_dft2_real(x, norm=norm)
    assert_close(ftu.get_idft2_real(h, image_shape=shape[-2:], norm=norm), x)
    h3 = ftu.get_dft3_real(x, norm=norm)
    assert_close(ftu.get_idft3_real(h3, volume_shape=shape, norm=norm), x)


@pytest.mark.parametrize("shape", [(2, 8, 8), (2, 7, 7), (3, 6, 5), (5, 4, 7)])
def test_transforms_match_numpy_centered_fft(rng, shape):
    x = crandn(rng, *shape)
    assert_close(ftu.get_dft2(x), centered_dft(x, (-2, -1)))
    assert_close(ftu.get_idft3(x, norm="ortho"), centered_idft(x, (-3, -2, -1), norm="ortho"))
    xr = x.real.copy()
    P = ftu.get_real_fft_packed_last_axis_indices(shape[-1])
    assert_close(ftu.get_dft2_real(xr), centered_dft(xr, (-2, -1))[..., P])
    assert_close(ftu.get_dft3_real(xr), centered_dft(xr, (-3, -2, -1))[..., P])


@pytest.mark.parametrize("n", [8, 7])
def test_spectrum_of_real_image_is_hermitian_under_partner_indices(rng, n):
    F = ftu.get_dft2(rng.standard_normal((2, n, n)).astype(np.float32))
    pi = partner(n)
    np.testing.assert_allclose(F[:, pi][:, :, pi], np.conj(F), rtol=0, atol=1e-4)


@pytest.mark.parametrize("shape", [(8, 8), (7, 7), (6, 5)])
def test_real_transform_equals_packed_full_transform_and_expands_back(rng, shape):
    x = rng.standard_normal((3,) + shape)
    F = ftu.get_dft2(x)
    h = ftu.get_dft2_real(x)
    assert_close(h, ftu.full_image_to_half_image(F, shape))
    assert_close(ftu.half_image_to_full_image(h, shape), F)  # full → half → full, Hermitian data


@pytest.mark.parametrize("shape", [(6, 6, 6), (5, 5, 5), (4, 6, 5)])
def test_volume_full_half_full_round_trip_for_hermitian_data(rng, shape):
    x = rng.standard_normal(shape)
    F = ftu.get_dft3(x)
    half = ftu.full_volume_to_half_volume(F, shape)
    assert_close(half, ftu.get_dft3_real(x))
    assert_close(ftu.half_volume_to_full_volume(half, shape), F)
    flat = ftu.half_volume_to_full_volume(half.reshape(-1), shape)
    assert flat.shape == (F.size,)
    assert_close(flat, F.reshape(-1))


@pytest.mark.parametrize("n", [6, 7])
def test_half_to_full_is_the_documented_index_map_not_an_fft_round_trip(rng, n):
    half = crandn(rng, 5, n // 2 + 1)   # not the spectrum of a real image
    full = ftu.half_image_to_full_image(half, (5, n))
    P = ftu.get_real_fft_packed_last_axis_indices(n)
    expected = np.zeros((5, n), np.complex64)
    expected[:, P] = half
    for c in (range(1, n // 2) if n % 2 == 0 else range(0, n // 2)):
        for i in range(5):
            expected[i, c] = np.conj(half[partner(5)[i], n // 2 - c])
    np.testing.assert_array_equal(full, expected)


def test_large_transforms_take_the_two_stage_path_and_stay_exact(rng):
    # Above 2^17 elements the kernels transform slices and then pencils: check them too.
    vol = crandn(rng, 70, 64, 40)
    assert_close(ftu.get_dft3(vol), centered_dft(vol, (0, 1, 2)))
    assert_close(ftu.get_idft3(vol), centered_idft(vol, (0, 1, 2)))
    real = vol.real.copy()
    h = ftu.get_dft3_real(real)
    assert_close(h, centered_dft(real, (0, 1, 2))[..., ftu.get_real_fft_packed_last_axis_indices(40)])
    assert_close(ftu.get_idft3_real(h, volume_shape=real.shape), real)
    img = crandn(rng, 1, 390, 371)
    assert_close(ftu.get_dft2(img), centered_dft(img, (-2, -1)))
    assert_close(ftu.get_idft2_real(ftu.get_dft2_real(img.real), image_shape=(390, 371)), img.real)


def test_more_than_three_axes_are_transformed_in_groups(rng):
    x = crandn(rng, 3, 4, 5, 2, 3)
    assert_close(ftu.get_dft3(x, axes=(0, 1, 2, 3, 4)), centered_dft(x, (0, 1, 2, 3, 4)))
    assert_close(ftu.get_idft3(x, axes=(-1, 1, 0, 2)), centered_idft(x, (0, 1, 2, 4)))


def test_packed_axis_of_real_3d_transform_is_the_last_listed_axis(rng):
    x = rng.standard_normal((5, 6, 7)).astype(np.float32)
    h = ftu.get_dft3_real(x, axes=(2, 0, 1))
    assert h.shape == (5, 4, 7)
    full = centered_dft(x, (0, 1, 2))
    assert_close(h, full[:, ftu.get_real_fft_packed_last_axis_indices(6), :])
    assert_close(ftu.get_idft3_real(h, volume_shape=(7, 5, 6), axes=(2, 0, 1)), x)


def test_batch_of_one_and_empty_batch(rng):
    x = crandn(rng, 1, 6, 6)
    assert_close(ftu.get_dft2(x)[0], ftu.get_dft2(x[0]))
    empty = np.zeros((0, 6, 6), np.float32)
    out = ftu.get_dft2(empty)
    assert out.shape == (0, 6, 6) and out.dtype == np.complex64
    assert ftu.get_dft2_real(empty).shape == (0, 6, 4)
    assert ftu.get_idft2_real(np.zeros((0, 6, 4), np.complex64)).shape == (0, 6, 6)
    assert ftu.get_dft3(np.zeros((2, 0, 4, 4, 4), np.complex128)).dtype == np.complex128


def test_float64_gives_complex128_and_double_precision(rng):
    x = rng.standard_normal((2, 9, 8))
    F = ftu.get_dft2(x)
    assert F.dtype == np.complex128
    np.testing.assert_allclose(F, centered_dft(x, (-2, -1)), rtol=0, atol=1e-12)
    assert ftu.get_idft2_real(ftu.get_dft2_real(x), image_shape=(9, 8)).dtype == np.float64


def test_non_contiguous_input_is_accepted_and_never_modified(rng):
    x = crandn(rng, 6, 8, 10)
    view = x[:, :, ::2]
    keep = x.copy()
    assert_close(ftu.get_dft2(view), centered_dft(np.ascontiguousarray(view), (-2, -1)))
    assert_close(ftu.get_dft3(np.asfortranarray(x)), centered_dft(x, (-3, -2, -1)))
    xr = np.asfortranarray(x.real)
    ftu.get_idft2_real(ftu.get_dft2_real(xr), image_shape=(8, 10))
    np.testing.assert_array_equal(x, keep)


def test_integer_and_float16_inputs_compute_in_single_precision():
    x = np.arange(16, dtype=np.int32).reshape(4, 4)
    assert ftu.get_dft2(x).dtype == np.complex64
    assert ftu.get_dft2_real(x.astype(np.float16)).dtype == np.complex64


def test_shape_helpers():
    assert ftu.get_real_fft_packed_shape((5, 8)) == (5, 5)
    assert ftu.get_real_fft_packed_shape([7]) == (4,)
    assert ftu.image_shape_to_half_image_shape((6, 7)) == (6, 4)
    assert ftu.volume_shape_to_half_volume_shape((4, 5, 6)) == (4, 5, 4)


# --- bad input ----------------------------------------------------------------------------

def test_bad_input_raises_errors_naming_the_argument():
    with pytest.raises(ValueError, match="img"):
        ftu.get_dft2(np.zeros(5))
    with pytest.raises(TypeError, match="img"):
        ftu.get_dft2(np.array([[object()]], dtype=object))
    with pytest.raises(ValueError, match="img.*NaN"):
        ftu.get_dft3(np.full((2, 2, 2), np.nan))
    with pytest.raises(ValueError, match="norm"):
        ftu.get_dft(np.zeros(4), norm="bad")
    with pytest.raises(TypeError, match="img must be real"):
        ftu.get_dft2_real(np.zeros((4, 4), np.complex64))
    with pytest.raises(ValueError, match="image_shape"):
        ftu.get_idft2_real(np.zeros((4, 3), np.complex64), image_shape=(4, 8))
    with pytest.raises(ValueError, match="axes"):
        ftu.get_dft3_real(np.zeros((4, 4)), axes=(0, 1))
    with pytest.raises(ValueError, match="axes"):
        ftu.get_dft3(np.zeros((4, 4, 4)), axes=(0, 0, 1))
    with pytest.raises(ValueError, match="volume_shape"):
        ftu.get_idft3_real(np.zeros((4, 4, 3, 2), np.complex64), axes=(0, 1, 2))
    with pytest.raises(ValueError, match="size 0"):
        ftu.get_dft(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="n must be positive"):
        ftu.get_1d_frequency_grid(0)
    with pytest.raises(ValueError, match="n must be positive"):
        ftu.get_real_fft_packed_last_axis_indices(-2)
    with pytest.raises(ValueError, match="voxel_size"):
        ftu.get_1d_frequency_grid(8, voxel_size=0.0, scaled=True)
    with pytest.raises(ValueError, match="image_shape"):
        ftu.image_shape_to_half_image_shape((4, 4, 4))
    with pytest.raises(ValueError, match="volume_shape"):
        ftu.volume_shape_to_half_volume_shape((4, 0, 4))
    with pytest.raises(ValueError, match="shape"):
        ftu.get_real_fft_packed_shape(())
    with pytest.raises(ValueError, match="image"):
        ftu.full_image_to_half_image(np.zeros((3, 7)), (4, 4))
    with pytest.raises(ValueError, match="half_volume"):
        ftu.half_volume_to_full_volume(np.zeros((4, 4, 4)), (4, 4, 4))
    with pytest.raises(ValueError, match="frequency_shift"):
        ftu.get_grid_of_radial_distances((4, 4, 4), frequency_shift=[1, 2])
    with pytest.raises(TypeError, match="image_shape"):
        ftu.get_grid_of_radial_distances(8)
    with pytest.raises(TypeError, match="image_shape"):
        ftu.get_grid_of_radial_distances(b"bytes")
    with pytest.raises(TypeError, match="norm"):
        ftu.get_dft2(np.zeros((4, 4)), norm=np.zeros(2))
    with pytest.raises(TypeError, match="scaled"):
        ftu.get_k_coordinate_of_each_pixel((4, 4), 1.0, scaled=np.zeros(0))
    with pytest.raises(TypeError, match="rounded"):
        ftu.get_grid_of_radial_distances((4, 4), rounded="yes")
    with pytest.raises(TypeError, match="axes"):
        ftu.get_dft3_real(np.zeros((4, 4, 4)), axes=None)


def test_grids_that_cannot_fit_in_memory_are_refused_up_front():
    with pytest.raises(MemoryError, match="would need"):
        ftu.get_k_coordinate_of_each_pixel((2 ** 17, 2 ** 17), 1.0)
    with pytest.raises(MemoryError, match="would need"):
        ftu.get_grid_of_radial_distances((4000, 4000, 4000))


# --- property-based hardening (hypothesis): any dtype, layout, batch, odd/even size ---------------
# Against NumPy's centered transforms (docs/conventions.md §1–2), empty batches included;
# refusals name the argument.

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
    N = data.draw(st.integers(1, 9))
    n = data.draw(st.integers(0, 3))
    real_images = random_values(data.draw(st.integers(0, 99)), (n, N, N), False)
    full = centered_dft(real_images, (-2, -1)).astype(np.complex64)
    flat = data.draw(st.booleans())
    arg = full.reshape(n, N * N) if flat else full
    half = ftu.full_image_to_half_image(arg, (N, N))
    back = ftu.half_image_to_full_image(half, (N, N))
    assert rel_error(np.asarray(back).reshape(n, N, N), full) <= 1e-6


BAD_IMAGES = [None, "img", np.array([["a"]]), [[1, 2], [3]], np.zeros((2, 2), dtype=object), {"x": 1}]


@hardening(30)
@given(st.data())
def test_fourier_functions_refuse_non_numeric_images_naming_them(data):
    name = data.draw(st.sampled_from(["get_dft2", "get_idft2", "get_dft3", "get_dft2_real", "get_dft"]))
    bad = data.draw(st.sampled_from(BAD_IMAGES))
    with pytest.raises(Refused):
        outcome(getattr(ftu, name), bad, names=("img",))
