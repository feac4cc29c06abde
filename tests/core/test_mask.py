"""recovar_jl.core.mask: parity with recovar 1.0.5, mask properties, .mrc handling, bad input."""

import mrcfile
import numpy as np
import pytest
from scipy import ndimage

from conftest import assert_close, load_fixture
from generators import centered_dft
from recovar_jl.core import mask as M

FX = load_fixture("mask")
H1, H2 = FX["half1"], FX["half2"]  # noisy half maps of a synthetic molecule, 32³, float32
N = H1.shape[0]
S1, S2 = H1[8:24, 8:24, 8:24].copy(), H2[8:24, 8:24, 8:24].copy()


class Means:
    """The pipeline's `means` object, as used by masking_options("from_halfmaps")."""

    def __init__(self, h1, h2, flat=True):
        s1, s2 = centered_dft(h1).astype(np.complex64), centered_dft(h2).astype(np.complex64)
        self.corrected0 = s1.ravel()
        self.corrected0reg = s1.ravel() if flat else s1
        self.corrected1reg = s2


def assert_mask_matches(actual, expected, name=""):
    """Binary structure exactly (support and the all-one core), soft values to 1e-5."""
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{name}: dtype {actual.dtype} != {expected.dtype}"
    if expected.dtype == bool:
        np.testing.assert_array_equal(actual, expected, err_msg=name)
        return
    np.testing.assert_array_equal(actual > 0, expected > 0, err_msg=f"{name}: support")
    np.testing.assert_array_equal(actual == 1, expected == 1, err_msg=f"{name}: core")
    assert_close(actual, expected, 1e-5, name)


def assert_unit_interval(x, name=""):
    x = np.asarray(x)
    assert np.isfinite(x).all(), name
    assert x.min() >= 0 and x.max() <= 1, f"{name}: values in [{x.min()}, {x.max()}]"


def write_mrc(path, data, voxel_size=1.5):
    with mrcfile.new(str(path), overwrite=True) as mrc:
        mrc.set_data(np.asarray(data, dtype=np.float32))
        mrc.voxel_size = voxel_size
    return str(path)


# ---------------------------------------------------------------------------
# parity with recovar 1.0.5
# ---------------------------------------------------------------------------

MAKE_MASK_CASES = {
    "mm_auto": {},
    "mm_fixed": dict(threshold=0.3),
    "mm_nocleanup": dict(cleanup=False),
    "mm_binary": dict(extend=0, soft_edge=0),
    "mm_extend_soft": dict(extend=4, soft_edge=5, lowpass_sigma=1.5),
    "mm_sigma0": dict(lowpass_sigma=0, threshold=0.45, extend=1),
    "mm_empty_cleanup": dict(threshold=1e3),
    "mm_empty_nocleanup": dict(threshold=1e3, cleanup=False),
}


@pytest.mark.parametrize("key", list(MAKE_MASK_CASES))
def test_make_mask_matches_recovar(key):
    out = M.make_mask(H1, **MAKE_MASK_CASES[key])
    assert_mask_matches(out, FX[key], key)
    assert_unit_interval(out, key)


def test_make_mask_with_soft_edge_zero_is_exactly_binary_as_recovar():
    out = M.make_mask(H1, extend=0, soft_edge=0)
    np.testing.assert_array_equal(out, FX["mm_binary"])
    assert set(np.unique(out)) == {0.0, 1.0}


def test_make_mask_with_empty_threshold_and_no_cleanup_keeps_the_edt_corner_quirk():
    # Nothing passes the threshold; without cleanup the extension measures distances to
    # SciPy's virtual point (-1, 0, 0), so voxels near the corner (0, 0, 0) edge light up.
    out = M.make_mask(H1, threshold=1e3, cleanup=False)
    assert out.max() == 1 and out[0, 0, 0] == 1 and out[N - 1, N - 1, N - 1] == 0
    assert not M.make_mask(H1, threshold=1e3).any()


