"""Simulation and reconstruction of recovar_jl.jobs on recovar_jl.core (Julia kernels)."""
import numpy as np
import pytest

from recovar_jl.jobs import ops
from recovar_jl.jobs.commands import reconstruct_job, simulate_job
from recovar_jl.jobs.fsc import fsc
from recovar_jl.jobs.gridding import apodization_3d
from recovar_jl.jobs.mrc import read_volume
from recovar_jl.jobs.phantom import gaussian_atom_phantom
from recovar_jl.jobs.reconstruct import Backprojector, reconstruct_arrays, split_halves
from recovar_jl.jobs.simulate import (
    Projector, ParticleParameters, random_parameters, random_rotations, simulate_chunks,
)
from recovar_jl.jobs.star import read_particles, write_star


# ---- building blocks against their definitions ----------------------------------------------
def _blob_spectrum_half(rotations, padded_box, blobs, sigma):
    """Exact continuous spectrum of Gaussian blobs (positions in voxels from the origin, x y z),
    sampled at the half-grid pixels of P×P central slices (q = (kx, ky, 0) @ R, cycles/voxel q/P)."""
    p = padded_box
    ky = np.arange(p) - p // 2
    kx = np.arange(p // 2 + 1).astype(float)
    kx[-1] = -(p // 2)
    KX, KY = np.meshgrid(kx, ky)                       # (P, P//2+1): rows ky, columns kx
    k2d = np.stack([KX.ravel(), KY.ravel()], axis=1)   # (npix, 2)
    q = np.einsum("pa,nab->npb", k2d, rotations[:, :2, :]) / p
    out = np.zeros(q.shape[:2], dtype=np.complex128)
    for pos, amp in blobs:
        out += amp * (2 * np.pi * sigma ** 2) ** 1.5 * np.exp(-2 * np.pi ** 2 * sigma ** 2 * np.sum(q * q, -1)) \
            * np.exp(-2j * np.pi * q @ np.asarray(pos, float))
    return out.astype(np.complex64)


@pytest.mark.parametrize("disc,pad", [("linear", 1), ("linear", 2), ("nearest", 2), ("cubic", 2)])
def test_gridding_correction_keeps_blobs_near_the_box_edge_at_full_height(disc, pad):
    # Noise-free, CTF-free exact slices of three blobs: at the centre, 0.34 box out along x,
    # and 0.28 box out along a diagonal. Without the correction the outer blobs would be
    # attenuated by the apodisation (by more than twice the tolerance); with it all peaks stay at 1.
    box, sigma, tol = 32, 1.25, 0.02
    blobs = [((0, 0, 0), 1.0), ((11, 0, 0), 1.0), ((-9, 9, 0), 1.0)]
    bp = Backprojector(box, 2.0, disc=disc, pad=pad)
    rng = np.random.default_rng(5)
    R = random_rotations(300, rng)
    spectra = _blob_spectrum_half(R, bp.padded_box, blobs, sigma)
    bp.add_spectra(spectra, R, None, split_halves(300, rng))
    rec = bp.reconstruct()
    c = box // 2
    peaks = [rec.full[c + x, c + y, c + z] for (x, y, z), _ in blobs]
    np.testing.assert_allclose(peaks, 1.0, atol=tol)
    apod = apodization_3d(bp.padded_box, disc)
    c = bp.padded_box // 2
    assert all(1 - apod[c + x, c + y, c + z] > 2 * tol for (x, y, z), _ in blobs[1:])


_CTF_ONE = [1.0, 1.0, 0.0, 300.0, 0.0, 1.0, 0.0, 0.0, 1.0]  # W = 1, Cs 0, 1 Å: RELION-sign CTF ≡ 1


def test_projector_with_identity_pose_sums_the_volume_along_z():
    # R = I: the image [y, x] is the sum of the volume [x, y, z] over z, transposed. Cubic
    # (prefiltered, pre-corrected) is near exact; compared within the slicer's disc |k| ≤ box/2 − 1.
    vol = gaussian_atom_phantom(24)
    img = Projector(vol, 3.0, disc="cubic", pad=2).images(
        ParticleParameters(np.eye(3)[None], np.zeros((1, 2)), np.array([_CTF_ONE])))[0]
    expected = vol.sum(axis=2).T
    k = np.fft.fftfreq(24) * 24
    disc = (k[:, None] ** 2 + k[None, :] ** 2) <= 11 ** 2
    low = [np.real(np.fft.ifft2(np.fft.fft2(x) * disc)) for x in (img, expected)]
    assert np.linalg.norm(low[0] - low[1]) / np.linalg.norm(low[1]) < 5e-3


@pytest.mark.parametrize("disc,tol", [("linear", 0.02), ("cubic", 0.01), ("nearest", 0.15)])
def test_projector_at_random_poses_agrees_with_a_finely_oversampled_cubic_projection(disc, tol):
    vol = gaussian_atom_phantom(24)
    R = random_rotations(12, np.random.default_rng(0))
    params = ParticleParameters(R, np.zeros((12, 2)), np.array([_CTF_ONE] * 12))
    reference = Projector(vol, 3.0, disc="cubic", pad=4).images(params)
    images = Projector(vol, 3.0, disc=disc, pad=2).images(params)
    err = np.linalg.norm(images - reference, axis=(1, 2)) / np.linalg.norm(reference, axis=(1, 2))
    assert err.max() < tol


def test_projector_moves_particles_by_minus_the_recentring_translation():
    vol = gaussian_atom_phantom(24)
    proj = Projector(vol, 3.0, disc="linear", pad=2)
    ctf = np.array([_CTF_ONE] * 2)
    params = ParticleParameters(np.stack([np.eye(3)] * 2), np.array([[0.0, 0.0], [2.0, -3.0]]), ctf)
    still, moved = proj.images(params)
    # origin (2, −3) px: the particle sits 2 px left (−x, columns) and 3 px down (+y, rows)
    np.testing.assert_allclose(moved[5:-5, 5:-5], np.roll(still, (3, -2), axis=(0, 1))[5:-5, 5:-5], atol=2e-3)


def test_relion_sign_ctf_is_positive_at_zero_frequency():
    ctf = ops.ctf_half(np.array([[15000.0, 14000.0, 30.0, 300.0, 2.7, 0.1, 0.0, 0.0, 1.0]], np.float32), 16, 2.0)
    dc = 8 * (16 // 2 + 1)          # row ky = 0, packed column kx = 0
    assert ctf[0, dc] == pytest.approx(0.1, abs=1e-6)


def test_simulated_noise_has_the_requested_snr():
    vol = gaussian_atom_phantom(16)
    params = random_parameters(400, np.random.default_rng(0), max_shift=1.0)
    chunks = list(simulate_chunks(vol, 4.0, params, 0.5, np.random.default_rng(1), chunk_size=400))
    _, noisy, sigma = chunks[0]
    clean = Projector(vol, 4.0).images(params)
    assert np.mean(np.var(clean, axis=(1, 2))) / sigma ** 2 == pytest.approx(0.5, rel=1e-4)
    assert np.std(noisy - clean) == pytest.approx(sigma, rel=0.01)


# ---- the quality bar and the file round trip -------------------------------------------------
N_QUALITY = 10000
BOX_QUALITY = 32


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    vol = gaussian_atom_phantom(BOX_QUALITY)
    simulate_job(vol, 4.0, out, N_QUALITY, 1.0, seed=3, quiet=True)
    return out, vol


def test_reconstruction_through_files_meets_the_quality_bar(simulated, tmp_path):
    # SNR 1, 10,000 particles, box 32: FSC against the ground truth ≥ 0.5 up to 0.8 × Nyquist.
    sim_dir, vol = simulated
    result = reconstruct_job(sim_dir / "particles.star", tmp_path, seed=0, quiet=True)
    rec = result["reconstruction"]
    gt = fsc(rec.full, vol)
    last = int(np.floor(0.8 * (BOX_QUALITY // 2)))
    assert np.all(gt[1:last + 1] > 0.5), gt
    assert rec.resolution is None or 1 / rec.resolution < 1 / (0.8 * rec.nyquist)
    written, voxel = read_volume(tmp_path / "map.mrc")
    np.testing.assert_array_equal(written, rec.full)
    assert voxel == pytest.approx(4.0)
    for name in ("half1.mrc", "half2.mrc", "fsc.csv", "fsc.png", "slices.png"):
        assert (tmp_path / name).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_files_and_in_memory_paths_give_the_same_map(simulated, tmp_path):
    # In memory: the first n particles simulated again from the same seed, never written.
    sim_dir, vol = simulated
    n = 1500
    rng = np.random.default_rng(3)
    params = random_parameters(N_QUALITY, rng, max_shift=3.0)
    first = params.chunk(0, n)
    images = np.concatenate([c[1] for c in simulate_chunks(vol, 4.0, first, 1.0, rng, chunk_size=500)])
    halves = split_halves(n, np.random.default_rng(0))
    memory = reconstruct_arrays(images, first.rotations, first.translations, first.ctf_params, 4.0, halves)
    # Through files: simulate_job's stack and STAR rows, cut to the first n particles.
    import starfile
    tables = starfile.read(sim_dir / "particles.star", always_dict=True)
    tables["particles"] = tables["particles"].iloc[:n]
    write_star(sim_dir / "first.star", tables)
    ps = read_particles(sim_dir / "first.star")
    np.testing.assert_allclose(ps.rotations, first.rotations, atol=1e-6)
    np.testing.assert_allclose(ps.translations, first.translations, atol=1e-6)
    files = reconstruct_job(sim_dir / "first.star", tmp_path, seed=0, quiet=True)["reconstruction"]
    assert np.linalg.norm(files.full - memory.full) / np.linalg.norm(memory.full) < 1e-4
    assert np.linalg.norm(files.half1 - memory.half1) / np.linalg.norm(memory.half1) < 1e-4
