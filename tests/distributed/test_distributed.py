"""recovar-jl reconstruct on Dask workers (jobs/distributed.py, jobs/cluster.py).

One 2-process LocalCluster for the whole module (conftest's ``dask_cluster``); jobs join
it with ``--scheduler``. Properties: the distributed map equals the in-process map, a
worker killed mid-job changes nothing, and unusable clusters give one-line errors.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import mrcfile
import numpy as np
import pytest

from recovar_jl.cli import main
from recovar_jl.jobs import cluster as cluster_mod
from recovar_jl.jobs.cluster import ClusterOptions
from recovar_jl.jobs.commands import reconstruct_job
from recovar_jl.jobs.errors import JobError
from recovar_jl.jobs.mrc import write_volume
from recovar_jl.jobs.phantom import gaussian_atom_phantom
from recovar_jl.jobs.reconstruct import Backprojector

BOX, N, CHUNK = 24, 1600, 50


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("dist")
    write_volume(d / "map.mrc", gaussian_atom_phantom(BOX), 4.0)
    assert main(["simulate", str(d / "map.mrc"), "--n-images", str(N), "--snr", "1", "--out", str(d / "sim"),
                 "--seed", "3", "-q"]) == 0
    return d


@pytest.fixture(scope="module")
def in_process(sim):
    return reconstruct_job(sim / "sim" / "particles.star", sim / "rec_local", chunk_size=CHUNK, quiet=True)


def _on(cluster):
    return ClusterOptions(scheduler=cluster.scheduler_address)


def _relative_difference(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _files(d):
    return sorted(p.name for p in d.iterdir())


def test_merge_of_two_particle_sets_equals_backprojecting_their_union(rng):
    images = rng.standard_normal((6, 8, 8)).astype(np.float32)
    rot = np.linalg.qr(rng.standard_normal((6, 3, 3)))[0].astype(np.float32)
    shifts = rng.uniform(-1, 1, (6, 2)).astype(np.float32)
    ctf = np.tile(np.array([1e4, 1.1e4, 10, 300, 2.7, 0.1, 0, 0, 1], np.float32), (6, 1))
    halves = np.array([0, 1, 0, 1, 1, 0])
    whole, a, b = (Backprojector(8, 2.0) for _ in range(3))
    whole.add_images(images, rot, shifts, ctf, halves)
    a.add_images(images[:4], rot[:4], shifts[:4], ctf[:4], halves[:4])
    b.add_images(images[4:], rot[4:], shifts[4:], ctf[4:], halves[4:])
    assert a.merge(b) is a and a.counts == whole.counts == [3, 3]
    for h in (0, 1):
        np.testing.assert_allclose(a.data[h], whole.data[h], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(a.weights[h], whole.weights[h], rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(Backprojector(8, 2.0, disc="nearest"))


def test_distributed_map_equals_the_in_process_map(sim, in_process, dask_cluster, capsys):
    got = reconstruct_job(sim / "sim" / "particles.star", sim / "rec_dist", chunk_size=CHUNK, quiet=False,
                          cluster=_on(dask_cluster))
    out = capsys.readouterr().out
    assert "dashboard http" in out and "2 workers × 1 Julia threads" in out
    moved = float(re.search(r"Dask moved ([0-9.]+) MB", out).group(1))
    assert moved >= 2 * (2 * BOX) ** 3 * 12 / 1e6  # at least the sum sent to the client: volumes travel
    rec, ref = got["reconstruction"], in_process["reconstruction"]
    assert rec.n_particles == ref.n_particles
    for name in ("half1", "half2", "full"):
        assert _relative_difference(getattr(rec, name), getattr(ref, name)) <= 1e-5, name
    assert rec.resolution == pytest.approx(ref.resolution, rel=1e-5)  # crossing interpolated between shells
    assert _files(sim / "rec_dist") == _files(sim / "rec_local")


def _shard_holders(client):
    return {w for w, keys in client.has_what().items() if any(str(k).startswith("backproject_shard") for k in keys)}


def test_a_worker_killed_mid_job_is_replaced_and_the_map_is_unchanged(sim, in_process, dask_cluster):
    from distributed import Client

    out_dir = sim / "rec_killed"
    result, errors = {}, []

    def job():
        try:
            result.update(reconstruct_job(sim / "sim" / "particles.star", out_dir, chunk_size=CHUNK, quiet=True,
                                          cluster=_on(dask_cluster)))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with Client(dask_cluster) as watcher:
        pids = watcher.run(os.getpid)
        thread = threading.Thread(target=job)
        thread.start()
        victim, deadline = None, time.monotonic() + 300
        while victim is None and thread.is_alive() and time.monotonic() < deadline:
            holders = _shard_holders(watcher)
            if holders:
                victim = sorted(holders)[0]
                os.kill(pids[victim], signal.SIGKILL)  # a finished shard, not yet merged, is lost
            time.sleep(0.01)
        thread.join(600)
        assert victim is not None, "the job finished before any shard result could be killed"
        assert not errors, errors
        watcher.wait_for_workers(2, timeout=120)
        assert pids[victim] not in watcher.run(os.getpid).values()
    assert _files(out_dir) == _files(sim / "rec_local")  # every output, no partial file
    rec, ref = result["reconstruction"], in_process["reconstruction"]
    assert rec.n_particles == ref.n_particles
    assert _relative_difference(rec.full, ref.full) <= 1e-5
    assert rec.resolution == pytest.approx(ref.resolution, rel=1e-5)
    with mrcfile.open(out_dir / "map.mrc") as a, mrcfile.open(sim / "rec_local" / "map.mrc") as b:
        assert _relative_difference(a.data, b.data) <= 1e-5


def _cli(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_unreachable_scheduler_is_a_one_line_error(sim, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cluster_mod, "CONNECT_TIMEOUT_S", 2)
    code, _, err = _cli(["reconstruct", sim / "sim" / "particles.star", "--out", tmp_path / "o",
                         "--scheduler", "tcp://127.0.0.1:9", "-q"], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert not (tmp_path / "o").exists() or _files(tmp_path / "o") == []


@pytest.mark.parametrize("args, message", [
    (["--threads-per-worker", "2"], "--threads-per-worker needs --workers"),
    (["--scheduler", "127.0.0.1:8786"], "--scheduler must look like tcp://HOST:PORT"),
    (["--scheduler-file", "/nonexistent/scheduler.json"], "--scheduler-file /nonexistent/scheduler.json: no such file"),
])
def test_bad_cluster_options_are_one_line_errors(sim, tmp_path, capsys, args, message):
    code, _, err = _cli(["reconstruct", sim / "sim" / "particles.star", "--out", tmp_path / "o", "-q", *args], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err


def test_workers_and_scheduler_are_exclusive(sim, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reconstruct", str(sim / "sim" / "particles.star"), "--out", str(tmp_path / "o"), "--workers", "2",
              "--scheduler", "tcp://127.0.0.1:9"])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def _can_hide_a_directory():
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                           "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    return done.returncode == 0


@pytest.mark.skipif(not _can_hide_a_directory(), reason="needs unshare -m and mount (root) to hide files from a worker")
def test_workers_that_cannot_see_the_files_give_a_one_line_error(sim, tmp_path, capsys):
    """A worker in its own mount namespace, with an empty tmpfs over the particles' directory."""
    from distributed import LocalCluster

    data = sim / "sim"
    with LocalCluster(n_workers=0, processes=True, dashboard_address=":0") as scheduler_only:
        address = scheduler_only.scheduler_address
        worker = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             f'mount -t tmpfs tmpfs "{data}" && exec "{sys.executable}" -m distributed.cli.dask_worker '
             f'{address} --nthreads 1 --no-nanny --no-dashboard'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            code, _, err = _cli(["reconstruct", data / "particles.star", "--out", tmp_path / "o",
                                 "--scheduler", address, "-q"], capsys)
        finally:
            worker.terminate()
            worker.wait(30)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert "cannot read the particles" in err and "particles.star: no such file" in err
    assert _files(tmp_path / "o") == []


