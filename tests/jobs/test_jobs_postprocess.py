"""Masks, masked FSC with phase randomisation, and sharpening (relion_postprocess's steps)."""
import numpy as np
import pytest

import recovar_jl.jobs.commands  # noqa: F401  (imports matplotlib before Julia starts; see jobs/plots.py)
from recovar_jl.cli import main
from recovar_jl.jobs.errors import JobError
from recovar_jl.jobs.fsc import fsc
from recovar_jl.jobs.mrc import read_volume, write_volume
from recovar_jl.jobs.phantom import gaussian_atom_phantom
from recovar_jl.jobs.postprocess import (
    RANDOMISE_BELOW, check_mask, fsc_weights, guinier, masked_fsc, parse_bfactor, randomise_phases, sharpen,
)

N = 48


def _radius(n=N):
    k = np.fft.fftfreq(n, 1.0 / n)
    return np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)


def _filtered(volume, gain):
    """Real map whose spectrum is volume's times gain(|k|) (k in integer units)."""
    return np.real(np.fft.ifftn(np.fft.fftn(volume) * gain(_radius(volume.shape[0])))).astype(np.float32)


def _ball(radius, n=N):
    k = np.arange(n) - n // 2
    return (k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2 <= radius ** 2).astype(np.float32)


def _noisy_halves(rng, signal_cutoff=8.0, noise=0.3):
    """Two half maps: the same smooth signal (Gaussian fall-off at ``signal_cutoff`` shells) plus independent noise."""
    signal = _filtered(rng.standard_normal((N,) * 3), lambda r: np.exp(-(r / signal_cutoff) ** 2))
    signal /= signal.std()
    return [signal + noise * rng.standard_normal((N,) * 3).astype(np.float32) for _ in range(2)]


# ---- phase randomisation and the masked FSC ------------------------------------------------
def test_phase_randomisation_keeps_amplitudes_and_inner_shells_and_decorrelates_the_rest():
    rng = np.random.default_rng(0)
    vol = rng.standard_normal((N,) * 3).astype(np.float32)
    out = randomise_phases(vol, 10, rng)
    f_in, f_out = np.fft.fftn(vol), np.fft.fftn(out)
    np.testing.assert_allclose(np.abs(f_out), np.abs(f_in), rtol=1e-3, atol=1e-2)
    inner = np.rint(_radius()) <= 10
    np.testing.assert_allclose(f_out[inner], f_in[inner], rtol=1e-4, atol=1e-2)
    curve = fsc(vol, out)
    assert np.all(curve[:11] > 0.9999) and np.abs(curve[12:]).max() < 0.1


def test_masked_fsc_correction_removes_most_of_the_correlation_a_hard_mask_adds_where_it_cuts_the_signal():
    # Signal fills the box and the hard-edged ball cuts through it: the masked FSC stays high
    # in shells where the half maps share nothing but the mask's convolution of low-resolution signal.
    rng = np.random.default_rng(1)
    h1, h2 = _noisy_halves(rng)
    result = masked_fsc(h1, h2, _ball(10), rng)
    start = result.randomised_from
    assert result.unmasked[start] < RANDOMISE_BELOW <= result.unmasked[1:start].min()
    noise_only = np.flatnonzero(np.abs(result.unmasked) < 0.05)
    noise_only = noise_only[noise_only > start + 2]
    assert noise_only.size > 5
    assert result.masked[noise_only].mean() > 0.3
    assert result.corrected[noise_only].mean() < 0.4 * result.masked[noise_only].mean()
    np.testing.assert_array_equal(result.corrected[:start + 2], result.masked[:start + 2])
    assert np.all(result.corrected <= result.masked + 1e-12)