HALF_MAP_CASES = {
    "hm_auto": ((H1, H2), {}),
    "hm_auto_kwargs": ((H1, H2), dict(threshold=0.25, soft_edge=5)),
    "hm_lc": ((H1, H2), dict(method="local_correlation")),
    "hm_lc_smax4_soft4": ((H1, H2), dict(smax=4, method="local_correlation", soft_edge=4, threshold=123)),
    "hm_lc16": ((S1, S2), dict(method="local_correlation")),
}


@pytest.mark.parametrize("key", list(HALF_MAP_CASES))
def test_make_mask_from_half_maps_matches_recovar(key):
    maps, kwargs = HALF_MAP_CASES[key]
    out = M.make_mask_from_half_maps(*maps, **kwargs)
    assert_mask_matches(out, FX[key], key)
    assert_unit_interval(out, key)


def test_local_correlation_mask_below_22_voxels_is_all_ones_like_recovar():
    # floor(6·16/128) = 0 dilation iterations, which SciPy reads as "until stable".
    np.testing.assert_array_equal(M.make_mask_from_half_maps(S1, S2, method="local_correlation"), 1)


def test_half_map_mask_auto_is_make_mask_of_the_average():
    np.testing.assert_array_equal(M.make_mask_from_half_maps(H1, H2, extend=1),
                                  M.make_mask((H1 + H2) / 2.0, extend=1))


MRC_CASES = {
    "mo_mrc_default": ((N,) * 3, {}),
    "mo_mrc_keep": ((N,) * 3, dict(keep_input_mask=True)),
    "mo_mrc_rescale": ((16,) * 3, {}),
    "mo_mrc_dilate": ((N,) * 3, dict(mask_dilation_iter=2)),
    "mo_mrc_dilate_rescale": ((16,) * 3, dict(mask_dilation_iter=2)),
    "mo_mrc_dilated_iter1_f64": ((N,) * 3, dict(dilated_mask_dilations_iter=1, dtype_real=np.float64)),
}


@pytest.mark.parametrize("key", list(MRC_CASES))
def test_masking_options_from_mrc_file_matches_recovar(key, tmp_path):
    path = write_mrc(tmp_path / "mask.mrc", FX["mo_file_data"])  # written untransposed, as in the fixture
    shape, kwargs = MRC_CASES[key]
    mask, dilated = M.masking_options(path, None, shape, **kwargs)
    assert_mask_matches(mask, FX[key + "__mask"], key + " mask")
    assert_mask_matches(dilated, FX[key + "__dilated"], key + " dilated")
    assert_unit_interval(dilated)


@pytest.mark.parametrize("flat", [True, False])
def test_masking_options_from_halfmaps_matches_recovar(flat):
    mask, dilated = M.masking_options("from_halfmaps", Means(H1, H2, flat=flat), (N,) * 3)
    assert_mask_matches(mask, FX["mo_halfmaps__mask"], "mask")
    assert_mask_matches(dilated, FX["mo_halfmaps__dilated"], "dilated")


@pytest.mark.parametrize("option,shape", [("sphere", (N,) * 3), ("none", (8,) * 3)])
def test_masking_options_sphere_and_none_match_recovar(option, shape):
    mask, dilated = M.masking_options(option, None, shape)
    assert_mask_matches(mask, FX[f"mo_{option}__mask"])
    assert_mask_matches(dilated, FX[f"mo_{option}__dilated"])


def test_make_mask_from_gt_matches_recovar_from_spectrum_and_real_map():
    spectrum = centered_dft(H1).astype(np.complex64).ravel()
    assert_mask_matches(M.make_mask_from_gt(spectrum), FX["gt_ft"], "gt_ft")
    assert_mask_matches(M.make_mask_from_gt(spectrum.reshape((N,) * 3), iter=2), FX["gt_ft_iter2"], "gt_ft_iter2")
    assert_mask_matches(M.make_mask_from_gt(H1, iter=3, from_ft=False), FX["gt_real_iter3"], "gt_real_iter3")


CONFORMATIONS = np.stack([H1, H2, np.roll(H1, 2, axis=0)])


