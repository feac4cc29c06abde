"""Issue #16: the phantom, simulate and the memory checks at bounded memory.

The phantom and the projector were rewritten for memory; the previous formulas are kept here,
verbatim in substance, as references: the new code must give the same arrays up to rounding.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mrcfile
import numpy as np
import pytest

import recovar_jl.jobs.commands  # noqa: F401  (matplotlib before Julia; see jobs/plots.py)
from recovar_jl.cli import main
from recovar_jl.core import fourier_transform_utils as ftu
from recovar_jl.jobs import memory, ops, phantom, simulate
from recovar_jl.jobs.gridding import apodization_3d, crop_slices, disc_type, pad_size
from recovar_jl.jobs.mrc import StackWriter, write_volume
from recovar_jl.jobs.reconstruct import chunk_size_for, estimated_peak_bytes as reconstruct_bytes
from recovar_jl.jobs.simulate import (
    Projector, data_radius, frequency_mask_half, padded_half_spectrum, random_parameters, simulate_chunks,
)

ROOT = Path(__file__).resolve().parents[2]


# ---- reference: the phantom before issue #16 (atoms × window voxels in memory) ---------------
def _reference_atoms(box, atoms_per_voxel=0.02, seed=0):
    rng = np.random.default_rng(seed)
    total = max(40, int(round(atoms_per_voxel * box ** 3)))
    positions, amplitudes = [], []
    for center_frac, radius_frac, share in phantom._DOMAINS:
        center = np.asarray(center_frac) * box
        radius = radius_frac * box
        n = max(10, int(round(share * total)))
        chain = [center + rng.normal(size=3) * 0.3 * radius]
        direction = rng.normal(size=3)
        while len(chain) < n:
            for _attempt in range(50):
                direction = 0.55 * direction / np.linalg.norm(direction) + rng.normal(size=3) / np.sqrt(3)
                step = 1.5 * direction / np.linalg.norm(direction)
                candidate = chain[-1] + step
                if np.linalg.norm(candidate - center) > radius:
                    direction = center - chain[-1] + rng.normal(size=3)
                    continue
                recent = np.asarray(chain[-60:-1]) if len(chain) > 1 else np.empty((0, 3))
                if recent.size and np.min(np.linalg.norm(recent - candidate, axis=1)) < 1.1:
                    continue
                break
            chain.append(candidate)
        positions.append(np.asarray(chain))
        kinds = rng.random(n)
        amplitudes.append(np.select([kinds < 0.02, kinds < 0.20, kinds < 0.40], [2.5, 1.3, 1.15], 1.0))
    return np.concatenate(positions), np.concatenate(amplitudes)


def _reference_phantom(box, atom_sigma=0.8, seed=0):
    positions, amplitudes = _reference_atoms(box, seed=seed)
    reach = int(np.ceil(3.5 * atom_sigma))
    offsets = np.arange(-reach, reach + 1)
    grid = np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), axis=-1).reshape(-1, 3)
    coords = positions + box // 2
    base = np.floor(coords).astype(np.int64)
    vox = base[:, None, :] + grid[None, :, :]
    d2 = np.sum((vox - coords[:, None, :]) ** 2, axis=-1)
    values = amplitudes[:, None] * np.exp(-d2 / (2.0 * atom_sigma ** 2))
    inside = np.all((vox >= 0) & (vox < box), axis=-1)
    flat = np.ravel_multi_index(tuple(vox[inside].T), (box, box, box))
    volume = np.bincount(flat, weights=values[inside], minlength=box ** 3).reshape(box, box, box)
    return (volume / volume.max()).astype(np.float32)


@pytest.mark.parametrize("box,seed", [(8, 0), (16, 0), (24, 3), (32, 0), (48, 1)])
def test_phantom_is_the_previous_phantom_up_to_rounding(box, seed):
    positions, amplitudes = phantom.phantom_atoms(box, seed=seed)
    ref_positions, ref_amplitudes = _reference_atoms(box, seed=seed)
    np.testing.assert_array_equal(amplitudes, ref_amplitudes)
    np.testing.assert_allclose(positions, ref_positions, rtol=0, atol=1e-9)
    volume = phantom.gaussian_atom_phantom(box, seed=seed)
    assert volume.dtype == np.float32 and volume.shape == (box,) * 3 and volume.max() == 1.0
    assert np.abs(volume - _reference_phantom(box, seed=seed)).max() <= 1e-6


def test_phantom_atoms_near_the_edges_are_cut_as_before():
    # Wide atoms at box 8 reach past the faces: the out-of-box voxels are dropped in both.
    new = phantom.gaussian_atom_phantom(8, atom_sigma=1.6)
    assert np.abs(new - _reference_phantom(8, atom_sigma=1.6)).max() <= 1e-6


def test_phantom_memory_is_volume_sized_and_within_its_formula():
    import tracemalloc

    tracemalloc.start()
    try:
        phantom.gaussian_atom_phantom(96)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    atoms = 0.02 * 96 ** 3
    assert peak <= phantom.estimated_peak_bytes(96)
    assert peak < 0.25 * atoms * 343 * 8 * 5   # the previous build held ~5 float64/int64 per atom and window voxel
    assert phantom.estimated_peak_bytes(512) < 2e9


# ---- reference: the projector before issue #16 (full padded spectrum) ----------------------
def _reference_images(volume, voxel, disc, pad, params):
    box = volume.shape[0]
    p, d = pad_size(box, pad), disc_type(disc)
    inner = crop_slices(p, box)
    padded = np.zeros((p, p, p), np.float32)
    padded[inner, inner, inner] = volume
    padded /= apodization_3d(p, d, prefiltered=True).astype(np.float32)
    spectrum = ops.fft_volume(padded).astype(np.complex64)
    vol = ops.cubic_coefficients(spectrum) if d == "cubic" else spectrum
    spectra = ops.slice_half(vol, params.rotations.astype(np.float32), p, d)
    spectra *= ops.ctf_half(params.ctf_params.astype(np.float32), p, voxel)
    spectra = ops.translate_half(spectra, -params.translations.astype(np.float32), p)
    spectra[:, ~frequency_mask_half(p, data_radius(p, d))] = 0
    full = ops.irfft_images(spectra.astype(np.complex64), p)
    return np.ascontiguousarray(full[:, inner, inner], dtype=np.float32)


@pytest.mark.parametrize("disc", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("box,pad", [(16, 2.0), (24, 1.5), (20, 1.0)])
def test_projector_on_the_packed_spectrum_equals_the_full_volume_path(box, pad, disc):
    volume = phantom.gaussian_atom_phantom(box)
    params = random_parameters(40, np.random.default_rng(box))
    new = Projector(volume, 3.0, disc=disc, pad=pad).images(params)
    ref = _reference_images(volume, 3.0, disc, pad, params)
    assert np.linalg.norm(new - ref) <= 1e-5 * np.linalg.norm(ref)


@pytest.mark.parametrize("box,padded", [(12, 24), (10, 10), (16, 18)])
def test_blockwise_half_spectrum_equals_the_3d_real_transform(monkeypatch, box, padded):
    monkeypatch.setattr(simulate, "_BUILD_BYTES", 1)   # one plane, one row per block
    volume = np.random.default_rng(box).standard_normal((box,) * 3).astype(np.float32)
    divisor = 1.0 + 0.1 * np.cos(np.arange(padded))
    full = np.zeros((padded,) * 3, np.float32)
    inner = crop_slices(padded, box)
    full[inner, inner, inner] = volume
    a = divisor[inner]
    full[inner, inner, inner] /= (a[:, None, None] * a[None, :, None] * a[None, None, :]).astype(np.float32)
    expected = ftu.get_dft3_real(full)
    got = padded_half_spectrum(volume, padded, divisor)
    assert got.shape == (padded, padded, padded // 2 + 1) and got.dtype == np.complex64
    assert np.linalg.norm(got - expected) <= 1e-6 * np.linalg.norm(expected)


def test_chunk_size_changes_nothing_and_sigma_comes_from_the_first_500():
    volume = phantom.gaussian_atom_phantom(16)
    params = random_parameters(1100, np.random.default_rng(2))

    def run(chunk):
        chunks = list(simulate_chunks(volume, 4.0, params, 0.7, np.random.default_rng(9), chunk_size=chunk))
        assert [c[0] for c in chunks] == list(range(0, 1100, chunk or simulate.chunk_images(16, 2.0)))
        return np.concatenate([c[1] for c in chunks]), chunks[0][2]

    images, sigma = run(None)
    for chunk in (1, 64, 499, 700):
        other, other_sigma = run(chunk)
        assert other_sigma == pytest.approx(sigma, rel=1e-6)
        np.testing.assert_allclose(other, images, rtol=0, atol=1e-5 * np.abs(images).max())
    clean = Projector(volume, 4.0).images(params.chunk(0, 500))
    assert np.mean(np.var(clean.astype(np.float64), axis=(1, 2))) / sigma ** 2 == pytest.approx(0.7, rel=1e-5)


def test_chunks_are_sized_from_the_box():
    assert simulate.chunk_images(64, 2.0) == 500                 # today's demo: unchanged
    for box in (256, 400, 512, 1024):
        n = simulate.chunk_images(box, 2.0)
        assert 1 <= n < 500
        assert n * simulate._image_bytes(box, pad_size(box, 2.0)) <= simulate.CHUNK_BYTES


def test_simulate_peak_formula_meets_the_targets_whatever_the_particle_count():
    for n in (300, 10 ** 5, 10 ** 6):
        assert simulate.estimated_peak_bytes(400, 2.0, min(n, 10 ** 5)) + memory.RUNTIME_BYTES < 6e9
        assert simulate.estimated_peak_bytes(512, 2.0, min(n, 10 ** 5)) + memory.RUNTIME_BYTES < 10e9
    few, many = (simulate.estimated_peak_bytes(400, 2.0, n) for n in (1000, 2000))
    assert many - few == 600 * 1000   # only the per-particle parameters grow


def test_stack_writer_statistics_match_mrcfile(tmp_path):
    data = np.random.default_rng(0).standard_normal((23, 12, 12)).astype(np.float32) * 3 + 1
    w = StackWriter(tmp_path / "s.mrcs", 23, 12, 1.5)
    for start in (10, 0, 20):   # any order
        stop = {10: 20, 0: 10, 20: 23}[start]
        w.write(start, data[start:stop])
    w.close()
    with mrcfile.open(tmp_path / "s.mrcs") as mrc:
        np.testing.assert_array_equal(mrc.data, data)
        assert mrc.is_image_stack() and mrc.voxel_size.x == pytest.approx(1.5)
        stats = (float(mrc.header.dmin), float(mrc.header.dmax), float(mrc.header.dmean), float(mrc.header.rms))
    assert stats == pytest.approx((data.min(), data.max(), data.mean(dtype=np.float64), data.std(dtype=np.float64)),
                                  rel=1e-6)
    with pytest.raises(ValueError, match="do not fit"):
        StackWriter(tmp_path / "t.mrcs", 2, 12, 1.0).write(1, data[:2])


# ---- memory available and the checks --------------------------------------------------------
def test_available_memory_override_and_parsing(monkeypatch):
    monkeypatch.setenv(memory.ENV_OVERRIDE, "1.5G")
    assert memory.available_bytes() == int(1.5 * 1024 ** 3)
    monkeypatch.setenv(memory.ENV_OVERRIDE, "123456789")
    assert memory.available_bytes() == 123456789
    monkeypatch.setenv(memory.ENV_OVERRIDE, "lots")
    with pytest.raises(memory.JobError, match=memory.ENV_OVERRIDE):
        memory.available_bytes()
    monkeypatch.delenv(memory.ENV_OVERRIDE)
    assert memory.available_bytes() is None or memory.available_bytes() > 0


def test_meminfo_and_cgroup_headroom(tmp_path):
    (tmp_path / "meminfo").write_text("MemTotal: 100 kB\nMemAvailable:   2048 kB\n")
    assert memory._meminfo_available(tmp_path / "meminfo") == 2048 * 1024
    root = tmp_path / "cg"
    (root / "job" / "step").mkdir(parents=True)
    (root / "job" / "memory.max").write_text("1000000\n")
    (root / "job" / "memory.current").write_text("600000\n")
    (root / "job" / "memory.stat").write_text("anon 1\ninactive_file 100000\n")
    (root / "job" / "step" / "memory.max").write_text("max\n")
    (root / "job" / "step" / "memory.current").write_text("5\n")
    (tmp_path / "self").write_text("0::/job/step\n")
    assert memory._cgroup_headroom(root, tmp_path / "self") == 500000
    (tmp_path / "self").write_text("4:memory:/job\n1:cpu:/\n")
    (root / "memory" / "job").mkdir(parents=True)
    (root / "memory" / "job" / "memory.limit_in_bytes").write_text("3000\n")
    (root / "memory" / "job" / "memory.usage_in_bytes").write_text("1000\n")
    (root / "memory" / "memory.limit_in_bytes").write_text(f"{2 ** 63 - 4096}\n")   # v1's "no limit"
    (root / "memory" / "memory.usage_in_bytes").write_text("5\n")
    assert memory._cgroup_headroom(root, tmp_path / "self") == 2000
    assert memory._cgroup_headroom(root, tmp_path / "missing") is None


def test_reconstruct_formula_grows_with_the_padded_volume_and_the_chunk():
    from recovar_jl.jobs.reconstruct import BASE_BYTES

    def beyond_runtime(*args):
        return reconstruct_bytes(*args) - BASE_BYTES

    base = beyond_runtime(256, 2.0, 256, 2)
    assert beyond_runtime(256, 1.0, 256, 2) < base / 4   # P³ terms dominate
    assert beyond_runtime(256, 2.0, 64, 2) < base < beyond_runtime(256, 2.0, 1024, 2)


def _refused(capsys, args, *fragments):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in ("needs about", "GB is available", *fragments):
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_each_job_refuses_up_front_when_memory_is_short(tmp_path, capsys, monkeypatch):
    write_volume(tmp_path / "map.mrc", phantom.gaussian_atom_phantom(16), 4.0)
    assert main(["simulate", str(tmp_path / "map.mrc"), "--n-images", "40", "--snr", "1", "--out",
                 str(tmp_path / "sim"), "-q"]) == 0
    capsys.readouterr()
    monkeypatch.setenv(memory.ENV_OVERRIDE, "100M")
    _refused(capsys, ["simulate", tmp_path / "map.mrc", "--n-images", "40", "--snr", "1", "--out", tmp_path / "s"],
             "simulate at box 16 with --pad 2", "--pad 1 needs")
    _refused(capsys, ["reconstruct", tmp_path / "sim" / "particles.star", "--out", tmp_path / "r"],
             "reconstruct at box 16", "--pad 1 needs",
             f"--chunk {chunk_size_for(16, 2.0) // 4} needs")
    _refused(capsys, ["reconstruct", tmp_path / "sim" / "particles.star", "--out", tmp_path / "r", "--pad", "1"],
             "lower --chunk")
    line = _refused(capsys, ["demo", "--box", "64", "--out", tmp_path / "d"], "demo at --box 64")
    assert "--box (" not in line   # nothing fits in 100 MB: no box to suggest
    for name in ("s", "r", "d"):
        assert not (tmp_path / name).exists()


def test_demo_names_the_largest_box_that_fits(tmp_path, capsys, monkeypatch):
    need_128 = memory.demo_bytes(128, 2.0, 10000) + memory.RUNTIME_BYTES
    monkeypatch.setenv(memory.ENV_OVERRIDE, str(need_128 + 1000))
    line = _refused(capsys, ["demo", "--box", "256", "--out", tmp_path / "d"], "--pad 1 needs")
    largest = int(line.split("--box (")[1].split()[0])
    assert 128 <= largest < 140 and largest % 2 == 0
    assert not (tmp_path / "d").exists()


# ---- measured: the peak does not grow with the particle count -------------------------------
_CHILD = textwrap.dedent("""
    import json, resource, sys, tracemalloc
    import recovar_jl.jobs.commands as commands
    from recovar_jl.jobs.phantom import gaussian_atom_phantom
    n, out = int(sys.argv[1]), sys.argv[2]
    volume = gaussian_atom_phantom(48)
    commands.simulate_job(volume, 3.0, out + "/warm", 20, 1.0, quiet=True)   # Julia and plans warm
    tracemalloc.start()
    commands.simulate_job(volume, 3.0, out + "/sim", n, 1.0, chunk_size=50, quiet=True)
    peak = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"traced": peak, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
""")


def _simulate_peak(tmp_path, n):
    done = subprocess.run([sys.executable, "-c", _CHILD, str(n), str(tmp_path / f"n{n}")], capture_output=True,
                          text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_simulate_peak_memory_does_not_grow_with_the_particle_count(tmp_path):
    few, many = _simulate_peak(tmp_path, 600), _simulate_peak(tmp_path, 3600)
    # 3000 more particles: their parameters and STAR rows (< 1 kB each), not their images (9 kB each).
    assert many["traced"] - few["traced"] < 3000 * 1000
    assert many["rss"] - few["rss"] < 40e6
    with mrcfile.mmap(tmp_path / "n3600" / "sim" / "particles.mrcs") as mrc:
        assert mrc.data.shape == (3600, 48, 48)


def test_refusal_comes_before_julia_is_loaded(tmp_path):
    code = ("import sys; from recovar_jl.cli import main; rc = main(['demo', '--box', '96', '--out', sys.argv[1]]); "
            "print(rc, 'libjulia' in open('/proc/self/maps').read())")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "d")], capture_output=True, text=True,
                          timeout=300, env={**os.environ, memory.ENV_OVERRIDE: "50M"})
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "needs about" in done.stderr
    assert not (tmp_path / "d").exists()
