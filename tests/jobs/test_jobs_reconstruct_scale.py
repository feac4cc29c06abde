"""The Backprojector at scale: half-grid accumulators, bounded memory, chunking, stage timings."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from recovar_jl.jobs.reconstruct import Backprojector, chunk_size_for, estimated_peak_bytes, reconstruct_arrays

FIXTURE = Path(__file__).parent / "fixtures" / "backprojector_full_grid.npz"


# ---- the half-grid map equals the full-grid map ----------------------------------------------
# The fixture holds 400 simulated box-16 particles (gaussian_atom_phantom(16), 4 Å, SNR 2,
# shifts, astigmatic CTFs) and the maps the full-grid Backprojector (four P³ volumes, commit
# 4c9aa2a) made from them in chunks of 150.
def _half_grid_reconstruction(ref, disc, pad):
    return reconstruct_arrays(ref["images"], ref["rotations"], ref["translations"], ref["ctf_params"], 4.0,
                              ref["halves"], disc=disc, pad=pad, chunk_size=150, radial_filter=False)


@pytest.mark.parametrize("disc,pad", [("linear", 2.0), ("nearest", 1.5), ("linear", 1.0)])
def test_half_grid_maps_equal_the_full_grid_maps(disc, pad):
    ref = np.load(FIXTURE)
    rec = _half_grid_reconstruction(ref, disc, pad)
    key = f"{disc}_{pad:g}"
    for name in ("half1", "half2", "full"):
        want = ref[f"{key}_{name}"]
        got = getattr(rec, name)
        assert got.dtype == np.float32 and got.shape == want.shape
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 2e-5, name
    # high shells carry little power: float32 rounding moves their FSC most
    np.testing.assert_allclose(rec.fsc, ref[f"{key}_fsc"], atol=1e-4)


def test_cubic_half_grid_pools_each_frequency_with_its_partner_and_is_no_worse_against_the_truth():
    # Cubic backprojects only the packed pixels of half images; the full grid averaged the
    # ratios B/W of k and −k (real part of the inverse), the half grid pools B and W of both
    # before dividing (halfgrid.pair_unfolded_planes): not equal, but close and no worse.
    from recovar_jl.jobs.fsc import fsc
    from recovar_jl.jobs.phantom import gaussian_atom_phantom

    ref = np.load(FIXTURE)
    rec = _half_grid_reconstruction(ref, "cubic", 2.0)
    assert np.linalg.norm(rec.full - ref["cubic_2_full"]) / np.linalg.norm(ref["cubic_2_full"]) < 0.05
    truth = gaussian_atom_phantom(16)
    new, old = fsc(rec.full, truth), fsc(ref["cubic_2_full"], truth)
    assert np.all(new[:7] >= old[:7] - 0.005), (new, old)


def test_accumulators_are_half_grids_of_float32_and_complex64():
    bp = Backprojector(16, 2.0, pad=2)
    assert [a.shape for a in bp.data] == [(32, 32, 17)] * 2 and bp.data[0].dtype == np.complex64
    assert [a.shape for a in bp.weights] == [(32, 32, 17)] * 2 and bp.weights[0].dtype == np.float32
    assert bp.counts == [0, 0]


def test_chunking_does_not_change_the_map():
    ref = np.load(FIXTURE)
    args = (ref["images"], ref["rotations"], ref["translations"], ref["ctf_params"], 4.0, ref["halves"])
    one = reconstruct_arrays(*args, chunk_size=1)
    big = reconstruct_arrays(*args, chunk_size=400)
    assert np.linalg.norm(one.full - big.full) / np.linalg.norm(big.full) < 1e-5


def test_a_chunk_of_one_image_and_an_empty_chunk():
    ref = np.load(FIXTURE)
    bp = Backprojector(16, 4.0)
    bp.add_images(ref["images"][:0], ref["rotations"][:0], ref["translations"][:0], ref["ctf_params"][:0],
                  ref["halves"][:0])
    assert bp.counts == [0, 0] and not np.any(bp.data[0])
    for i in (0, 1):
        bp.add_images(ref["images"][i:i + 1], ref["rotations"][i:i + 1], ref["translations"][i:i + 1],
                      ref["ctf_params"][i:i + 1], np.array([i]))
    assert bp.counts == [1, 1]
    rec = bp.reconstruct()
    assert np.all(np.isfinite(rec.full))


def test_stage_timings_cover_the_stages():
    ref = np.load(FIXTURE)
    bp = Backprojector(16, 4.0)
    bp.add_images(ref["images"], ref["rotations"], ref["translations"], ref["ctf_params"], ref["halves"])
    bp.reconstruct()
    assert set(bp.timings) == {"fft", "ctf", "backprojection", "reduction", "final_transforms", "fsc"}
    assert all(t >= 0 for t in bp.timings.values()) and bp.timings["backprojection"] > 0


# ---- chunk size and the memory formula ---------------------------------------------------------
def test_chunk_size_shrinks_with_the_box_and_stays_in_range():
    sizes = [chunk_size_for(box, 2.0) for box in (32, 64, 128, 256, 400, 512)]
    assert sizes == sorted(sizes, reverse=True)
    assert all(1 <= s <= 1024 for s in sizes)
    assert chunk_size_for(512, 2.0) < chunk_size_for(512, 1.0)


def test_estimated_peak_grows_with_the_volume_and_threads_only_while_copies_pay():
    a = estimated_peak_bytes(256, 2.0, 64, 1)
    # box 256: the threads share the accumulators (slabs), no per-thread copies
    assert estimated_peak_bytes(256, 2.0, 64, 2) == a
    assert estimated_peak_bytes(400, 2.0, 64, 1) > a
    # box 128 with a large chunk: one copy of data + weights (12 bytes/cell) per extra thread
    small = 256 * 256 * 129
    assert estimated_peak_bytes(128, 2.0, 1024, 2) - estimated_peak_bytes(128, 2.0, 1024, 1) == 12 * small
    p = 512
    half_cells = p * p * (p // 2 + 1)
    assert a > 24 * half_cells  # the four accumulators at least
    with pytest.raises(ValueError, match="threads"):
        estimated_peak_bytes(256, 2.0, 64, 0)
    with pytest.raises(ValueError, match="chunk_size"):
        estimated_peak_bytes(256, 2.0, 0, 1)


def test_the_map_steps_after_release_bound_the_peak_with_little_padding():
    from recovar_jl.jobs.reconstruct import BASE_BYTES, MAP_STEPS_BYTES

    # pad 1 at box 256: the sums (24·256²·129 bytes) are smaller than the map steps (80·256³)
    assert estimated_peak_bytes(256, 1.0, 8, 1) == MAP_STEPS_BYTES * 256 ** 3 + BASE_BYTES
    assert estimated_peak_bytes(256, 2.0, 64, 1) > MAP_STEPS_BYTES * 256 ** 3 + BASE_BYTES


def test_release_drops_the_sums_and_keeps_counts_and_timings():
    bp = Backprojector(8, 2.0)
    bp.counts = [3, 4]
    bp.release()
    assert bp.data is None and bp.weights is None
    assert bp.counts == [3, 4] and "backprojection" in bp.timings


def test_box_400_pad_2_and_box_512_pad_2_fit_their_budgets_by_the_formula():
    assert estimated_peak_bytes(400, 2.0, chunk_size_for(400, 2.0), 2) < 16 * 2 ** 30
    assert estimated_peak_bytes(512, 2.0, chunk_size_for(512, 2.0), 2) < 20 * 2 ** 30


_PEAK_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    from recovar_jl.jobs.reconstruct import Backprojector
    n, box = int(sys.argv[1]), 48
    rng = np.random.default_rng(0)
    bp = Backprojector(box, 3.0, pad=2)
    ctf = np.tile(np.array([[1.5e4, 1.4e4, 30.0, 300.0, 2.7, 0.1, 0.0, 0.0, 1.0]], np.float32), (32, 1))
    images = rng.standard_normal((32, box, box)).astype(np.float32)
    from recovar_jl.jobs.simulate import random_rotations
    rot = random_rotations(32, rng).astype(np.float32)
    for start in range(0, n, 32):
        bp.add_images(images, rot, np.zeros((32, 2), np.float32), ctf, np.arange(32) % 2)
    bp.reconstruct()
    print(json.dumps({"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
""")


