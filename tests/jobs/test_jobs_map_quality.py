"""The image mask and the radial Wiener weighting of reconstruct: definitions, and that the map
gets at least as close to the truth with them as without (FSC vs truth, unmasked and masked)."""
import numpy as np
import pytest

from recovar_jl.core.mask import raised_cosine_mask
from recovar_jl.jobs.fsc import fsc
from recovar_jl.jobs.particle_mask import EDGE_PIXELS, check_diameter, image_mask
from recovar_jl.jobs.phantom import gaussian_atom_phantom
from recovar_jl.jobs.radial_wiener import band_weights, radial_wiener
from recovar_jl.jobs.reconstruct import Backprojector, split_halves
from recovar_jl.jobs.simulate import random_parameters, simulate_chunks


# ---- image mask -----------------------------------------------------------------------------
def test_image_mask_of_a_diameter_is_one_inside_and_zero_past_the_soft_edge():
    box, voxel, diameter = 64, 3.0, 90.0               # radius 15 px
    m = image_mask(box, voxel, diameter)
    c = box // 2
    row = m[c, c:]
    assert np.all(row[:15] == 1) and np.all(row[15 + int(EDGE_PIXELS) + 1:] == 0)
    assert np.all(np.diff(row) <= 0)                   # falls monotonically along a radius
    np.testing.assert_allclose(m, m.T)                 # round


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan"), float("inf")])
def test_image_mask_refuses_a_diameter_that_is_not_positive(bad):
    with pytest.raises(ValueError, match="diameter"):
        image_mask(32, 1.0, bad)
    assert "--particle-diameter" in check_diameter(bad, 32, 1.0)


def test_check_diameter_names_pixels_when_the_diameter_looks_like_pixels_at_a_small_pixel_size():
    assert check_diameter(None, 64, 3.0) is None
    assert check_diameter(120.0, 64, 3.0) is None
    assert "pixels" in check_diameter(20.0, 64, 3.0)   # 6.7 px: narrower than its own soft edge


# ---- radial Wiener --------------------------------------------------------------------------
def test_band_weights_are_a_partition_of_unity():
    r = np.linspace(0, 50, 1001)
    bands = list(band_weights(r, 32.0, 8))
    assert len(bands) == 9
    np.testing.assert_allclose(np.sum(bands, axis=0), 1.0, atol=1e-6)
    assert all(b.min() >= 0 for b in bands)


def test_radial_wiener_leaves_a_noise_free_map_unchanged():
    truth = gaussian_atom_phantom(32)
    out = radial_wiener(truth, truth, truth)
    np.testing.assert_allclose(out, truth, atol=1e-5)


def test_radial_wiener_brings_noisy_halves_closer_to_the_truth_and_zeroes_pure_noise():
    rng = np.random.default_rng(1)
    truth = gaussian_atom_phantom(32).astype(np.float64)
    sigma = 0.3 * truth.std() * 4
    h1 = truth + sigma * rng.standard_normal(truth.shape)
    h2 = truth + sigma * rng.standard_normal(truth.shape)
    full = 0.5 * (h1 + h2)
    out = radial_wiener(h1, h2, full)
    shells = slice(1, None)
    assert np.mean(fsc(out, truth)[shells]) > np.mean(fsc(full, truth)[shells]) + 0.02
    n1, n2 = (sigma * rng.standard_normal(truth.shape) for _ in range(2))
    noise_only = radial_wiener(n1, n2, 0.5 * (n1 + n2))
    assert np.std(noise_only) < 0.3 * np.std(0.5 * (n1 + n2))


def test_radial_wiener_refuses_volumes_of_different_shapes():
    with pytest.raises(ValueError, match="half1, half2 and full"):
        radial_wiener(np.zeros((8, 8, 8)), np.zeros((8, 8, 8)), np.zeros((10, 10, 10)))


# ---- the whole reconstruction on a small case -----------------------------------------------
BOX, VOXEL = 40, 3.0


