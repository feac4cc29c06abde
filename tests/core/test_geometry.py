"""recovar_jl.core.geometry: parity with recovar 1.0.5, slice geometry, translations, bad input."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import assert_close, load_fixture
from generators import centered_dft, centered_idft, crandn, packed_pixel_indices, random_rotations
from hardening import (LAYOUTS, Refused, as_user_input, computes_in, hardening, outcome, random_values, rel_error,
                       rotations)
from recovar_jl.core import geometry

FIX = load_fixture("geometry")
ROTATIONS = FIX["rotations"]


def plane(side):
    k = np.arange(side) - side // 2
    return np.tile(k, side), np.repeat(k, side)


# ---------------------------------------------------------------------------------------
# parity with recovar
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("side, vol", [(32, 32), (33, 33), (16, 32), (64, 64)])
def test_gridpoint_coords_and_nearest_indices_match_recovar_bit_for_bit(side, vol):
    name = f"slice_{side}_{vol}"
    expected = FIX[f"{name}__coords"]
    coords = geometry.batch_get_gridpoint_coords(ROTATIONS[:len(expected)], (side, side), (vol, vol, vol))
    assert coords.dtype == np.float32
    np.testing.assert_array_equal(coords, expected)
    nearest_expected = FIX[f"{name}__nearest"]
    nearest = geometry.batch_get_nearest_gridpoint_indices(ROTATIONS[:len(nearest_expected)], (side, side),
                                                           (vol, vol, vol))
    assert nearest.dtype == np.int32
    np.testing.assert_array_equal(nearest, nearest_expected)
    np.testing.assert_array_equal(geometry.get_gridpoint_coords(ROTATIONS[1], (side, side), (vol,) * 3), expected[1])
    np.testing.assert_array_equal(geometry.get_nearest_gridpoint_indices(ROTATIONS[2], (side, side), (vol,) * 3),
                                  nearest_expected[2])


def test_half_image_coordinates_match_recovar():
    coords, shape = geometry._half_image_rotations_to_coords(ROTATIONS[:3], (32, 32), (32, 32, 32))
    assert shape == tuple(FIX["half_32__shape"])
    np.testing.assert_array_equal(coords, FIX["half_32__coords"])


@pytest.mark.parametrize("name", ["translate_32_full", "translate_32_half", "translate_33_full",
                                  "translate_33_half", "translate_64_half"])
def test_translate_images_matches_recovar(name):
    side = int(name.split("_")[1])
    half = name.endswith("half")
    images, shifts = FIX[f"{name}__images"], FIX[f"{name}__shifts"]
    out = geometry.translate_images(images, shifts, (side, side), half_image=half)
    assert out.dtype == np.complex64
    assert_close(out, FIX[f"{name}__expected"], rtol=1e-5, name=name)
    if f"{name}__expected64" in FIX:
        out64 = geometry.translate_images(images.astype(np.complex128), shifts.astype(np.float64), (side, side),
                                          half_image=half)
        assert out64.dtype == np.complex128
        assert_close(out64, FIX[f"{name}__expected64"], rtol=1e-12, name=name)


def test_batch_trans_translate_images_matches_recovar():
    images, shifts = FIX["batch_trans__images"], FIX["batch_trans__shifts"]
    out = geometry.batch_trans_translate_images(images.astype(np.complex128), shifts.astype(np.float64), (8, 8))
    assert out.shape == (2, 3, 64)
    assert_close(out, FIX["batch_trans__expected"], rtol=1e-12)
    assert_close(geometry.batch_trans_translate_images(images, shifts, (8, 8)), FIX["batch_trans__expected"])


def test_batch_translate_on_arbitrary_lattice_matches_recovar():
    lattice, images, shifts = FIX["lattice__lattice"], FIX["lattice__images"], FIX["lattice__shifts"]
    out = geometry.batch_translate(images.astype(np.complex128), shifts.astype(np.float64), lattice.astype(np.float64))
    assert_close(out, FIX["lattice__expected"], rtol=1e-12)
    single = geometry.translate_single_image(images[1], shifts[1], lattice)
    assert single.dtype == np.complex64
    assert_close(single, FIX["lattice__expected"][1], rtol=1e-6)


def test_neighbourhoods_and_rounding_match_recovar():
    got = geometry.find_frequencies_within_grid_dist(FIX["neighbours2__coords"], 1)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, FIX["neighbours2__expected"])
    got3 = geometry.batch_find_frequencies_within_grid_dist(FIX["neighbours3__coords"], 2)
    np.testing.assert_array_equal(got3, FIX["neighbours3__expected"])
    got_int = geometry.find_frequencies_within_grid_dist(FIX["neighbours_int__coords"], 1)
    assert got_int.dtype == FIX["neighbours_int__expected"].dtype
    np.testing.assert_array_equal(got_int, FIX["neighbours_int__expected"])
    np.testing.assert_array_equal(geometry.round_to_int(FIX["round__values"]), FIX["round__expected"])


def test_unrotated_planes_match_recovar():
    np.testing.assert_array_equal(geometry.get_unrotated_plane_grid_points((8, 8), 2), FIX["unrotated__grid_points"])
    np.testing.assert_array_equal(geometry.get_unrotated_plane_coords((9, 9), 1.3), FIX["unrotated__coords"])
    np.testing.assert_array_equal(geometry.get_unrotated_half_plane_grid_points((8, 8)), FIX["unrotated__half"])
    np.testing.assert_array_equal(geometry.get_unrotated_half_plane_grid_points((9, 9), 3), FIX["unrotated__half_odd"])
    np.testing.assert_array_equal(geometry.get_unrotated_plane_grid_points((4, 6)), FIX["unrotated__nonsquare"])
    assert geometry.get_unrotated_plane_coords((8, 8), 1.3).dtype == np.float32


# ---------------------------------------------------------------------------------------
# slice geometry
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("side, vol", [(8, 8), (9, 9), (8, 16), (8, 24)])
def test_coordinates_are_row_vector_rotation_of_upsampled_plane_plus_center(side, vol):
    rotations = random_rotations(3, side + vol)
    kx, ky = plane(side)
    u = vol // side
    expected = np.stack([kx, ky, np.zeros_like(kx)], axis=1)[None] * u @ rotations + vol // 2
    coords = geometry.batch_get_gridpoint_coords(rotations, (side, side), (vol, vol, vol))
    assert coords.dtype == np.float64
    np.testing.assert_allclose(coords, expected, rtol=0, atol=1e-12)


def test_identity_slice_coordinates_and_upsampled_steps():
    coords = geometry.get_gridpoint_coords(np.eye(3), (4, 4), (8, 8, 8))
    np.testing.assert_array_equal(coords[:3], [[0, 0, 4], [2, 0, 4], [4, 0, 4]])
    np.testing.assert_array_equal(np.diff(coords[:4, 0]), 2)
    # pixel (r, c) ↦ volume (c, r, N/2) for R = I: flat index c·64 + r·8 + 4
    nearest = geometry.get_nearest_gridpoint_indices(np.eye(3), (8, 8), (8, 8, 8))
    r, c = np.divmod(np.arange(64), 8)
    np.testing.assert_array_equal(nearest, c * 64 + r * 8 + 4)


def test_nearest_indices_round_half_away_from_zero_and_clip():
    rotations = random_rotations(4, 5)
    side, vol = 12, (12, 12, 12)
    coords = geometry.batch_get_gridpoint_coords(rotations, (side, side), vol)
    rounded = geometry.round_to_int(coords)
    clipped = np.clip(rounded, 0, 11)
    expected = (clipped[..., 0] * 12 + clipped[..., 1]) * 12 + clipped[..., 2]
    np.testing.assert_array_equal(geometry.batch_get_nearest_gridpoint_indices(rotations, (side, side), vol), expected)
    # the 60° rotation about z has exact .5 ties: 0.5 → 1 and −0.5 → −1, not banker's rounding
    c, s = 0.5, np.sqrt(3) / 2
    tie = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]], np.float32)
    coords = geometry.get_gridpoint_coords(tie, (8, 8), (8, 8, 8))
    idx = geometry.get_nearest_gridpoint_indices(tie, (8, 8), (8, 8, 8))
    frac = np.abs(coords - np.trunc(coords))
    assert np.any(frac == 0.5)
    clipped = np.clip(geometry.round_to_int(coords), 0, 7)
    np.testing.assert_array_equal(idx, (clipped[:, 0] * 8 + clipped[:, 1]) * 8 + clipped[:, 2])


def test_rotations_to_grid_point_coords_transposes_the_batch():
    coords, shape = geometry.rotations_to_grid_point_coords(ROTATIONS[:2], (8, 8), (8, 8, 8))
    assert shape == (2, 64, 3) and coords.shape == (3, 128)
    np.testing.assert_array_equal(coords.T.reshape(shape),
                                  geometry.batch_get_gridpoint_coords(ROTATIONS[:2], (8, 8), (8, 8, 8)))


def test_stencils():
    np.testing.assert_array_equal(geometry.get_stencil(2), [[0, 0], [0, 1], [1, 0], [1, 1]])
    s3 = geometry.get_stencil(3)
    assert s3.dtype == np.int32 and s3.shape == (8, 3)
    np.testing.assert_array_equal(s3 @ [4, 2, 1], np.arange(8))  # lexicographic, last axis fastest
    with pytest.raises(ValueError, match="dim"):
        geometry.get_stencil(4)


def test_neighbour_offsets_are_ij_ordered_and_batches_agree():
    out = geometry.find_frequencies_within_grid_dist(np.array([[10, 20]]), 1)
    np.testing.assert_array_equal(out[0, :4], [[9, 19], [9, 20], [9, 21], [10, 19]])
    coords = np.random.default_rng(2).uniform(-3, 3, (2, 3, 4, 3))
    flat = geometry.find_frequencies_within_grid_dist(coords, 1)
    np.testing.assert_array_equal(geometry.batch_find_frequencies_within_grid_dist(coords, 1), flat)
    np.testing.assert_array_equal(geometry.batch_batch_find_frequencies_within_grid_dist(coords, 1), flat)
    assert flat.shape == (2, 3, 4, 27, 3)
    assert geometry.find_frequencies_within_grid_dist(np.zeros((1, 2)), 0).shape == (1, 1, 2)


def test_round_to_int_half_away_from_zero():
    np.testing.assert_array_equal(geometry.round_to_int([0.5, 1.5, 2.5, -0.5, -1.5, 0.49999997, -2.4]),
                                  [1, 2, 3, -1, -2, 0, -2])
    assert geometry.round_to_int(np.array([0.49999999999999994])) == 0
    assert geometry.round_to_int(np.array([3, -4])).dtype == np.int32


# ---------------------------------------------------------------------------------------
# translations
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("side", [8, 9])
@pytest.mark.parametrize("half", [False, True])
def test_integer_translation_is_roll_in_real_space(side, half):
    rng = np.random.default_rng(side)
    images = rng.normal(size=(3, side, side))
    shifts = np.array([[1, 0], [0, 2], [-3, 5]], np.float64)
    spectra = centered_dft(images, (-2, -1)).reshape(3, -1)
    rolled = np.stack([np.roll(img, (int(t1), int(t0)), axis=(0, 1)) for img, (t0, t1) in zip(images, shifts)])
    expected = centered_dft(rolled, (-2, -1)).reshape(3, -1)
    if half:
        spectra, expected = spectra[:, packed_pixel_indices(side)], expected[:, packed_pixel_indices(side)]
    out = geometry.translate_images(spectra, shifts, (side, side), half_image=half)
    # recovar's lattice k/N is float32-rounded: exact for even N, ~6e-8 off for odd N,
    # which shows as ~1e-6 relative phase error at these shifts.
    tolerance = 1e-13 if side % 2 == 0 else 2e-6
    assert_close(out, expected, rtol=tolerance)
    if not half:
        back = centered_idft(out.reshape(3, side, side), (-2, -1))
        assert_close(back.real, rolled, rtol=tolerance)


def test_centered_delta_moves_by_plus_t():
    delta = np.zeros((8, 8))
    delta[4, 4] = 1
    spectrum = centered_dft(delta, (-2, -1)).reshape(1, -1)
    moved = centered_idft(geometry.translate_images(spectrum, [[1.0, 0.0]], (8, 8)).reshape(8, 8), (-2, -1)).real
    assert np.unravel_index(np.argmax(moved), moved.shape) == (4, 5)
    moved = centered_idft(geometry.translate_images(spectrum, [[0.0, 2.0]], (8, 8)).reshape(8, 8), (-2, -1)).real
    assert np.unravel_index(np.argmax(moved), moved.shape) == (6, 4)


@pytest.mark.parametrize("half", [False, True])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_composition_of_two_translations_is_one_translation(half, dtype):
    rng = np.random.default_rng(1)
    side = 10
    npix = side * (side // 2 + 1) if half else side * side
    images = (rng.normal(size=(4, npix)) + 1j * rng.normal(size=(4, npix))).astype(dtype)
    real = np.float32 if dtype == np.complex64 else np.float64
    a = rng.uniform(-7, 7, (4, 2)).astype(real)
    b = rng.uniform(-7, 7, (4, 2)).astype(real)
    twice = geometry.translate_images(geometry.translate_images(images, a, (side, side), half_image=half), b,
                                      (side, side), half_image=half)
    once = geometry.translate_images(images, a + b, (side, side), half_image=half)
    assert twice.dtype == once.dtype == dtype
    assert_close(twice, once, rtol=1e-6 if dtype == np.complex64 else 1e-13)
    np.testing.assert_allclose(np.abs(once), np.abs(images), rtol=1e-6)


@pytest.mark.parametrize("side", [8, 9])
def test_half_translation_equals_packed_full_translation(side):
    rng = np.random.default_rng(3)
    full = rng.normal(size=(2, side * side)) + 1j * rng.normal(size=(2, side * side))
    shifts = rng.uniform(-4, 4, (2, 2))
    idx = packed_pixel_indices(side)
    translated = geometry.translate_images(full, shifts, (side, side))
    half = geometry.translate_images(full[:, idx], shifts, (side, side), half_image=True)
    # the Nyquist column of an even grid carries kx = −N/2 in both layouts
    np.testing.assert_allclose(half, translated[:, idx], rtol=0, atol=1e-13)


def test_translation_dtypes_single_image_and_empty_batch():
    img32 = np.ones((2, 16), np.complex64)
    assert geometry.translate_images(img32, np.zeros((2, 2), np.float32), (4, 4)).dtype == np.complex64
    assert geometry.translate_images(img32, np.zeros((2, 2)), (4, 4)).dtype == np.complex128
    real = geometry.translate_images(np.ones((2, 16), np.float32), np.ones((2, 2), np.float32), (4, 4))
    assert real.dtype == np.complex64
    np.testing.assert_allclose(real, geometry.translate_images(img32, np.ones((2, 2)), (4, 4)), rtol=1e-6)
    one = geometry.translate_images(np.arange(16.0) + 0j, [0.5, -1.0], (4, 4))
    assert one.shape == (16,)
    np.testing.assert_allclose(one, geometry.translate_images((np.arange(16.0) + 0j)[None], [[0.5, -1.0]], (4, 4))[0])
    assert geometry.translate_images(np.zeros((0, 16), np.complex64), np.zeros((0, 2)), (4, 4)).shape == (0, 16)
    np.testing.assert_array_equal(geometry.translate_images(img32, np.zeros((2, 2), np.float32), (4, 4)), img32)


def test_translate_single_image_is_phase_of_lattice_dot_translation():
    rng = np.random.default_rng(4)
    lattice = rng.uniform(-0.5, 0.5, (30, 3))
    image = rng.normal(size=30) + 1j * rng.normal(size=30)
    t = np.array([1.5, -2.0, 0.25])
    np.testing.assert_allclose(geometry.translate_single_image(image, t, lattice),
                               image * np.exp(-2j * np.pi * (lattice @ t)), rtol=1e-13)


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------

def test_bad_geometry_input_raises_naming_the_argument():
    with pytest.raises(ValueError, match="rotation_matrix"):
        geometry.get_gridpoint_coords(np.eye(2), (8, 8), (8, 8, 8))
    with pytest.raises(ValueError, match="rotation_matrix"):
        geometry.batch_get_gridpoint_coords(np.eye(3), (8, 8), (8, 8, 8))
    with pytest.raises(ValueError, match="rotation_matrix"):
        geometry.get_nearest_gridpoint_indices(np.full((3, 3), np.nan), (8, 8), (8, 8, 8))
    with pytest.raises(ValueError, match="image_shape"):
        geometry.get_gridpoint_coords(np.eye(3), (8, 6), (8, 8, 8))
    with pytest.raises(ValueError, match="volume_shape"):
        geometry.get_gridpoint_coords(np.eye(3), (8, 8), (8, 8))
    with pytest.raises(ValueError, match="coords"):
        geometry.find_frequencies_within_grid_dist(np.zeros((2, 4)), 1)
    with pytest.raises(ValueError, match="max_grid_dist"):
        geometry.find_frequencies_within_grid_dist(np.zeros((2, 3)), -1)
    with pytest.raises(ValueError, match="coords"):
        geometry.batch_find_frequencies_within_grid_dist(np.zeros(3), 1)
    with pytest.raises(ValueError, match="array"):
        geometry.round_to_int([np.nan])


def test_bad_translation_input_raises_naming_the_argument():
    images = np.ones((2, 16), np.complex64)
    with pytest.raises(ValueError, match="image"):
        geometry.translate_images(np.ones((2, 15)), np.zeros((2, 2)), (4, 4))
    with pytest.raises(ValueError, match="image"):
        geometry.translate_images(images, np.zeros((2, 2)), (4, 4), half_image=True)
    with pytest.raises(ValueError, match="translation"):
        geometry.translate_images(images, np.zeros((3, 2)), (4, 4))
    with pytest.raises(ValueError, match="translation"):
        geometry.translate_images(images, [[np.nan, 0], [0, 0]], (4, 4))
    with pytest.raises(ValueError, match="translation"):
        geometry.batch_trans_translate_images(images, np.zeros((2, 2)), (4, 4))
    with pytest.raises(ValueError, match="lattice"):
        geometry.batch_translate(images, np.zeros((2, 2)), np.zeros((15, 2)))
    with pytest.raises(TypeError, match="translation"):
        geometry.translate_images(images, np.zeros((2, 2), np.complex64), (4, 4))


def test_batch_trans_translate_images_half_image_equals_packed_full_result():
    from recovar_jl.core import fourier_transform_utils as ftu  # noqa: F401  (module exists)

    rng = np.random.default_rng(5)
    n_side = 8
    images = crandn(rng, 3, n_side * n_side, dtype=np.complex64)
    shifts = rng.uniform(-3, 3, (3, 4, 2)).astype(np.float32)
    packed_columns = [4, 5, 6, 7, 0]  # docs/conventions.md §2, n = 8
    full = geometry.batch_trans_translate_images(images, shifts, (n_side, n_side))
    half_images = images.reshape(3, n_side, n_side)[:, :, packed_columns].reshape(3, -1)
    half = geometry.batch_trans_translate_images(half_images, shifts, (n_side, n_side), half_image=True)
    expected = full.reshape(3, 4, n_side, n_side)[:, :, :, packed_columns].reshape(3, 4, -1)
    np.testing.assert_allclose(half, expected, rtol=1e-6, atol=1e-6)


# --- property-based hardening (hypothesis): closed forms, any dtype and layout --------------------
# Translations = the phase ramp formula; nearest grid indices = the rounded grid coordinates.

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
