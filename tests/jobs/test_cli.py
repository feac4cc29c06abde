"""The recovar-jl command: help, simulate → reconstruct, demo, and bad input (exit code 2)."""
import subprocess
import sys
from pathlib import Path

import mrcfile
import numpy as np
import pytest

import recovar_jl.jobs.commands  # noqa: F401  (imports matplotlib before Julia starts; see jobs/plots.py)
from recovar_jl.cli import main
from recovar_jl.jobs.mrc import StackWriter, write_volume
from recovar_jl.jobs.phantom import gaussian_atom_phantom
from recovar_jl.jobs.star import read_particles, write_star

ROOT = Path(__file__).resolve().parents[2]


def _run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _fails(args, capsys, *fragments):
    code, out, err = _run(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _leftovers(directory):
    return sorted(p.name for p in Path(directory).iterdir()) if Path(directory).exists() else []


# ---- help -----------------------------------------------------------------------------------
def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "simulate", "reconstruct", "info"):
        assert command in out


@pytest.mark.parametrize("command,options", [
    ("simulate", ["--n-images", "--snr", "--out", "--defocus-range", "--max-shift", "--seed", "--disc", "SNR ="]),
    ("reconstruct", ["--out", "--disc", "--pad", "--halves", "--no-halves", "fsc.png", "0.143"]),
    ("demo", ["--out", "--n-images", "--box", "slices.png", "ground truth"]),
])
def test_each_command_has_help_explaining_its_options(capsys, command, options):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for option in options:
        assert option in out, option


def test_console_script_and_module_entry_points_run(tmp_path):
    script = ROOT / ".venv" / "bin" / "recovar-jl"
    if script.exists():
        done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "reconstruct" in done.stdout
    done = subprocess.run([sys.executable, "-m", "recovar_jl", "reconstruct", str(tmp_path / "none.star"),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "no such file" in done.stderr
    assert not (tmp_path / "o").exists()


# ---- simulate → reconstruct -----------------------------------------------------------------
@pytest.fixture(scope="module")
def small_sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    write_volume(d / "map.mrc", gaussian_atom_phantom(16), 5.0)
    code = main(["simulate", str(d / "map.mrc"), "--n-images", "300", "--snr", "2", "--out", str(d / "sim"),
                 "--max-shift", "1.5", "--seed", "4", "-q"])
    assert code == 0
    return d


def test_simulate_writes_stack_star_and_ground_truth(small_sim):
    sim = small_sim / "sim"
    assert _leftovers(sim) == ["ground_truth.mrc", "particles.mrcs", "particles.star"]
    with mrcfile.open(sim / "particles.mrcs") as mrc:
        assert mrc.data.shape == (300, 16, 16) and mrc.voxel_size.x == pytest.approx(5.0)
    ps = read_particles(sim / "particles.star")
    assert len(ps) == 300 and ps.box == 16 and ps.voxel_size == pytest.approx(5.0)
    assert np.abs(ps.translations).max() <= 1.5
    assert np.all((ps.ctf_params[:, 0] >= 8000) & (ps.ctf_params[:, 1] <= 25000))


def test_reconstruct_writes_maps_fsc_and_pictures_and_prints_resolution(small_sim, capsys):
    out_dir = small_sim / "rec"
    code, out, _ = _run(["reconstruct", small_sim / "sim" / "particles.star", "--out", out_dir, "-q"], capsys)
    assert code == 0
    assert "FSC=0.143 resolution (half maps):" in out and "Å" in out
    assert _leftovers(out_dir) == ["fsc.csv", "fsc.png", "half1.mrc", "half2.mrc", "map.mrc", "slices.png"]
    with mrcfile.open(out_dir / "map.mrc") as mrc:
        assert mrc.data.shape == (16, 16, 16) and mrc.voxel_size.x == pytest.approx(5.0)
    header = (out_dir / "fsc.csv").read_text().splitlines()[0]
    assert header == "shell,frequency_per_angstrom,resolution_angstrom,fsc_half_maps"
    assert len((out_dir / "fsc.csv").read_text().splitlines()) == 1 + 9


def test_reconstruct_without_halves_writes_only_the_map_and_slices(small_sim, capsys):
    out_dir = small_sim / "rec_nohalves"
    code, _, _ = _run(["reconstruct", small_sim / "sim" / "particles.star", "--out", out_dir, "--no-halves",
                       "--disc", "nearest", "--pad", "1", "-q"], capsys)
    assert code == 0
    assert _leftovers(out_dir) == ["map.mrc", "slices.png"]


def test_demo_runs_end_to_end_and_reports_fsc_against_ground_truth(tmp_path, capsys):
    code, out, _ = _run(["demo", "--out", tmp_path / "demo", "--n-images", "400", "--box", "16", "-q"], capsys)
    assert code == 0
    assert "FSC=0.143 resolution" in out and "FSC vs ground truth at 0.8 × Nyquist" in out
    assert _leftovers(tmp_path / "demo") == ["fsc.csv", "fsc.png", "ground_truth.mrc", "half1.mrc", "half2.mrc",
                                            "map.mrc", "particles.mrcs", "particles.star", "slices.png"]
    assert "fsc_map_vs_ground_truth" in (tmp_path / "demo" / "fsc.csv").read_text().splitlines()[0]


# ---- bad input ------------------------------------------------------------------------------
def test_missing_star_file(tmp_path, capsys):
    _fails(["reconstruct", tmp_path / "none.star", "--out", tmp_path / "o"], capsys, "no such file", "none.star")
    assert not (tmp_path / "o").exists()


def test_non_star_file(tmp_path, capsys):
    (tmp_path / "x.star").write_text("this is\nnot a star file\n")
    _fails(["reconstruct", tmp_path / "x.star", "--out", tmp_path / "o"], capsys, "not a STAR file")


def test_star_without_a_needed_column(small_sim, tmp_path, capsys):
    import starfile
    tables = starfile.read(small_sim / "sim" / "particles.star", always_dict=True)
    tables["particles"] = tables["particles"].drop(columns=["rlnAngleTilt"])
    write_star(tmp_path / "p.star", tables)
    _fails(["reconstruct", tmp_path / "p.star", "--out", tmp_path / "o"], capsys, "_rlnAngleTilt")


def _two_stack_star(directory, boxes, counts, rows):
    import pandas as pd
    for name, box, n in zip(("a.mrcs", "b.mrcs"), boxes, counts):
        w = StackWriter(directory / name, n, box, 2.0)
        w.write(0, np.zeros((n, box, box), np.float32))
        w.close()
    particles = pd.DataFrame({
        "rlnImageName": rows, "rlnAngleRot": 0.0, "rlnAngleTilt": 0.0, "rlnAnglePsi": 0.0,
        "rlnOriginXAngst": 0.0, "rlnOriginYAngst": 0.0, "rlnDefocusU": 1e4, "rlnDefocusV": 1e4,
        "rlnDefocusAngle": 0.0, "rlnOpticsGroup": 1})
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7],
                           "rlnAmplitudeContrast": [0.1], "rlnImagePixelSize": [2.0]})
    write_star(directory / "p.star", {"optics": optics, "particles": particles})
    return directory / "p.star"