def test_masked_fsc_of_a_particle_inside_a_soft_mask_is_the_fsc_of_less_noise():
    # A compact particle, white noise everywhere, a soft ball around the particle: masking only
    # removes noise power (× mean mask²), so the per-shell SNR grows by 1 / mean(mask²).
    from recovar_jl.core.mask import soften_volume_mask

    rng = np.random.default_rng(8)
    signal = gaussian_atom_phantom(N)
    signal /= signal.std()
    h1, h2 = [signal + rng.standard_normal((N,) * 3).astype(np.float32) for _ in range(2)]
    mask = soften_volume_mask(_ball(17) > 0.5, 3)
    result = masked_fsc(h1, h2, mask, rng)
    # Where the unmasked FSC is small its noise, amplified, dominates the prediction: compare above 0.3.
    shells = np.flatnonzero(result.unmasked > 0.3)[1:]
    assert shells.size > 8
    snr = result.unmasked[shells] / (1 - result.unmasked[shells]) / np.mean(mask ** 2)
    np.testing.assert_allclose(result.corrected[shells], snr / (1 + snr), atol=0.05)


def test_masked_fsc_with_a_mask_of_ones_is_the_unmasked_fsc():
    rng = np.random.default_rng(2)
    h1, h2 = _noisy_halves(rng)
    result = masked_fsc(h1, h2, np.ones((N,) * 3, np.float32), rng)
    np.testing.assert_allclose(result.masked, result.unmasked, atol=1e-6)
    # Phase-randomised maps share no phases beyond the start: their FSC is noise around 0.
    assert np.abs(result.randomised[result.randomised_from + 2:]).max() < 0.1


def test_masked_fsc_is_left_uncorrected_when_the_fsc_never_drops_below_0_8():
    rng = np.random.default_rng(3)
    vol = rng.standard_normal((16,) * 3).astype(np.float32)
    result = masked_fsc(vol, vol + 0.01 * rng.standard_normal(vol.shape).astype(np.float32),
                        _ball(5, 16), rng)
    assert result.randomised_from is None
    np.testing.assert_array_equal(result.corrected, result.masked)


def test_check_mask_refuses_wrong_shape_range_and_empty_masks():
    check_mask(np.full((8,) * 3, 0.5, np.float32), 8, "m")
    with pytest.raises(JobError, match="box is 16"):
        check_mask(np.ones((8,) * 3, np.float32), 16, "m")
    with pytest.raises(JobError, match=r"\[0, 1\]"):
        check_mask(np.full((8,) * 3, 2.0, np.float32), 8, "m")
    with pytest.raises(JobError, match="empty"):
        check_mask(np.zeros((8,) * 3, np.float32), 8, "m")


# ---- sharpening ----------------------------------------------------------------------------
def test_fsc_weights_are_rosenthal_and_henderson():
    np.testing.assert_allclose(fsc_weights([1.0, 0.5, 0.143, 0.0, -0.2]),
                               [1.0, np.sqrt(2 / 3), np.sqrt(0.286 / 1.143), 0.0, 0.0])