@pytest.fixture(scope="module")
def small_particle_data():
    """A molecule of diameter ~18 px in a 40-px box, 1500 particles at SNR 1, low defocus (its
    CTF delocalisation stays within a few pixels, so an image mask can only remove noise)."""
    truth = np.zeros((BOX,) * 3, dtype=np.float32)
    inner = slice(BOX // 2 - 12, BOX // 2 + 12)
    truth[inner, inner, inner] = gaussian_atom_phantom(24)
    rng = np.random.default_rng(3)
    params = random_parameters(1500, rng, defocus_range=(4000.0, 6000.0), max_shift=1.0)
    images = np.concatenate([im for _, im, _ in simulate_chunks(truth, VOXEL, params, 1.0, rng)])
    halves = split_halves(len(params), np.random.default_rng(0))
    return truth, images, params, halves


def _reconstruct(data, mask=None):
    truth, images, params, halves = data
    bp = Backprojector(BOX, VOXEL)
    bp.add_images(images if mask is None else images * mask, params.rotations, params.translations,
                  params.ctf_params, halves)
    return bp.reconstruct()


def _score(volume, truth, soft=None):
    """Mean FSC vs truth over the high-resolution half of the shells, optionally masked."""
    shells = slice(BOX // 4, BOX // 2)
    if soft is not None:
        volume, truth = volume * soft, truth * soft
    return float(np.mean(fsc(volume, truth)[shells]))


SPHERE = raised_cosine_mask((BOX,) * 3, 0.3 * BOX, 0.4 * BOX, 0)


def test_radial_filter_brings_the_map_closer_to_the_truth_with_and_without_a_mask(small_particle_data):
    truth = small_particle_data[0]
    rec = _reconstruct(small_particle_data)
    filtered = radial_wiener(rec.half1, rec.half2, rec.full)
    for soft in (None, SPHERE):
        assert _score(filtered, truth, soft) >= _score(rec.full, truth, soft)
    assert _score(filtered, truth) > _score(rec.full, truth) + 0.02


def test_particle_diameter_mask_brings_the_map_closer_to_the_truth_when_the_box_has_room(small_particle_data):
    truth = small_particle_data[0]
    plain = _reconstruct(small_particle_data)
    masked = _reconstruct(small_particle_data, image_mask(BOX, VOXEL, 26 * VOXEL))
    for soft in (None, SPHERE):
        assert _score(masked.full, truth, soft) >= _score(plain.full, truth, soft)


# ---- the command line -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_sim(tmp_path_factory):
    from recovar_jl.cli import main
    from recovar_jl.jobs.mrc import write_volume

    d = tmp_path_factory.mktemp("tiny")
    write_volume(d / "truth.mrc", gaussian_atom_phantom(16), 5.0)
    assert main(["simulate", str(d / "truth.mrc"), "--n-images", "300", "--snr", "2", "--out", str(d / "sim"),
                 "-q"]) == 0
    return d / "sim" / "particles.star"


@pytest.mark.parametrize("bad", ["-5", "0", "20"])
def test_reconstruct_refuses_an_unusable_particle_diameter_with_one_line_and_no_output(tiny_sim, tmp_path,
                                                                                      capsys, bad):
    from recovar_jl.cli import main

    code = main(["reconstruct", str(tiny_sim), "--out", str(tmp_path / "o"), "--particle-diameter", bad, "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "--particle-diameter" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_radial_filter_changes_only_the_full_map(tiny_sim, tmp_path):
    from recovar_jl.cli import main
    from recovar_jl.jobs.mrc import read_volume

    for name, extra in (("on", []), ("off", ["--no-radial-filter"]), ("masked", ["--particle-diameter", "60"])):
        assert main(["reconstruct", str(tiny_sim), "--out", str(tmp_path / name), "-q", *extra]) == 0
    on, off, masked = ({f: read_volume(tmp_path / name / f)[0] for f in ("map.mrc", "half1.mrc", "half2.mrc")}
                       for name in ("on", "off", "masked"))
    np.testing.assert_array_equal(on["half1.mrc"], off["half1.mrc"])
    np.testing.assert_array_equal(on["half2.mrc"], off["half2.mrc"])
    assert not np.allclose(on["map.mrc"], off["map.mrc"])
    assert not np.allclose(masked["half1.mrc"], on["half1.mrc"])


@pytest.mark.parametrize("n,r", [(16, 3), (17, 4), (32, 7), (33, 15)])
def test_band_limited_inverse_skips_zero_lines_and_equals_irfftn(n, r):
    from scipy import fft as sfft

    from recovar_jl.jobs.radial_wiener import _irfftn_within, _within

    rng = np.random.default_rng(n + r)
    spectrum = sfft.rfftn(rng.standard_normal((n, n, n)).astype(np.float32))
    k = np.abs(np.fft.fftfreq(n) * n)
    kz = np.fft.rfftfreq(n) * n
    inside = (k[:, None, None] <= r) & (k[None, :, None] <= r) & (kz[None, None, :] <= r)
    band = np.where(inside, rng.random(spectrum.shape), 0.0).astype(np.float32)
    got = _irfftn_within(spectrum, band[_within(r, n)], r, n)
    want = sfft.irfftn(spectrum * band, s=(n, n, n))
    assert got.dtype == np.float32 and got.shape == (n, n, n)
    np.testing.assert_allclose(got, want, atol=1e-6 * np.abs(want).max())


def test_each_band_is_zero_beyond_its_ramp():
    r = np.linspace(0.0, 40.0, 4001, dtype=np.float32)
    for j, band in enumerate(band_weights(r, 32.0, 8)):
        if j < 8:
            assert np.all(band[r >= 4.0 * (j + 1)] == 0.0)