def _peak_kib(n):
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(n)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["maxrss_kib"]


def test_peak_memory_does_not_grow_with_the_particle_count():
    small, large = _peak_kib(64), _peak_kib(2048)
    # 32× the particles; allow 5 % for allocator noise (one half volume here is 4 % of the peak)
    assert large < small * 1.05 + 8 * 1024, (small, large)


# ---- reading ahead -----------------------------------------------------------------------------
def test_prefetcher_yields_every_chunk_in_order_with_its_images():
    from recovar_jl.jobs.prefetch import Prefetcher, chunk_rows

    stack = np.arange(10 * 4, dtype=np.float32).reshape(10, 2, 2)
    chunks = Prefetcher(lambda rows: stack[rows].copy(), chunk_rows(10, 3))
    seen = list(chunks)
    assert [r.tolist() for r, _ in seen] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    for rows, images in seen:
        np.testing.assert_array_equal(images, stack[rows])
    assert chunks.read_seconds >= 0 and chunks.wait_seconds >= 0
    assert list(Prefetcher(lambda rows: stack[rows], [])) == []


@pytest.mark.parametrize("call_read_ahead", [False, True])
def test_prefetcher_reads_the_next_chunk_only_when_told(call_read_ahead):
    import threading
    from recovar_jl.jobs.prefetch import Prefetcher, chunk_rows

    stack = np.arange(7 * 4, dtype=np.float32).reshape(7, 2, 2)
    started = []
    done = threading.Event()

    def read(rows):
        started.append(int(rows[0]))
        done.set()
        return stack[rows].copy()

    chunks = Prefetcher(read, chunk_rows(7, 3))
    seen = []
    for rows, images in chunks:
        assert started[-1] == rows[0]          # nothing read ahead before read_ahead()
        np.testing.assert_array_equal(images, stack[rows])
        seen.append(rows.tolist())
        if call_read_ahead:
            done.clear()
            chunks.read_ahead()
            chunks.read_ahead()                # a second call starts nothing more
            if rows[-1] < 6:
                assert done.wait(10) and started[-1] == rows[-1] + 1
    assert seen == [[0, 1, 2], [3, 4, 5], [6]] and started == [0, 3, 6]