def test_make_union_gt_mask_matches_recovar():
    soft, binary = M.make_union_gt_mask(CONFORMATIONS.reshape(3, -1), (N,) * 3)
    assert_mask_matches(soft, FX["union__soft"])
    assert_mask_matches(binary, FX["union__binary"])
    soft, binary = M.make_union_gt_mask(list(CONFORMATIONS[:2]), (N,) * 3, iter=2, dilation_iters=1, kern_rad=2)
    assert_mask_matches(soft, FX["union_iter2__soft"])
    assert_mask_matches(binary, FX["union_iter2__binary"])


def test_make_moving_gt_mask_matches_recovar():
    soft, binary = M.make_moving_gt_mask(CONFORMATIONS, (N,) * 3)
    assert_mask_matches(soft, FX["moving__soft"])
    assert_mask_matches(binary, FX["moving__binary"])
    soft, binary = M.make_moving_gt_mask(CONFORMATIONS[[0, 2]], (N,) * 3, iter=0, dilation_iters=0, kern_rad=4)
    assert_mask_matches(soft, FX["moving_iter0__soft"])
    assert_mask_matches(binary, FX["moving_iter0__binary"])
    soft, binary = M.make_moving_gt_mask(np.stack([S1, S1]), (16,) * 3)
    assert_mask_matches(soft, FX["moving_static__soft"])
    assert_mask_matches(binary, FX["moving_static__binary"])


def test_soften_volume_mask_matches_recovar():
    assert_mask_matches(M.soften_volume_mask(H1 > 0.3, 3), FX["soften_binary3"])
    assert_mask_matches(M.soften_volume_mask((H1 > 0.3).astype(np.float32), 2.5), FX["soften_binary2.5"])
    assert_mask_matches(M.soften_volume_mask(FX["mm_auto"], 3), FX["soften_soft"])
    assert_mask_matches(M.soften_volume_mask(np.zeros((16,) * 3, np.float32)), FX["soften_zero"])


@pytest.mark.parametrize("key,shape,radius", [
    ("radial_16", (16,) * 3, None), ("radial_15", (15,) * 3, None), ("radial_32_r7.5", (N,) * 3, 7.5),
    ("radial_2d_16_r3", (16, 16), 3), ("radial_2d_9", (9, 9), None)])
def test_get_radial_mask_matches_recovar_exactly(key, shape, radius):
    np.testing.assert_array_equal(M.get_radial_mask(shape, radius), FX[key])
    assert M.get_radial_mask(shape, radius).dtype == bool


def test_raised_cosine_mask_matches_recovar():
    for key, args in {"rc_int_offset": ((16,) * 3, 3, 6, np.array([1, 0, 0])),
                      "rc_scalar_offset": ((15,) * 3, 4, 7, -1),
                      "rc_float_offset": ((16,) * 3, 2.5, 5.5, np.array([0.5, -1.25, 2.0]))}.items():
        out = M.raised_cosine_mask(*args)
        assert out.dtype == np.float32  # recovar returns float64 for a float64 offset
        assert_close(out, FX[key], 1e-5, key)
        np.testing.assert_array_equal(out > 0, FX[key] > 0)


@pytest.mark.parametrize("key,vol,kwargs", [
    ("smo_default", S1.astype(np.float64), {}),
    ("smo_r5_w2", S1.astype(np.float64), dict(radius=5, cosine_width=2)),
    ("smo_mnoise", S1.astype(np.float64), dict(radius=4, Mnoise=0.1)),
    ("smo_f32", S1, dict(radius=6, cosine_width=1.5)),
    ("smo_2d", S1[3], dict(radius=4))])
def test_soft_mask_outside_map_matches_recovar(key, vol, kwargs):
    out, mask = M.soft_mask_outside_map(vol, **kwargs)
    assert out.dtype == FX[key + "__out"].dtype and mask.dtype == FX[key + "__mask"].dtype
    assert_close(out, FX[key + "__out"], 1e-5, key)
    assert_close(mask, FX[key + "__mask"], 1e-5, key)
    assert_unit_interval(mask)


