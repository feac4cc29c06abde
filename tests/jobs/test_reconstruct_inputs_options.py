"""Round trips simulate → reconstruct for each reconstruct option and input format, and the
findings of a new user's trial (one-line errors, warnings, stale outputs)."""
import shutil
import subprocess
import sys
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile

import recovar_jl.jobs.commands  # noqa: F401  (imports matplotlib before Julia starts; see jobs/plots.py)
from recovar_jl.cli import main
from recovar_jl.jobs import ops
from recovar_jl.jobs.cryosparc import particles_array, rotvec_to_rotation, write_cs
from recovar_jl.jobs.fsc import fsc
from recovar_jl.jobs.mrc import read_volume, write_volume
from recovar_jl.jobs.phantom import gaussian_atom_phantom
from recovar_jl.jobs.star import read_particles, relion_euler_to_rotation, write_star

BOX, APIX, N = 32, 4.0, 2000


def _run(args, capsys):
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _fails(args, capsys, *fragments):
    code, _, err = _run(args, capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _map(directory):
    return read_volume(Path(directory) / "map.mrc")[0]


def _corr(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _copy_dataset(src, dst, star_tables=None, images=None):
    dst.mkdir()
    if star_tables is None:
        shutil.copy(src / "particles.star", dst / "particles.star")
    else:
        write_star(dst / "particles.star", star_tables)
    if images is None:
        shutil.copy(src / "particles.mrcs", dst / "particles.mrcs")
    else:
        with mrcfile.new(dst / "particles.mrcs") as mrc:
            mrc.set_data(np.ascontiguousarray(images, dtype=np.float32))
            mrc.set_image_stack()
            mrc.voxel_size = APIX
    return dst / "particles.star"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("options")
    truth = gaussian_atom_phantom(BOX)
    write_volume(d / "truth.mrc", truth, APIX)
    assert main(["simulate", str(d / "truth.mrc"), "--n-images", str(N), "--snr", "2", "--out", str(d / "sim"),
                 "--seed", "3", "-q"]) == 0
    assert main(["reconstruct", str(d / "sim" / "particles.star"), "--out", str(d / "default"), "-q"]) == 0
    return d, truth


def _reconstruct(sim, capsys, name, *options, star=None):
    d, truth = sim
    code, out, err = _run(["reconstruct", star or d / "sim" / "particles.star", "--out", d / name, "-q",
                           *options], capsys)
    assert code == 0, err
    return _map(d / name), out, err


# ---- CTF options ----------------------------------------------------------------------------
def test_default_reconstruction_matches_the_truth_and_warns_about_nothing(sim, capsys):
    d, truth = sim
    assert _corr(_map(d / "default"), truth) > 0.95


@pytest.mark.parametrize("option,min_corr", [("--ctf-phase-flip", 0.8), ("--ctf-intact-first-peak", 0.8),
                                             ("--no-ctf", 0.3)])
def test_ctf_options_round_trip(sim, capsys, option, min_corr):
    d, truth = sim
    volume, out, err = _reconstruct(sim, capsys, option.strip("-"), option)
    assert "warning" not in err
    assert _corr(volume, truth) > min_corr
    if option == "--no-ctf":  # uncorrected CTF: worse at mid resolution than the default
        shells = slice(4, 12)
        assert fsc(volume, truth)[shells].mean() < fsc(_map(d / "default"), truth)[shells].mean() - 0.1


def test_phase_flipped_images_with_ctf_phase_flipped_match_the_default(sim, capsys, tmp_path):
    d, truth = sim
    ps = read_particles(d / "sim" / "particles.star")
    with mrcfile.open(d / "sim" / "particles.mrcs") as mrc:
        images = np.array(mrc.data)
    spectra = ops.rfft_images(images)
    spectra *= np.sign(ops.ctf_half(ps.ctf_params.astype(np.float32), BOX, APIX))
    flipped = ops.irfft_images(spectra.astype(np.complex64), BOX)
    star = _copy_dataset(d / "sim", tmp_path / "flipped", images=flipped)
    volume, _, err = _reconstruct(sim, capsys, "flipped_rec", "--ctf-phase-flipped", star=star)
    assert "warning" not in err
    assert _corr(volume, truth) > 0.95
    shells = slice(1, 13)
    assert fsc(volume, truth)[shells].mean() > fsc(_map(d / "default"), truth)[shells].mean() - 0.05


def test_inverted_stack_warns_and_invert_contrast_restores_the_map(sim, capsys, tmp_path):
    d, truth = sim
    with mrcfile.open(d / "sim" / "particles.mrcs") as mrc:
        images = -np.array(mrc.data)
    star = _copy_dataset(d / "sim", tmp_path / "inverted", images=images)
    volume, _, err = _reconstruct(sim, capsys, "inverted_rec", star=star)
    assert _corr(volume, truth) < -0.9
    assert "warning" in err and "--invert-contrast" in err
    volume, _, err = _reconstruct(sim, capsys, "inverted_fixed", "--invert-contrast", star=star)
    assert "warning" not in err
    np.testing.assert_allclose(volume, _map(d / "default"), atol=1e-4 * np.abs(volume).max())


def test_negative_defocus_warns_about_overfocus_and_the_inverted_map(sim, capsys, tmp_path):
    d, _ = sim
    tables = starfile.read(d / "sim" / "particles.star", always_dict=True)
    for column in ("rlnDefocusU", "rlnDefocusV"):
        tables["particles"][column] *= -1
    star = _copy_dataset(d / "sim", tmp_path / "negative", star_tables=tables)
    _, out, err = _reconstruct(sim, capsys, "negative_rec", star=star)
    assert f"{N} of {N} particles have negative defocus" in err and "overfocus" in err
    assert "looks inverted" in err
    line = next(x for x in out.splitlines() if x.startswith("FSC=0.143"))
    assert line.count("Nyquist") == 1, line


def test_maxres_stops_backprojection_at_that_resolution(sim, capsys):
    d, truth = sim
    volume, out, _ = _reconstruct(sim, capsys, "maxres", "--maxres", "16")
    power = np.abs(np.fft.fftshift(np.fft.fftn(volume))) ** 2
    k = np.arange(BOX) - BOX // 2
    r = np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2) / (BOX * APIX)
    beyond = power[r > 1 / 16 + 2 / (BOX * APIX)].sum() / power.sum()
    default = np.abs(np.fft.fftshift(np.fft.fftn(_map(d / "default")))) ** 2
    assert beyond < 0.05 * default[r > 1 / 16 + 2 / (BOX * APIX)].sum() / default.sum()
    assert fsc(volume, truth)[2:6].mean() > 0.95  # what it keeps is unharmed


# ---- halves ---------------------------------------------------------------------------------
def test_subset_reconstructs_one_half_only(sim, capsys, tmp_path):
    d, truth = sim
    tables = starfile.read(d / "sim" / "particles.star", always_dict=True)
    tables["particles"]["rlnRandomSubset"] = np.arange(N) % 2 + 1
    star = _copy_dataset(d / "sim", tmp_path / "halves", star_tables=tables)
    code, out, err = _run(["reconstruct", star, "--out", tmp_path / "s1", "--subset", "1"], capsys)
    assert code == 0, err
    assert f"subset 1: {N // 2} of {N} particles" in out
    assert _corr(_map(tmp_path / "s1"), truth) > 0.9
    _fails(["reconstruct", d / "sim" / "particles.star", "--out", tmp_path / "s2", "--subset", "2"], capsys,
           "--subset 2 needs half-set labels")
    _fails(["reconstruct", star, "--out", tmp_path / "s3", "--subset", "3"], capsys, "must be 1 or 2")


@pytest.mark.parametrize("values,fragment", [
    (lambda n: np.ones(n), "every particle in half set 1"),
    (lambda n: np.where(np.arange(n) == 7, 3, np.arange(n) % 2 + 1), "particle 8 has 3"),
    (lambda n: np.where(np.arange(n) == 4, np.nan, np.arange(n) % 2 + 1), "particle 5 has nan"),
])
def test_random_subset_that_is_not_one_and_two_is_refused(sim, capsys, tmp_path, values, fragment):
    d, _ = sim
    tables = starfile.read(d / "sim" / "particles.star", always_dict=True)
    tables["particles"]["rlnRandomSubset"] = values(N)
    star = _copy_dataset(d / "sim", tmp_path / "bad", star_tables=tables)
    line = _fails(["reconstruct", star, "--out", tmp_path / "o", "-q"], capsys, "_rlnRandomSubset", fragment)
    assert "np.float64" not in line


def test_no_halves_into_an_old_output_folder_removes_stale_half_maps(sim, capsys, tmp_path):
    d, _ = sim
    out_dir = tmp_path / "rec"
    shutil.copytree(d / "default", out_dir)
    assert (out_dir / "half1.mrc").exists()
    code, _, _ = _run(["reconstruct", d / "sim" / "particles.star", "--out", out_dir, "--no-halves", "-q"], capsys)
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["map.mrc", "slices.png"]


# ---- cryoSPARC input ------------------------------------------------------------------------
def test_cryosparc_rotation_vector_is_relion_rot_about_z():
    theta = np.deg2rad(30.0)
    np.testing.assert_allclose(rotvec_to_rotation([[0.0, 0.0, theta]]), relion_euler_to_rotation([30.0, 0.0, 0.0]),
                               atol=1e-12)
    rng = np.random.default_rng(0)
    angles = rng.uniform([-180, 0, -180], [180, 180, 180], (20, 3))
    from recovar_jl.jobs.cryosparc import rotation_to_rotvec
    R = relion_euler_to_rotation(angles)
    np.testing.assert_allclose(rotvec_to_rotation(rotation_to_rotvec(R)), R, atol=1e-12)


def test_cs_file_of_the_same_particles_gives_the_same_map_as_the_star_file(sim, capsys, tmp_path):
    d, _ = sim
    ps = read_particles(d / "sim" / "particles.star")
    project = tmp_path / "project"
    (project / "J7" / "extract").mkdir(parents=True)
    (project / "J9").mkdir()
    shutil.copy(d / "sim" / "particles.mrcs", project / "J7" / "extract" / "particles.mrc")
    table = particles_array(["J7/extract/particles.mrc"] * N, ps.image_indices, ps.rotations, ps.translations,
                            ps.ctf_params, APIX, BOX)
    table["alignments3D/split"] = np.arange(N) % 2
    write_cs(project / "J9" / "particles.cs", table)
    from recovar_jl.jobs.cryosparc import read_cs
    ps_cs = read_cs(project / "J9" / "particles.cs")
    assert ps_cs.box == BOX and ps_cs.voxel_size == APIX and ps_cs.pixel_sizes is None
    np.testing.assert_array_equal(ps_cs.random_subset, np.arange(N) % 2 + 1)
    np.testing.assert_allclose(ps_cs.rotations, ps.rotations, atol=1e-6)
    np.testing.assert_allclose(ps_cs.translations, ps.translations, atol=1e-5)
    np.testing.assert_allclose(ps_cs.ctf_params, ps.ctf_params, rtol=1e-6, atol=1e-6)
    # Found through the job folder's parent without --project-dir; the split gives the halves.
    code, out, err = _run(["reconstruct", project / "J9" / "particles.cs", "--out", tmp_path / "cs", "-q"], capsys)
    assert code == 0, err
    tables = starfile.read(d / "sim" / "particles.star", always_dict=True)
    tables["particles"]["rlnRandomSubset"] = np.arange(N) % 2 + 1
    star = _copy_dataset(d / "sim", tmp_path / "star", star_tables=tables)
    assert _run(["reconstruct", star, "--out", tmp_path / "st", "-q"], capsys)[0] == 0
    star_map = _map(tmp_path / "st")
    np.testing.assert_allclose(_map(tmp_path / "cs"), star_map, atol=2e-5 * np.abs(star_map).max())
    # --project-dir decides where blob/path points.
    shutil.move(str(project / "J9" / "particles.cs"), tmp_path / "elsewhere.cs")
    _fails(["reconstruct", tmp_path / "elsewhere.cs", "--out", tmp_path / "x"], capsys, "--project-dir")
    code, _, err = _run(["reconstruct", tmp_path / "elsewhere.cs", "--out", tmp_path / "pd", "--project-dir", project,
                         "-q"], capsys)
    assert code == 0, err


def test_bad_cs_files_get_one_line_errors(tmp_path, capsys):
    np.save(tmp_path / "plain.npy", np.zeros(3))
    shutil.move(tmp_path / "plain.npy", tmp_path / "plain.cs")
    _fails(["reconstruct", tmp_path / "plain.cs", "--out", tmp_path / "o"], capsys, "not a cryoSPARC .cs file")
    table = particles_array(["a.mrc"] * 2, [0, 1], np.stack([np.eye(3)] * 2), np.zeros((2, 2)),
                            np.tile([1e4, 1e4, 0, 300, 2.7, 0.1, 0, 0, 1.0], (2, 1)), 2.0, 16)
    write_cs(tmp_path / "nopose.cs", table[[n for n in table.dtype.names if n != "alignments3D/pose"]])
    _fails(["reconstruct", tmp_path / "nopose.cs", "--out", tmp_path / "o"], capsys, "alignments3D/pose")
    (tmp_path / "garbage.cs").write_bytes(b"not numpy")
    _fails(["reconstruct", tmp_path / "garbage.cs", "--out", tmp_path / "o"], capsys, "could not be read")
    assert not (tmp_path / "o").exists()


# ---- RELION optics groups and pixel sizes ---------------------------------------------------
def _fourier_pad_volume(volume, new_box):
    box = volume.shape[0]
    f = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(volume)))
    out = np.zeros((new_box,) * 3, complex)
    k = (box - 1) // 2
    s, t = slice(box // 2 - k, box // 2 + k + 1), slice(new_box // 2 - k, new_box // 2 + k + 1)
    out[t, t, t] = f[s, s, s]
    return (np.real(np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(out)))) * (new_box / box) ** 3).astype(np.float32)


