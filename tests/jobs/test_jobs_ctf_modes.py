"""CTF modes of reconstruct (data and weight multipliers) and the optics-group resampling."""
import numpy as np
import pytest

from recovar_jl.jobs import ops
from recovar_jl.jobs.ctf_modes import CtfModes, first_peak_phase
from recovar_jl.jobs.errors import JobError
from recovar_jl.jobs.optics import Resampling, centre_box, fourier_resample
from recovar_jl.jobs.sanity import contrast_warning, defocus_warning, density_skewness

BOX, APIX = 32, 2.0


def _ctf_rows(n=4, defocus=(9000.0, 15000.0), rng=None):
    rng = rng or np.random.default_rng(3)
    ctf = np.zeros((n, 9))
    ctf[:, 0] = rng.uniform(*defocus, n)
    ctf[:, 1] = ctf[:, 0] * 0.97
    ctf[:, 2] = rng.uniform(0, 180, n)
    ctf[:, 3], ctf[:, 4], ctf[:, 5], ctf[:, 8] = 300.0, 2.7, 0.1, 1.0
    return ctf


def _radius():
    from recovar_jl.core.fourier_transform_utils import get_k_coordinate_of_each_pixel_half

    f = np.asarray(get_k_coordinate_of_each_pixel_half((BOX, BOX), APIX, scaled=True))
    return np.hypot(f[:, 0], f[:, 1])