def test_image_masks_and_kernels_match_recovar():
    assert_close(M.window_mask(8, 0.5, 0.9), FX["window_8"])
    assert_close(M.window_mask(32, 0.85, 0.99), FX["window_32"])
    assert_close(M.smooth_circular_mask(16, 4, 3), FX["smooth_16"])
    assert_close(M.smooth_circular_mask(15, 5.5, 2.5), FX["smooth_15"])
    assert_close(M.make_soft_edged_kernel(3, (N,) * 3), FX["kernel_3_32"])
    assert_close(M.make_soft_edged_kernel(2, (16,) * 3), FX["kernel_2_16"])
    assert_close(M.make_soft_edged_kernel(5, (24,) * 3), FX["kernel_5_24"])
    assert_close(M.make_soft_edged_kernel(4, (16, 16)), FX["kernel_4_2d"])
    assert M.window_mask(8, 0.5, 0.9).dtype == np.float32
    assert M.smooth_circular_mask(16, 4, 3).dtype == np.float64
    assert M.make_soft_edged_kernel(3, (16,) * 3).dtype == np.float32


def test_threshold_map_matches_recovar_exactly():
    np.testing.assert_array_equal(M.threshold_map(H1), FX["tm_default"])
    np.testing.assert_array_equal(M.threshold_map(H1, prob=0.9), FX["tm_prob0.9"])
    np.testing.assert_array_equal(M.threshold_map(H1, dthresh=0.2), FX["tm_dthresh"])


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------


def test_soften_volume_mask_is_cosine_of_distance_over_kern_rad():
    binary = np.zeros((20, 20, 20), bool)
    binary[8:12, 7:13, 9:11] = True
    distance = ndimage.distance_transform_edt(~binary)
    for kern_rad in (2, 3, 4.5):
        soft = M.soften_volume_mask(binary, kern_rad)
        expected = np.where(distance < kern_rad, 0.5 + 0.5 * np.cos(np.pi * distance / kern_rad), 0.0)
        assert_close(soft, expected.astype(np.float32), 1e-6)
        # soft edge width as asked: nonzero exactly within kern_rad of the mask
        np.testing.assert_array_equal(soft > 0, distance < kern_rad)
        np.testing.assert_array_equal(soft == 1, binary)


def test_soften_volume_mask_values_along_a_line_are_one_three_quarters_quarter_zero():
    binary = np.zeros((16, 16, 16))
    binary[:, :, :8] = 1
    soft = M.soften_volume_mask(binary, 3)
    np.testing.assert_allclose(soft[5, 5, 7:11], [1, 0.75, 0.25, 0], atol=1e-7)


def test_soften_volume_mask_rethresholds_soft_input_at_0_9():
    soft_input = np.zeros((12, 12, 12))
    soft_input[4:8, 4:8, 4:8] = 0.95
    soft_input[4:8, 4:8, 8] = 0.85
    out = M.soften_volume_mask(soft_input)
    np.testing.assert_array_equal(out == 1, soft_input >= 0.9)


def test_soften_volume_mask_of_all_zero_input_measures_to_scipys_virtual_point():
    out = M.soften_volume_mask(np.zeros((16, 16, 16)))
    assert out.max() == pytest.approx(0.75) and out[0, 0, 0] == pytest.approx(0.75)
    assert out[1:].max() < 0.75


def test_make_mask_soft_edge_has_the_requested_width():
    binary = M.make_mask(H1, extend=0, soft_edge=0)
    distance = ndimage.distance_transform_edt(binary == 0)
    for soft_edge in (2, 5):
        soft = M.make_mask(H1, extend=0, soft_edge=soft_edge)
        assert_unit_interval(soft)
        np.testing.assert_array_equal(soft == 1, binary == 1)
        edge = (soft > 0) & (soft < 1)
        assert distance[edge].max() < soft_edge and distance[edge].min() >= 1
        # values below 1e-3 are cut to zero
        assert soft[soft > 0].min() >= 1e-3


def test_make_mask_extension_is_euclidean_distance_from_the_cleaned_mask():
    core = M.make_mask(H1, extend=0, soft_edge=0) > 0
    for extend in (1, 3):
        extended = M.make_mask(H1, extend=extend, soft_edge=0) > 0
        np.testing.assert_array_equal(extended, ndimage.distance_transform_edt(~core) <= extend)