def test_prefetcher_passes_a_read_error_to_the_caller():
    from recovar_jl.jobs.errors import JobError
    from recovar_jl.jobs.prefetch import Prefetcher, chunk_rows

    def read(rows):
        if rows[0] >= 4:
            raise JobError("bad image")
        return np.zeros((rows.size, 2, 2), np.float32)

    got = []
    with pytest.raises(JobError, match="bad image"):
        for rows, _ in Prefetcher(read, chunk_rows(8, 2)):
            got.append(rows[0])
    assert got == [0, 2]


def test_reconstruct_job_reports_stage_times_and_a_chunk_size_from_the_box(tmp_path, capsys):
    from recovar_jl.jobs.commands import reconstruct_job, simulate_job
    from recovar_jl.jobs.phantom import gaussian_atom_phantom

    simulate_job(gaussian_atom_phantom(16), 4.0, tmp_path / "sim", 60, 1.0, seed=1, quiet=True)
    result = reconstruct_job(tmp_path / "sim" / "particles.star", tmp_path / "rec", quiet=True, verbose=True)
    assert result["chunk_size"] == chunk_size_for(16, 2.0)
    assert {"read", "read_wait", "fft", "ctf", "backprojection", "reduction", "final_transforms", "fsc",
            "wiener_filter", "checks", "postprocess", "write", "total"} <= set(result["timings"])
    assert "stage times (s): read" in capsys.readouterr().out


# ---- half-grid statistics ----------------------------------------------------------------------
@pytest.mark.parametrize("d", [7, 8, 10, 13])
def test_fsc_real_equals_the_full_grid_fsc(d):
    from recovar_jl.jobs.fsc import fsc
    from recovar_jl.jobs.halfgrid import fsc_real

    rng = np.random.default_rng(d)
    a = rng.standard_normal((d, d, d)).astype(np.float32)
    b = (a + rng.standard_normal((d, d, d))).astype(np.float32)
    np.testing.assert_allclose(fsc_real(a, b), fsc(a, b), atol=2e-6)
    np.testing.assert_allclose(fsc_real(a, a), 1.0, atol=1e-6)


def test_shells_of_the_half_grid_are_those_of_the_full_grid():
    from recovar_jl.core import fourier_transform_utils as ftu
    from recovar_jl.jobs.fsc import shell_index
    from recovar_jl.jobs.halfgrid import multiplicity, shell_index_slab

    p = 12
    full = shell_index(p)
    half = np.asarray(ftu.full_volume_to_half_volume(full, (p, p, p)))
    np.testing.assert_array_equal(shell_index_slab(p, slice(0, p), 100), half)
    np.testing.assert_array_equal(shell_index_slab(p, slice(3, 5), 4), np.minimum(half[:, 3:5], 3))
    assert shell_index_slab(p, slice(0, p), 4, corners=False).max() == 4
    # every full-grid cell is counted once: Σ m over the half grid = P³
    assert multiplicity(p).sum() * p * p == p ** 3