def test_mismatched_box_sizes_between_stacks(tmp_path, capsys):
    star = _two_stack_star(tmp_path, (16, 20), (2, 2), ["1@a.mrcs", "2@b.mrcs"])
    _fails(["reconstruct", star, "--out", tmp_path / "o"], capsys, "b.mrcs", "same box size")
    assert not (tmp_path / "o").exists()


def test_stack_index_out_of_range(tmp_path, capsys):
    star = _two_stack_star(tmp_path, (16, 16), (2, 3), ["1@a.mrcs", "4@b.mrcs"])
    _fails(["reconstruct", star, "--out", tmp_path / "o"], capsys, "image 4", "only 3 images")


def test_failure_midway_leaves_no_output_that_looks_complete(small_sim, tmp_path, capsys):
    # A NaN in the last image is found only after several chunks have been backprojected.
    sim = small_sim / "sim"
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("particles.star", "particles.mrcs"):
        (broken / name).write_bytes((sim / name).read_bytes())
    with mrcfile.open(broken / "particles.mrcs", mode="r+") as mrc:
        mrc.data[-1, 3, 3] = np.nan
    out_dir = tmp_path / "out"
    _fails(["reconstruct", broken / "particles.star", "--out", out_dir, "--chunk", "64", "-q"], capsys, "NaN")
    assert _leftovers(out_dir) == []


def test_simulate_failure_midway_leaves_no_output(tmp_path, capsys, monkeypatch):
    from recovar_jl.jobs import commands, simulate

    write_volume(tmp_path / "map.mrc", gaussian_atom_phantom(16), 5.0)
    real = simulate.simulate_chunks

    def failing(*args, **kwargs):
        for i, item in enumerate(real(*args, **kwargs)):
            if i == 1:
                raise commands.JobError("disk full (simulated); free space and run again")
            yield item

    monkeypatch.setattr(commands, "simulate_chunks", failing)
    _fails(["simulate", tmp_path / "map.mrc", "--n-images", "1200", "--snr", "1", "--out", tmp_path / "s", "-q"],
           capsys, "disk full")
    assert _leftovers(tmp_path / "s") == []


def test_simulate_bad_map_and_arguments(tmp_path, capsys):
    _fails(["simulate", tmp_path / "none.mrc", "--n-images", "10", "--snr", "1", "--out", tmp_path / "s"],
           capsys, "no such file")
    with mrcfile.new(tmp_path / "flat.mrc") as mrc:
        mrc.set_data(np.zeros((4, 16, 16), np.float32))
    _fails(["simulate", tmp_path / "flat.mrc", "--n-images", "10", "--snr", "1", "--out", tmp_path / "s"],
           capsys, "cubic")
    write_volume(tmp_path / "odd.mrc", np.zeros((15, 15, 15), np.float32), 2.0)
    _fails(["simulate", tmp_path / "odd.mrc", "--n-images", "10", "--snr", "1", "--out", tmp_path / "s"],
           capsys, "even box")
    write_volume(tmp_path / "v.mrc", gaussian_atom_phantom(16), 2.0)
    _fails(["simulate", tmp_path / "v.mrc", "--n-images", "10", "--snr", "-1", "--out", tmp_path / "s"],
           capsys, "--snr")
    _fails(["simulate", tmp_path / "v.mrc", "--n-images", "10", "--snr", "1", "--out", tmp_path / "s",
            "--defocus-range", "9000", "100"], capsys, "--defocus-range")
    assert not (tmp_path / "s").exists()