def test_each_correction_gives_its_data_and_weight_multipliers():
    ctf = _ctf_rows()
    c = np.asarray(ops.ctf_half(ctf.astype(np.float32), BOX, APIX))
    cases = {"full": (c, c * c), "none": (np.ones_like(c), np.ones_like(c)),
             "phase-flip": (np.sign(c), np.ones_like(c)), "phase-flipped": (np.abs(c), c * c)}
    for correction, (data, weight) in cases.items():
        d, w = CtfModes(correction=correction).multipliers(ctf, BOX, APIX)
        assert d.dtype == np.float32 and d.shape == (4, BOX * (BOX // 2 + 1))
        np.testing.assert_allclose(d, data, atol=1e-6, err_msg=correction)
        np.testing.assert_allclose(w, weight, atol=1e-6, err_msg=correction)
        d_inv, w_inv = CtfModes(correction=correction, invert_contrast=True).multipliers(ctf, BOX, APIX)
        np.testing.assert_array_equal(d_inv, -d)
        np.testing.assert_array_equal(w_inv, w)


def test_first_peak_phase_is_the_phase_of_the_relion_sign_ctf():
    # sin(χ + asin W) is RELION's CTF (no B-factor, scale 1): the phase formula matches the kernel's CTF.
    ctf = _ctf_rows(rng=np.random.default_rng(8))
    ctf[1, 6] = 30.0  # a phase shift too
    c = np.asarray(ops.ctf_half(ctf.astype(np.float32), BOX, APIX))
    np.testing.assert_allclose(np.sin(first_peak_phase(ctf, BOX, APIX)), c, atol=2e-5)


def test_intact_first_peak_is_one_up_to_the_peak_and_the_ctf_after_it():
    ctf = _ctf_rows()
    c = np.asarray(ops.ctf_half(ctf.astype(np.float32), BOX, APIX))
    d, w = CtfModes(intact_first_peak=True).multipliers(ctf, BOX, APIX)
    phase = first_peak_phase(ctf, BOX, APIX)
    inside = np.abs(phase) < np.pi / 2
    assert inside.any() and (~inside).any()
    np.testing.assert_array_equal(d[inside], 1.0)
    np.testing.assert_allclose(d[~inside], c[~inside], atol=1e-6)
    np.testing.assert_allclose(w, d * d, atol=1e-6)
    # Before the peak the CTF rises from W to 1: the replacement never changes its sign.
    assert np.all(c[inside] >= 0.1 - 1e-4) and np.all(c[inside] <= 1.0)


def test_maxres_and_per_particle_limits_zero_both_multipliers_beyond_them():
    ctf = _ctf_rows(n=2)
    r = _radius()
    d, w = CtfModes(maxres=8.0).multipliers(ctf, BOX, APIX)
    full_d, full_w = CtfModes().multipliers(ctf, BOX, APIX)
    assert np.all(d[:, r > 1 / 8.0] == 0) and np.all(w[:, r > 1 / 8.0] == 0)
    np.testing.assert_array_equal(d[:, r <= 1 / 8.0], full_d[:, r <= 1 / 8.0])
    d, w = CtfModes(maxres=8.0).multipliers(ctf, BOX, APIX, max_frequency=np.array([0.2, 0.1]))
    assert np.all(w[0, r > 1 / 8.0] == 0) and np.all(w[1, r > 0.1] == 0) and np.any(w[1, r <= 0.1] != 0)


def test_bad_ctf_modes_are_refused():
    with pytest.raises(ValueError, match="correction"):
        CtfModes(correction="flip")
    with pytest.raises(ValueError, match="maxres"):
        CtfModes(maxres=0.0)
    with pytest.raises(ValueError, match="intact_first_peak"):
        CtfModes(correction="none", intact_first_peak=True)


# ---- resampling of optics groups ------------------------------------------------------------
_WAVES = [(kx, ky, a, ph) for kx, ky, a, ph in zip([0, 3, -5, 2, 4, -1], [0, -2, 1, 5, 4, -3],
                                                    [0.7, 1.0, -0.5, 0.8, 0.3, 1.2], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])]


def _cosines(box, field):
    """A band-limited image (cosines of ≤ 5 cycles per field of view) sampled on a box grid
    covering ``field`` (same units as the waves' period), centred at index box//2."""
    x = (np.arange(box) - box // 2) * field / box
    img = np.zeros((box, box))
    for kx, ky, a, ph in _WAVES:
        img += a * np.cos(2 * np.pi * (kx * x[None, :] + ky * x[:, None]) / field + ph)
    return img[None].astype(np.float32)


@pytest.mark.parametrize("box,new_box", [(32, 48), (48, 32), (32, 33), (31, 32)])
def test_fourier_resample_samples_the_same_band_limited_function(box, new_box):
    out = fourier_resample(_cosines(box, 1.0), new_box)
    assert out.shape == (1, new_box, new_box) and out.dtype == np.float32
    np.testing.assert_allclose(out, _cosines(new_box, 1.0), atol=1e-4)
    np.testing.assert_allclose(fourier_resample(np.full((2, box, box), 2.5, np.float32), new_box), 2.5, atol=1e-5)


def test_centre_box_keeps_the_centre_pixel_at_box_over_two():
    img = np.zeros((1, 10, 10), np.float32)
    img[0, 5, 5] = 1.0
    assert centre_box(img, 16)[0, 8, 8] == 1.0 and centre_box(img, 6)[0, 3, 3] == 1.0
    assert centre_box(centre_box(img, 16), 10)[0].tolist() == img[0].tolist()


def test_resampling_plan_is_exact_when_possible_limits_padded_groups_and_refuses_far_misfits():
    plan = Resampling.plan(2.0, 48, 3.0, "optics group 2")
    assert plan.fourier_box == 32 and np.isinf(plan.max_frequency)
    plan = Resampling.plan(8.0, 16, 4.0, "optics group 3")   # coarser: padded, no data past its Nyquist
    assert plan.fourier_box == 32 and plan.max_frequency == pytest.approx(7.5 / (16 * 8.0))
    with pytest.raises(JobError, match="optics group 4.*re-extract it at 2 Å/pixel"):
        Resampling.plan(1.0, 101, 2.0, "optics group 4")


# ---- warnings ---------------------------------------------------------------------------------
def test_defocus_warning_only_for_negative_defocus():
    assert defocus_warning(_ctf_rows()) is None
    ctf = _ctf_rows()
    ctf[1, :2] *= -1
    message = defocus_warning(ctf)
    assert "1 of 4 particles" in message and "overfocus" in message and "\n" not in message


def test_contrast_warning_for_an_inverted_map_only_when_halves_agree():
    from recovar_jl.jobs.phantom import gaussian_atom_phantom

    vol = gaussian_atom_phantom(16)
    good = np.ones(9)
    assert density_skewness(vol) > 1 and contrast_warning(vol, good) is None
    message = contrast_warning(-vol, good)
    assert "--invert-contrast" in message and "\n" not in message
    assert contrast_warning(-vol, np.full(9, 0.1)) is None  # noise: nothing to judge
    # Two of the three signs suffice (a wrong-sign defocus gives two); one alone does not.
    spiky = vol - 0.05 * vol.max()                    # negative mean, skewness still positive
    spiky[0, 0, 0] = -2 * vol.max()                   # and the strongest voxel negative
    assert density_skewness(spiky) > 0 and "looks inverted" in contrast_warning(spiky, good)
    outlier = vol.copy()
    outlier[0, 0, 0] = -2 * vol.max()                 # strongest voxel negative only
    assert outlier.mean() > 0 and density_skewness(outlier) > 0
    assert contrast_warning(outlier, good) is None


def test_jobs_ctf_has_relions_sign_positive_amplitude_contrast_at_zero_frequency():
    # RELION's particles are white on black: its CTF is +W·scale at k = 0 (recovar's core CTF is −W).
    ctf = _ctf_rows(n=3)
    ctf[:, 5] = [0.07, 0.1, 0.2]
    ctf[:, 8] = [1.0, 0.5, 2.0]
    c = np.asarray(ops.ctf_half(ctf.astype(np.float32), BOX, APIX))
    dc = int(np.argmin(_radius()))
    np.testing.assert_allclose(c[:, dc], ctf[:, 5] * ctf[:, 8], rtol=1e-5)


def test_density_skewness_is_the_third_standardised_moment():
    rng = np.random.default_rng(3)
    vol = rng.gamma(2.0, size=(9, 10, 11)).astype(np.float32)
    kept = vol.copy()
    v = vol.astype(np.float64) - vol.mean(dtype=np.float64)
    assert np.isclose(density_skewness(vol), np.mean(v ** 3) / np.mean(v ** 2) ** 1.5, rtol=1e-12)
    assert np.array_equal(vol, kept)   # centred in a copy
    assert density_skewness(np.ones((4, 4, 4), np.float32)) == 0.0