def test_make_mask_cleanup_keeps_the_largest_component_without_holes():
    vol = np.zeros((24, 24, 24))
    vol[7:13, 7:13, 7:13] = 1  # 216 voxels
    vol[14:17, 14:17, 14:17] = 1  # 27 voxels
    vol[9, 9, 9] = 0  # a hole
    kwargs = dict(threshold=0.5, lowpass_sigma=0, extend=0, soft_edge=0)
    kept = M.make_mask(vol, **kwargs)
    expected = np.zeros_like(kept)
    expected[7:13, 7:13, 7:13] = 1
    np.testing.assert_array_equal(kept, expected)
    loose = M.make_mask(vol, cleanup=False, **kwargs)
    np.testing.assert_array_equal(loose, (vol > 0.5).astype(np.float32))


def test_make_mask_cleanup_tie_keeps_the_first_component_in_scan_order():
    vol = np.zeros((24, 24, 24))
    vol[6:9, 6:9, 6:9] = 1
    vol[14:17, 14:17, 14:17] = 1
    kept = M.make_mask(vol, threshold=0.5, lowpass_sigma=0, extend=0, soft_edge=0)
    assert kept[7, 7, 7] == 1 and kept[15, 15, 15] == 0


def test_make_mask_only_selects_voxels_inside_the_radial_mask():
    out = M.make_mask(np.ones((16, 16, 16)) + np.arange(16)[:, None, None], threshold=0, lowpass_sigma=0, extend=0,
                      soft_edge=0, cleanup=False)
    np.testing.assert_array_equal(out > 0, M.get_radial_mask((16, 16, 16)))


def test_make_mask_on_odd_float64_volume_is_a_soft_mask_around_the_molecule():
    vol = H1[:31, :31, :31].astype(np.float64)
    out = M.make_mask(vol)
    assert out.shape == vol.shape and out.dtype == np.float32
    assert_unit_interval(out)
    c = np.arange(31) - 15
    r = np.sqrt(c[:, None, None] ** 2 + c[None, :, None] ** 2 + c[None, None, :] ** 2)
    assert out[(vol > 0.8) & (r < 9)].min() == 1  # the molecule's dense atoms are inside
    assert out[(vol > 0.8) & (r > 11)].max() == 0  # the detached blob is cleaned away


def test_make_mask_does_not_modify_its_input():
    vol = H1.copy()
    M.make_mask(vol)
    M.make_mask_from_half_maps(vol, H2, method="local_correlation")
    np.testing.assert_array_equal(vol, H1)


def test_get_radial_mask_counts_and_excludes_points_exactly_at_the_radius():
    assert M.get_radial_mask((16, 16, 16)).sum() == 1365
    disc = M.get_radial_mask((16, 16), radius=3)
    assert disc.sum() == 25
    assert not disc[8, 11] and not disc[11, 8] and disc[8, 10]
    assert M.get_radial_mask((16, 16), radius=3.0001).sum() == 29


def test_raised_cosine_mask_profile_and_offset():
    m = M.raised_cosine_mask((16, 16, 16), 3, 6, np.array([0, 0, 0]))
    np.testing.assert_allclose(m[8, 8, [8, 11, 12, 14]], [1, 1, 0.75, 0], atol=1e-6)
    shifted = M.raised_cosine_mask((16, 16, 16), 3, 6, (1, 0, 0))
    np.testing.assert_array_equal(shifted[9, 8, 8], 1)
    np.testing.assert_allclose(shifted[1:], m[:-1], atol=1e-6)
    assert_unit_interval(m)


def test_soft_mask_outside_map_background_and_regions():
    rng = np.random.default_rng(5)
    vol = rng.normal(size=(16, 16, 16))
    out, mask = M.soft_mask_outside_map(vol, radius=4, cosine_width=3)
    coords = np.arange(16) - 8
    r = np.sqrt(coords[:, None, None] ** 2 + coords[None, :, None] ** 2 + coords[None, None, :] ** 2)
    band, beyond = (r > 4) & (r <= 7), r > 7
    background = np.sum(vol[band] * mask[band]) / np.sum(mask[band])
    np.testing.assert_allclose(out[r <= 4], vol[r <= 4])
    np.testing.assert_allclose(out[beyond], background)
    np.testing.assert_allclose(out[band], mask[band] * vol[band] + (1 - mask[band]) * background)
    np.testing.assert_allclose(mask[band], 0.5 - 0.5 * np.cos(np.pi * (7 - r[band]) / 3), atol=1e-6)
    out_noise, _ = M.soft_mask_outside_map(vol, radius=4, cosine_width=3, Mnoise=0.25)
    np.testing.assert_allclose(out_noise[beyond], 0.25)