def test_in_place_half_backprojection_equals_the_public_adjoint():
    from recovar_jl.core.slicing import adjoint_slice_volume
    from recovar_jl.jobs import ops
    from recovar_jl.jobs.simulate import random_rotations

    p, n = 12, 7
    rng = np.random.default_rng(3)
    spectra = (rng.standard_normal((n, p * (p // 2 + 1))) + 1j * rng.standard_normal((n, p * (p // 2 + 1))))
    spectra = spectra.astype(np.complex64)
    R = random_rotations(n, rng).astype(np.float32)
    start = rng.standard_normal((p, p, p // 2 + 1)).astype(np.complex64)
    for disc in ("nearest", "linear_interp", "cubic"):
        want = adjoint_slice_volume(spectra, R, (p, p), (p, p, p), disc, volume=start, half_image=True,
                                    half_volume=True).reshape(start.shape)
        got = start.copy()
        ops.backproject_half_into(got, spectra, R, p, disc)
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="complex64"):
        ops.backproject_half_into(np.zeros(start.shape, np.float32), spectra, R, p, "nearest")
    with pytest.raises(ValueError, match="rotations"):
        ops.backproject_half_into(start.copy(), spectra, R[:3], p, "nearest")


@pytest.mark.parametrize("p", [8, 10, 12, 16])
def test_shell_counts_are_the_full_grid_histogram(p):
    from recovar_jl.jobs.fsc import shell_index
    from recovar_jl.jobs.halfgrid import shell_counts

    for n_shells in (p // 2 + 1, 3):
        want = np.bincount(np.minimum(shell_index(p).ravel(), n_shells - 1), minlength=n_shells)
        np.testing.assert_array_equal(shell_counts(p, n_shells), want)


@pytest.mark.parametrize("p,d", [(8, 8), (8, 4), (10, 5), (12, 12), (12, 6)])
def test_centred_rows_pick_the_central_samples_of_the_centred_inverse(p, d):
    from recovar_jl.jobs.gridding import crop_slices
    from recovar_jl.jobs.halfgrid import centred_rows

    rng = np.random.default_rng(p + d)
    x = rng.standard_normal((p, 3)) + 1j * rng.standard_normal((p, 3))
    want = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(x, axes=0), axis=0), axes=0)[crop_slices(p, d)]
    rows, signs = centred_rows(p, d)
    np.testing.assert_allclose(signs[:, None] * np.fft.ifft(x, axis=0)[rows], want, atol=1e-12)


@pytest.mark.parametrize("p,d", [(8, 4), (8, 8), (10, 5), (12, 6), (12, 12)])
def test_cropped_real_map_is_the_centre_of_the_inverse(p, d):
    # pad 2 (d = p/2, odd and even) and pad 1 (d = p); a one-row slab width exercises the slabs
    from recovar_jl.core import fourier_transform_utils as ftu
    from recovar_jl.jobs import halfgrid
    from recovar_jl.jobs.gridding import crop_slices

    rng = np.random.default_rng(p * d)
    volume = rng.standard_normal((p, p, p)).astype(np.float32)
    half = np.asarray(ftu.get_dft3_real(volume)).astype(np.complex64)
    inner = crop_slices(p, d)

    def slab(rows, out):
        out[...] = half[:, rows]
        return out

    for cells in (halfgrid.SLAB_CELLS, p * (p // 2 + 1)):
        old, halfgrid.SLAB_CELLS = halfgrid.SLAB_CELLS, cells
        try:
            got = halfgrid.cropped_real_map(slab, p, d)
        finally:
            halfgrid.SLAB_CELLS = old
        assert got.dtype == np.float32 and got.shape == (d, d, d)
        np.testing.assert_allclose(got, volume[inner, inner, inner], atol=2e-5)
        apodization = rng.uniform(0.5, 1.0, d).astype(np.float32)
        divided = got / apodization[:, None, None]
        divided /= apodization[None, :, None]
        divided /= apodization[None, None, :]
        with_apodization = halfgrid.cropped_real_map(slab, p, d, apodization)
        np.testing.assert_array_equal(with_apodization, divided)