@pytest.mark.parametrize("blur", [60.0, 150.0, 300.0])
def test_auto_bfactor_recovers_a_known_blur(blur):
    # White noise has a flat Guinier plot; blurred by exp(−B s²/4) its slope is −B/4 and the
    # fitted (sharpening) B-factor is −B. FSC = 1: no weighting, low-pass at Nyquist.
    voxel = 2.0
    rng = np.random.default_rng(4)
    flat = rng.standard_normal((N,) * 3).astype(np.float32)
    blurred = _filtered(flat, lambda r: np.exp(-blur / 4 * (r / (N * voxel)) ** 2))
    result = sharpen(blurred, voxel, np.ones(N // 2 + 1), None, "auto")
    assert result.fitted and result.bfactor == pytest.approx(-blur, abs=0.05 * blur + 5)
    # Sharpening undoes the blur: inside the Nyquist sphere the map is the flat one again.
    inside = _radius() < N // 2 - 2
    restored = np.fft.fftn(result.map)[inside]
    assert np.corrcoef(np.abs(restored), np.abs(np.fft.fftn(flat)[inside]))[0, 1] > 0.99
    s2, ln_f = guinier(result.map, voxel)
    slope = np.polyfit(s2[5:N // 2 - 3], ln_f[5:N // 2 - 3], 1)[0]
    assert abs(4 * slope) < 0.1 * blur + 5


def test_a_given_bfactor_multiplies_the_spectrum_by_exp_minus_b_s2_over_4_and_low_pass_cuts_at_the_resolution():
    voxel = 2.0
    rng = np.random.default_rng(5)
    vol = rng.standard_normal((N,) * 3).astype(np.float32)
    resolution = 1.0 / (12.0 / (N * voxel))          # shell 12
    result = sharpen(vol, voxel, np.ones(N // 2 + 1), 1.0 / resolution, -80.0)
    assert not result.fitted and result.bfactor == -80.0
    ratio = np.abs(np.fft.fftn(result.map)) / np.abs(np.fft.fftn(vol))
    r = _radius()
    shell8 = np.abs(r - 8) < 0.3
    np.testing.assert_allclose(ratio[shell8], np.exp(80 / 4 * (r[shell8] / (N * voxel)) ** 2), rtol=1e-3)
    assert ratio[r > 13.01].max() < 1e-4 and ratio[np.abs(r - 12) < 0.01].min() == pytest.approx(
        0.5 * np.exp(80 / 4 * (12 / (N * voxel)) ** 2), rel=1e-3)


def test_fsc_weighting_scales_each_shell_by_the_weight():
    voxel = 3.0
    rng = np.random.default_rng(6)
    vol = rng.standard_normal((N,) * 3).astype(np.float32)
    curve = np.linspace(1.0, 0.2, N // 2 + 1)
    result = sharpen(vol, voxel, curve, None, 0.0)
    ratio = np.abs(np.fft.fftn(result.map)) / np.abs(np.fft.fftn(vol))
    shells = np.rint(_radius()).astype(int)
    for s in (3, 10, 17):
        np.testing.assert_allclose(ratio[shells == s], fsc_weights(curve)[s], rtol=1e-3)


@pytest.mark.parametrize("text,value", [("auto", "auto"), (" AUTO ", "auto"), ("-80", -80.0), ("120.5", 120.5)])
def test_parse_bfactor_accepts_auto_and_numbers(text, value):
    assert parse_bfactor(text) == value


@pytest.mark.parametrize("text", ["", "sharp", "nan", "inf", "1e6"])
def test_parse_bfactor_refuses_other_values_naming_the_option(text):
    with pytest.raises(ValueError, match="--bfactor"):
        parse_bfactor(text)


# ---- through the command -------------------------------------------------------------------
BOX, VOXEL = 32, 3.0


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("post")
    write_volume(d / "map.mrc", gaussian_atom_phantom(BOX), VOXEL)
    assert main(["simulate", str(d / "map.mrc"), "--n-images", "4000", "--snr", "1", "--out", str(d / "sim"),
                 "--seed", "7", "-q"]) == 0
    return d


def _run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_reconstruct_with_auto_mask_and_auto_bfactor_writes_the_postprocess_outputs(sim, capsys):
    out_dir = sim / "auto"
    # Without the radial filter map.mrc is the plain Wiener map, the sharpening's starting point.
    code, out, err = _run(["reconstruct", sim / "sim" / "particles.star", "--out", out_dir, "--auto-mask",
                           "--bfactor", "auto", "--no-radial-filter", "-q"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "fsc.csv", "fsc.png", "guinier.png", "half1.mrc", "half2.mrc", "map.mrc", "map_sharpened.mrc", "mask.mrc",
        "slices.png"]
    lines = out.splitlines()
    assert lines[0].startswith("FSC=0.143 resolution (masked, corrected by phase randomisation): ")
    assert lines[1].startswith("FSC=0.143 resolution (half maps, unmasked): ")
    assert "sharpened with B-factor" in out and "fitted" in out
    header = (out_dir / "fsc.csv").read_text().splitlines()[0].split(",")
    assert header[3:] == ["fsc_half_maps", "fsc_masked", "fsc_masked_phase_randomised", "fsc_masked_corrected"]
    table = np.loadtxt(out_dir / "fsc.csv", delimiter=",", skiprows=1)
    # A solvent mask removes noise: the corrected masked FSC is at least the unmasked one at low resolution.
    assert np.all(table[1:10, 6] >= table[1:10, 3] - 0.02)
    truth = gaussian_atom_phantom(BOX)
    mask = read_volume(out_dir / "mask.mrc")[0]
    assert 0.02 < np.mean(mask > 0.5) < 0.6 and np.sum(mask * truth) > 0.95 * np.sum(truth)
    sharp, plain = read_volume(out_dir / "map_sharpened.mrc")[0], read_volume(out_dir / "map.mrc")[0]
    # Sharpening rescales shells: it keeps the FSC against the truth up to the low-pass …
    res_shell = int(np.floor(BOX * VOXEL / float(lines[0].split(": ")[1].split(" Å")[0])))
    f_sharp, f_plain = fsc(sharp, truth), fsc(plain, truth)
    assert np.all(f_sharp[1:res_shell] > f_plain[1:res_shell] - 0.03), (f_sharp, f_plain)
    # … and the map correlates with the truth in real space.
    assert np.corrcoef(sharp.ravel(), truth.ravel())[0, 1] > 0.85


def test_reconstruct_with_a_mask_file_and_a_given_bfactor(sim, capsys):
    write_volume(sim / "sphere.mrc", _ball(12, BOX), VOXEL)
    out_dir = sim / "masked"
    code, out, err = _run(["reconstruct", sim / "sim" / "particles.star", "--out", out_dir, "--mask",
                           sim / "sphere.mrc", "--bfactor", "-80", "-q"], capsys)
    assert code == 0, err
    assert "mask.mrc" not in [p.name for p in out_dir.iterdir()]
    assert "sharpened with B-factor -80.0 Å² (given)" in out


@pytest.mark.parametrize("args,fragment", [
    (["--sym", "C0"], "--sym"),
    (["--bfactor", "sharp"], "--bfactor"),
    (["--mask", "m.mrc", "--auto-mask"], "not allowed with"),
])
def test_bad_postprocess_option_values_are_refused_by_the_parser(tmp_path, capsys, args, fragment):
    with pytest.raises(SystemExit) as info:
        main(["reconstruct", str(tmp_path / "p.star"), "--out", str(tmp_path / "o")] + args)
    assert info.value.code == 2
    assert fragment in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("mask,fragment", [(None, "no such file"), (np.ones((16,) * 3, np.float32), "box is 32"),
                                           (np.full((BOX,) * 3, 3.0, np.float32), "[0, 1]")])
def test_bad_masks_fail_with_one_line_before_any_output(sim, tmp_path, capsys, mask, fragment):
    if mask is not None:
        write_volume(tmp_path / "mask.mrc", mask, VOXEL)
    code, _, err = _run(["reconstruct", sim / "sim" / "particles.star", "--out", tmp_path / "o", "--mask",
                         tmp_path / "mask.mrc"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err, err
    assert not (tmp_path / "o").exists()


def test_reconstruct_with_sym_reports_the_group(sim, capsys):
    code, out, err = _run(["reconstruct", sim / "sim" / "particles.star", "--out", sim / "sym", "--sym", "d2"],
                          capsys)
    assert code == 0, err
    assert "symmetry D2 (4 operators)" in out


def test_auto_bfactor_without_enough_shells_applies_none_and_says_why():
    # 8 Å voxels: Nyquist is 16 Å, so nothing lies between 10 Å and the resolution.
    vol = np.random.default_rng(9).standard_normal((16,) * 3).astype(np.float32)
    result = sharpen(vol, 8.0, np.ones(9), None, "auto")
    assert not result.fitted and result.bfactor == 0.0 and "--bfactor -80" in result.note


def test_auto_mask_of_empty_half_maps_is_none():
    from recovar_jl.jobs.postprocess import auto_mask

    assert auto_mask(np.zeros((16,) * 3, np.float32), np.zeros((16,) * 3, np.float32)) is None


def test_a_mask_with_another_voxel_size_is_used_with_a_warning(tmp_path):
    from recovar_jl.jobs.postprocess import read_mask

    write_volume(tmp_path / "m.mrc", _ball(5, 16), 2.0)
    mask, note = read_mask(tmp_path / "m.mrc", 16, 3.0)
    assert mask.shape == (16,) * 3 and "2 Å voxels" in note
    assert read_mask(tmp_path / "m.mrc", 16, 2.0)[1] is None