def test_soft_mask_outside_map_default_radius_and_empty_band_gives_nan_background():
    vol = np.ones((8, 8, 8), np.float32)
    _, mask = M.soft_mask_outside_map(vol)
    assert mask[4, 4, 0] == 1  # default radius max(shape)//2 = 4
    out, _ = M.soft_mask_outside_map(vol, radius=20)  # no voxel beyond the radius
    assert np.isnan(out).all()  # recovar's 0/0 background


def test_soft_mask_outside_map_does_not_modify_its_input_and_keeps_complex():
    vol = (S1 + 1j * S2).astype(np.complex64)
    copy = vol.copy()
    out, mask = M.soft_mask_outside_map(vol, radius=5)
    np.testing.assert_array_equal(vol, copy)
    assert out.dtype == np.complex64 and mask.dtype == np.float32


def test_window_mask_row_values():
    np.testing.assert_allclose(M.window_mask(8, 0.5, 0.9)[4], [0, 0.375, 1, 1, 1, 1, 1, 0.375], atol=1e-6)
    hard = M.window_mask(8, 0.5, 0.5)
    assert np.isfinite(hard).all() and hard[4, 2] == 1 and hard[4, 1] == 0


def test_smooth_circular_mask_formula_and_zero_thickness():
    m = M.smooth_circular_mask(16, 4, 3)
    np.testing.assert_allclose(m[8, 8:16], [1, 1, 1, 1, 1, 0.75, 0.25, 0], atol=1e-12)
    hard = M.smooth_circular_mask(16, 4, 0)
    assert np.isfinite(hard).all()
    np.testing.assert_array_equal(hard[8, 8:14], [1, 1, 1, 1, 1, 0])