def test_workers_without_julia_give_a_one_line_error(sim, tmp_path, capsys):
    import logging

    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.CRITICAL, env={"RECOVAR_JL_JULIA": "/nonexistent/julia"}) as broken:
        code, _, err = _cli(["reconstruct", sim / "sim" / "particles.star", "--out", tmp_path / "o",
                             "--scheduler", broken.scheduler_address, "-q"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "cannot run recovar_jl" in err and "RECOVAR_JL_JULIA=/nonexistent/julia" in err


def test_shards_cover_every_row_once_in_whole_chunks(sim, monkeypatch):
    from recovar_jl.jobs import distributed as dist
    from recovar_jl.jobs.star import read_particles

    particles = read_particles(sim / "sim" / "particles.star")
    bp = Backprojector(BOX, 4.0)
    halves = np.arange(N) % 2
    shards = dist.plan_shards(particles, halves, bp, CHUNK, dist.shard_count(2, bp))
    assert len(shards) == 8 and shards[0].start == 0 and shards[-1].stop == N
    assert all(a.stop == b.start for a, b in zip(shards, shards[1:]))
    assert all(s.start % CHUNK == 0 and s.halves.dtype == np.int8 for s in shards)
    np.testing.assert_array_equal(np.concatenate([s.halves for s in shards]), halves)
    assert all(len(s.star_path) > 0 and os.path.isabs(s.star_path) for s in shards)
    monkeypatch.setattr(dist, "LARGE_ACCUMULATOR_BYTES", dist.accumulator_bytes(bp) - 1)
    assert dist.shard_count(3, bp) == 3  # large volumes: one shard (one accumulator of traffic) per worker
    one = dist.plan_shards(particles, halves, bp, 10 * N, 4)  # fewer chunks than shards
    assert [(s.start, s.stop) for s in one] == [(0, N)]


def test_distributed_job_honours_symmetry_and_ctf_options(sim, dask_cluster):
    from recovar_jl.jobs.ctf_modes import CtfModes

    options = dict(chunk_size=CHUNK, quiet=True, symmetry="C2",
                   ctf_modes=CtfModes(correction="phase-flip", invert_contrast=True, maxres=10.0))
    ref = reconstruct_job(sim / "sim" / "particles.star", sim / "rec_opts_local", **options)["reconstruction"]
    got = reconstruct_job(sim / "sim" / "particles.star", sim / "rec_opts_dist", cluster=_on(dask_cluster),
                          **options)["reconstruction"]
    assert _relative_difference(got.full, ref.full) <= 1e-5
    assert _relative_difference(got.fsc, ref.fsc) <= 1e-5