def test_two_optics_groups_with_different_pixel_sizes_reconstruct_as_well_as_one(sim, capsys, tmp_path):
    d, truth = sim
    # Group 2: the same molecule at 8/3 Å/pixel in a box of 48 (same field of view), half the particles.
    fine = _fourier_pad_volume(truth, 48)
    write_volume(tmp_path / "fine.mrc", fine, APIX * BOX / 48)
    assert main(["simulate", str(tmp_path / "fine.mrc"), "--n-images", str(N // 2), "--snr", "2",
                 "--out", str(tmp_path / "g2"), "--seed", "5", "-q"]) == 0
    one = starfile.read(d / "sim" / "particles.star", always_dict=True)
    two = starfile.read(tmp_path / "g2" / "particles.star", always_dict=True)
    optics = pd.concat([one["optics"], two["optics"].assign(rlnOpticsGroup=2, rlnOpticsGroupName="opticsGroup2")])
    p1 = one["particles"].iloc[: N // 2]
    p2 = two["particles"].assign(rlnOpticsGroup=2, rlnImageName=two["particles"]["rlnImageName"].str.replace(
        "particles.mrcs", "g2/particles.mrcs"))
    mixed = tmp_path / "mixed.star"
    shutil.copy(d / "sim" / "particles.mrcs", tmp_path / "particles.mrcs")
    write_star(mixed, {"optics": optics, "particles": pd.concat([p1, p2], ignore_index=True)})
    code, out, err = _run(["reconstruct", mixed, "--out", tmp_path / "mixed_rec"], capsys)
    assert code == 0, err
    assert "optics group 2" in out and "box 48" in out
    volume, voxel = read_volume(tmp_path / "mixed_rec" / "map.mrc")
    assert volume.shape == (BOX,) * 3 and voxel == pytest.approx(APIX)
    shells = slice(1, 14)
    single = fsc(_map(d / "default"), truth)[shells]   # N particles of one group
    assert fsc(volume, truth)[shells].mean() > single.mean() - 0.03


def test_relion30_without_pixel_size_needs_angpix(sim, capsys, tmp_path):
    d, truth = sim
    tables = starfile.read(d / "sim" / "particles.star", always_dict=True)
    merged = tables["particles"].merge(tables["optics"].drop(columns=["rlnImagePixelSize", "rlnImageSize"]),
                                       on="rlnOpticsGroup").drop(columns=["rlnOpticsGroup", "rlnOpticsGroupName"])
    origins = merged[["rlnOriginXAngst", "rlnOriginYAngst"]].to_numpy() / APIX
    merged = merged.drop(columns=["rlnOriginXAngst", "rlnOriginYAngst"]).assign(rlnOriginX=origins[:, 0],
                                                                                rlnOriginY=origins[:, 1])
    star = _copy_dataset(d / "sim", tmp_path / "old", star_tables=merged)
    _fails(["reconstruct", star, "--out", tmp_path / "o"], capsys, "--angpix", "_rlnDetectorPixelSize",
           "_rlnMagnification")
    code, _, err = _run(["reconstruct", star, "--out", tmp_path / "o", "--angpix", str(APIX), "-q"], capsys)
    assert code == 0, err
    np.testing.assert_allclose(_map(tmp_path / "o"), _map(d / "default"), atol=1e-4 * np.abs(_map(d / "default")).max())
    _fails(["reconstruct", d / "sim" / "particles.star", "--out", tmp_path / "o2", "--angpix", "3"], capsys,
           "--angpix is for files without")


# ---- the new user's other findings ----------------------------------------------------------
@pytest.mark.parametrize("command", [["simulate", "m.mrc", "--n-images", "5", "--snr", "1", "--out", "o"],
                                     ["reconstruct", "p.star", "--out", "o"], ["demo"]])
def test_negative_seed_is_a_one_line_error(capsys, command):
    _fails(command + ["--seed", "-5"], capsys, "--seed", "-5")


def test_simulate_of_an_all_zero_map_is_a_one_line_error(tmp_path, capsys):
    write_volume(tmp_path / "zero.mrc", np.zeros((16,) * 3, np.float32), 2.0)
    _fails(["simulate", tmp_path / "zero.mrc", "--n-images", "5", "--snr", "1", "--out", tmp_path / "o"], capsys,
           "all zeros")
    assert not (tmp_path / "o").exists()


def test_option_prefixes_are_not_accepted(sim, capsys, tmp_path, monkeypatch):
    d, _ = sim
    monkeypatch.chdir(tmp_path)
    _fails(["reconstruct", d / "sim" / "particles.star", "--out", "r", "--o", "relmap.mrc"], capsys,
           "--o", "--out DIR")
    _fails(["reconstruct", d / "sim" / "particles.star", "--o", "relmap.mrc"], capsys, "required: --out",
           "--o: recovar-jl writes a directory")
    _fails(["reconstruct", d / "sim" / "particles.star", "--ou", "relmap.mrc"], capsys, "required: --out")
    _fails(["reconstruct", d / "sim" / "particles.star", "--out", "r", "--ctf_intact_first_peak"], capsys,
           "--ctf-intact-first-peak")
    assert list(tmp_path.iterdir()) == []


def test_truncated_stack_says_how_many_images_are_complete(sim, capsys, tmp_path):
    d, _ = sim
    star = _copy_dataset(d / "sim", tmp_path / "cut")
    data = (tmp_path / "cut" / "particles.mrcs").read_bytes()
    (tmp_path / "cut" / "particles.mrcs").write_bytes(data[: 1024 + 4 * BOX * BOX * 700 + 100])
    _fails(["reconstruct", star, "--out", tmp_path / "o"], capsys, f"truncated: 700 of {N} images")


def test_nan_in_a_column_is_printed_as_nan(sim, capsys, tmp_path):
    d, _ = sim
    tables = starfile.read(d / "sim" / "particles.star", always_dict=True)
    tables["particles"].loc[3, "rlnAngleTilt"] = np.nan
    star = _copy_dataset(d / "sim", tmp_path / "nan", star_tables=tables)
    line = _fails(["reconstruct", star, "--out", tmp_path / "o"], capsys, "particle 4", "(nan)")
    assert "np.float64" not in line


def test_version_and_info_exit_codes(tmp_path):
    done = subprocess.run([sys.executable, "-m", "recovar_jl", "--version"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("recovar-jl ")
    env = {**__import__("os").environ, "RECOVAR_JL_JULIA": str(tmp_path / "no-julia")}
    done = subprocess.run([sys.executable, "-m", "recovar_jl", "info"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 1 and "not usable" in done.stdout


def test_a_coarser_optics_group_adds_nothing_beyond_its_own_nyquist(sim, capsys, tmp_path):
    # Group 2 at 8 Å/pixel (box 16) is Fourier-padded to 4 Å: it must not dilute the shells
    # beyond its Nyquist frequency (1/16 Å⁻¹, shell 8) with weight but no data.
    d, truth = sim
    coarse = truth.reshape(16, 2, 16, 2, 16, 2).mean(axis=(1, 3, 5))
    write_volume(tmp_path / "coarse.mrc", coarse, 2 * APIX)
    assert main(["simulate", str(tmp_path / "coarse.mrc"), "--n-images", str(N // 2), "--snr", "2",
                 "--out", str(tmp_path / "g2"), "--seed", "6", "--max-shift", "1", "-q"]) == 0
    one = starfile.read(d / "sim" / "particles.star", always_dict=True)
    two = starfile.read(tmp_path / "g2" / "particles.star", always_dict=True)
    shutil.copy(d / "sim" / "particles.mrcs", tmp_path / "particles.mrcs")
    p1 = one["particles"].iloc[: N // 2]
    write_star(tmp_path / "first.star", {"optics": one["optics"], "particles": p1})
    optics = pd.concat([one["optics"], two["optics"].assign(rlnOpticsGroup=2, rlnOpticsGroupName="coarse")])
    p2 = two["particles"].assign(rlnOpticsGroup=2, rlnImageName=two["particles"]["rlnImageName"].str.replace(
        "particles.mrcs", "g2/particles.mrcs"))
    write_star(tmp_path / "mixed.star", {"optics": optics, "particles": pd.concat([p1, p2], ignore_index=True)})
    for name in ("first", "mixed"):
        code, _, err = _run(["reconstruct", tmp_path / f"{name}.star", "--out", tmp_path / name, "-q"], capsys)
        assert code == 0, err
    alone, mixed = _map(tmp_path / "first"), _map(tmp_path / "mixed")
    assert fsc(mixed, truth)[9:14].mean() > fsc(alone, truth)[9:14].mean() - 0.03
    # FSC ignores scale: the amplitude there must not drop either (weight without data would halve it).
    gain_alone, gain_mixed = _shell_gain(alone, truth), _shell_gain(mixed, truth)
    np.testing.assert_allclose(gain_mixed[9:14], gain_alone[9:14], rtol=0.15)


def _shell_gain(volume, truth):
    """Per shell, Re Σ F·conj(T) / Σ |T|²: the map's amplitude relative to the truth's."""
    from recovar_jl.jobs.fsc import shell_index

    f, t = (np.fft.fftshift(np.fft.fftn(v.astype(np.float64))) for v in (volume, truth))
    shells = shell_index(volume.shape[0]).ravel()
    cross = np.bincount(shells, weights=np.real(f * np.conj(t)).ravel())
    return cross / np.bincount(shells, weights=(np.abs(t) ** 2).ravel())


def test_each_optics_group_gives_its_particles_voltage_cs_and_amplitude_contrast(tmp_path):
    optics = pd.DataFrame({"rlnOpticsGroup": [1, 2], "rlnVoltage": [300.0, 200.0],
                           "rlnSphericalAberration": [2.7, 0.01], "rlnAmplitudeContrast": [0.1, 0.07],
                           "rlnImagePixelSize": [1.0, 1.0], "rlnImageSize": [64, 64]})
    particles = pd.DataFrame({"rlnImageName": ["1@a.mrcs", "1@b.mrcs", "2@a.mrcs"], "rlnAngleRot": 0.0,
                              "rlnAngleTilt": 0.0, "rlnAnglePsi": 0.0, "rlnDefocusU": 1e4, "rlnDefocusV": 1e4,
                              "rlnDefocusAngle": 0.0, "rlnOpticsGroup": [2, 1, 2]})
    write_star(tmp_path / "p.star", {"optics": optics, "particles": particles})
    ps = read_particles(tmp_path / "p.star")
    np.testing.assert_array_equal(ps.ctf_params[:, 3:6], [[200, 0.01, 0.07], [300, 2.7, 0.1], [200, 0.01, 0.07]])
    assert ps.pixel_sizes is None and ps.reference_row == 1  # group 1 is listed first