def test_make_soft_edged_kernel_sums_to_one_and_is_centred_at_n_half_minus_one():
    for r1, shape in ((3, (16, 16, 16)), (2, (15, 15, 15)), (4, (20, 20))):
        k = M.make_soft_edged_kernel(r1, shape)
        assert k.sum() == pytest.approx(1, rel=1e-6)
        centre = tuple(n // 2 - 1 for n in shape)
        assert k[centre] == k.max()
        box = 5 if r1 < 3 else 2 * r1 + 1
        assert (np.argwhere(k > 0) - centre).max() <= box // 2


def test_threshold_map_percentile_rule():
    assert not M.threshold_map(np.arange(100.0)).any()
    kept = M.threshold_map(np.arange(101.0))
    np.testing.assert_array_equal(np.nonzero(kept)[0], [100])
    assert M.threshold_map(np.arange(10)).dtype == np.arange(10).dtype
    np.testing.assert_array_equal(M.threshold_map(np.array([1.0, -2, 3]), dthresh=-5), [1, -2, 3])
    np.testing.assert_array_equal(M.threshold_map(np.array([7.0])), [0])


def test_make_mask_from_gt_is_dilated_top_percentile_with_two_voxel_edge():
    top = M.threshold_map(H1) > 0
    out = M.make_mask_from_gt(H1, iter=2, from_ft=False)
    np.testing.assert_array_equal(out == 1, ndimage.binary_dilation(top, iterations=2))
    assert_unit_interval(out)


def test_gt_masks_accept_every_input_layout_alike():
    reference = M.make_union_gt_mask(CONFORMATIONS, (N,) * 3)
    for layout in (CONFORMATIONS.reshape(3, -1), list(CONFORMATIONS), tuple(c.ravel() for c in CONFORMATIONS)):
        soft, binary = M.make_union_gt_mask(layout, (N,) * 3)
        np.testing.assert_array_equal(soft, reference[0])
        np.testing.assert_array_equal(binary, reference[1])
    single = M.make_union_gt_mask(H1, (N,) * 3)[1]
    np.testing.assert_array_equal(single, M.make_union_gt_mask([H1], (N,) * 3)[1])


def test_moving_gt_mask_of_identical_volumes_is_empty():
    soft, binary = M.make_moving_gt_mask([S1, S1, S1], (16,) * 3)
    assert not soft.any() and not binary.any() and soft.dtype == np.float32 and binary.dtype == bool


# ---------------------------------------------------------------------------
# masking_options with real .mrc files
# ---------------------------------------------------------------------------


def test_masking_options_reads_mrc_axis_reversed_and_leaves_file_and_voxel_size_intact(tmp_path):
    data = np.zeros((12, 12, 12), np.float32)
    data[1, 2, 3] = 1.0
    path = write_mrc(tmp_path / "m.mrc", data, voxel_size=2.25)
    before = open(path, "rb").read()
    mask, dilated = M.masking_options(path, None, (12, 12, 12), keep_input_mask=True)
    assert mask[3, 2, 1] == 1 and mask.sum() == 1
    assert dilated[3, 2, 1] == 1 and dilated.dtype == np.float32
    assert open(path, "rb").read() == before
    with mrcfile.open(path) as mrc:
        assert mrc.voxel_size.x == pytest.approx(2.25) and mrc.voxel_size.z == pytest.approx(2.25)


def test_masking_options_mask_written_to_mrc_reads_back_identically(tmp_path):
    mask, _ = M.masking_options("from_halfmaps", Means(S1, S2), (16,) * 3)
    path = write_mrc(tmp_path / "roundtrip.mrc", np.transpose(mask, (2, 1, 0)), voxel_size=1.3)
    with mrcfile.open(path) as mrc:
        assert mrc.voxel_size.y == pytest.approx(1.3)
    again, _ = M.masking_options(path, None, (16,) * 3, keep_input_mask=True)
    np.testing.assert_array_equal(again, mask)
    # thresholded at 0.5 and softened again: the ≥ 0.5 core of the soft mask stays 1
    resoftened, _ = M.masking_options(path, None, (16,) * 3)
    np.testing.assert_array_equal(resoftened == 1, mask > 0.5)


def test_masking_options_rescales_a_mask_of_another_size(tmp_path):
    data = np.zeros((32, 32, 32), np.float32)
    data[8:24, 8:24, 8:24] = 1
    path = write_mrc(tmp_path / "big.mrc", data)
    mask, dilated = M.masking_options(path, None, (16, 16, 16))
    assert mask.shape == dilated.shape == (16, 16, 16)
    assert mask[8, 8, 8] == 1 and mask[0, 0, 0] == 0
    assert (dilated >= mask).all()


def test_masking_options_dilated_mask_contains_the_mask():
    mask, dilated = M.masking_options("from_halfmaps", Means(H1, H2), (N,) * 3)
    assert (dilated >= mask).all() and dilated.sum() > mask.sum()
    assert_unit_interval(mask)


def test_masking_options_sphere_none_and_dtype():
    mask, dilated = M.masking_options("sphere", None, (16, 16, 16), dtype_real=np.float64)
    assert mask.dtype == np.float64
    np.testing.assert_array_equal(mask, M.get_radial_mask((16, 16, 16)))
    np.testing.assert_array_equal(dilated, mask)
    mask, dilated = M.masking_options("none", None, (5, 6, 7))
    assert mask.shape == (5, 6, 7) and (mask == 1).all() and (dilated == 1).all()
    assert mask is not dilated


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


def test_masking_options_missing_mrc_file_is_a_value_error_naming_the_option(tmp_path):
    missing = str(tmp_path / "nope.mrc")
    with pytest.raises(ValueError, match="volume_mask_option"):
        M.masking_options(missing, None, (16, 16, 16))
    with pytest.raises(FileNotFoundError):
        M.masking_options(missing, None, (16, 16, 16))


def test_masking_options_bad_files_and_options(tmp_path):
    with pytest.raises(ValueError, match="volume_mask_option"):
        M.masking_options("spheres", None, (16, 16, 16))
    with pytest.raises(ValueError, match="volume_mask_option"):
        M.masking_options(3, None, (16, 16, 16))
    with pytest.raises(ValueError, match="volume_mask_option"):
        M.masking_options(tmp_path / "m.mrc", None, (16, 16, 16))
    flat = write_mrc(tmp_path / "flat.mrc", np.ones((8, 8), np.float32))
    with pytest.raises(ValueError, match="3-D"):
        M.masking_options(flat, None, (8, 8, 8))
    nan_data = np.ones((8, 8, 8), np.float32)
    nan_data[1, 1, 1] = np.nan
    with pytest.warns(RuntimeWarning, match="NaN"):  # mrcfile's own warning on writing
        nan_path = write_mrc(tmp_path / "nan.mrc", nan_data)
    with pytest.raises(ValueError, match="NaN"):
        M.masking_options(nan_path, None, (8, 8, 8))
    with pytest.raises(ValueError, match="volume_shape"):
        M.masking_options("sphere", None, (16, 16))
    with pytest.raises(TypeError, match="means"):
        M.masking_options("from_halfmaps", object(), (16, 16, 16))
    with pytest.raises(TypeError, match="dtype_real"):
        M.masking_options("none", None, (4, 4, 4), dtype_real=np.int32)


def test_volume_functions_refuse_2d_nan_and_bad_options():
    with pytest.raises(ValueError, match="volume"):
        M.make_mask(np.ones((16, 16)))
    nan_vol = H1.copy()
    nan_vol[3, 3, 3] = np.nan
    with pytest.raises(ValueError, match="volume.*NaN"):
        M.make_mask(nan_vol)
    with pytest.raises(ValueError, match="threshold"):
        M.make_mask(H1, threshold="otsu")
    with pytest.raises(TypeError, match="soft_edge"):
        M.make_mask(H1, soft_edge="3")
    with pytest.raises(ValueError, match="halfmap1"):
        M.make_mask_from_half_maps(np.ones((16, 16)), np.ones((16, 16)))
    with pytest.raises(ValueError, match="halfmap2.*NaN"):
        M.make_mask_from_half_maps(H1, nan_vol)
    with pytest.raises(ValueError, match="same shape"):
        M.make_mask_from_half_maps(H1, S1)
    with pytest.raises(TypeError, match="bogus"):
        M.make_mask_from_half_maps(H1, H2, bogus=1)  # forwarded to make_mask, which has no `bogus`
    with pytest.raises(ValueError, match="binary_volume_mask.*NaN"):
        M.soften_volume_mask(nan_vol)


def test_gt_and_helper_functions_refuse_bad_input():
    with pytest.raises(ValueError, match="gt_map"):
        M.make_mask_from_gt(np.ones(100))
    with pytest.raises(TypeError, match="gt_map"):
        M.make_mask_from_gt(np.ones(64, complex), from_ft=False)
    with pytest.raises(ValueError, match="gt_volumes_real"):
        M.make_moving_gt_mask([], (8, 8, 8))
    with pytest.raises(ValueError, match="gt_volumes_real"):
        M.make_union_gt_mask([], (8, 8, 8))
    with pytest.raises(ValueError, match="gt_volumes_real"):
        M.make_union_gt_mask(np.ones((2, 100)), (8, 8, 8))
    with pytest.raises(ValueError, match="volume_shape"):
        M.make_union_gt_mask(np.ones((8, 8, 8)), (8, 8))
    with pytest.raises(ValueError, match="offset"):
        M.raised_cosine_mask((8, 8, 8), 2, 3, (1, 2))
    with pytest.raises(ValueError, match="shape"):
        M.get_radial_mask((8, -8))
    with pytest.raises(ValueError, match="D"):
        M.window_mask(7, 0.5, 0.9)
    with pytest.raises(ValueError, match="prob"):
        M.threshold_map(np.arange(5.0), prob=1.5)
    with pytest.raises(ValueError, match="arr.*NaN"):
        M.threshold_map(np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="kern_rad"):
        M.soften_volume_mask(np.ones((4, 4, 4)), kern_rad="3")
    with pytest.raises(ValueError, match="Mnoise"):
        M.soft_mask_outside_map(np.ones((8, 8, 8)), Mnoise=np.ones(3))
