"""Backprojection of a RELION particle set on Dask workers, shard by shard.

The client splits the STAR table into shards of consecutive rows and sends each worker a
:class:`StarShard`: a description (STAR path, stack paths, row range, the rows' half
assignment, reconstruction options), a few kB whatever the shard's size. The worker reads
the STAR file itself (parsed once per worker process), memory-maps the stacks its rows use,
and backprojects them with :func:`.reconstruct.backproject_rows` into a fresh
:class:`.reconstruct.Backprojector`. :func:`.cluster.tree_sum` adds the shards' accumulators
pairwise on the workers; only the sum comes back. Images never leave the worker that read
them: the network carries volumes.

Memory per worker: one chunk of images, the accumulator being filled, and the finished
accumulators waiting for their merge partner (merges run before new shards, so at most
about three accumulators A; ``accumulator_bytes``, 24·P³ bytes on the full grid). Network:
at most one A per shard (merges and the sum sent to the client); shards are
``SHARDS_PER_WORKER`` per worker, or one per worker once A exceeds 1 GiB.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np
from dask.sizeof import sizeof

from .cluster import ClusterOptions, connect, tree_sum
from .errors import JobError
from .reconstruct import Backprojector, backproject_rows

# Shards per worker: more balance the load and lose less work with a worker; each costs one
# accumulator of merge traffic and of worker memory, so large volumes get one per worker.
SHARDS_PER_WORKER = 4
LARGE_ACCUMULATOR_BYTES = 2 ** 30


def accumulator_bytes(bp: Backprojector) -> int:
    """Bytes of one Backprojector's sums (two halves of numerators and CTF² weights)."""
    return sum(int(a.nbytes) for a in (*bp.data, *bp.weights))


def shard_count(workers: int, bp: Backprojector) -> int:
    per_worker = 1 if accumulator_bytes(bp) > LARGE_ACCUMULATOR_BYTES else SHARDS_PER_WORKER
    return per_worker * max(1, workers)


@sizeof.register(Backprojector)
def _sizeof_backprojector(bp: Backprojector) -> int:
    # Dask's memory limits, spilling and transfer counters need the volumes' size, not the object's.
    return accumulator_bytes(bp) + 1024


@dataclass(frozen=True)
class StarShard:
    """What one task backprojects: rows ``start:stop`` of ``star_path``.

    ``star_stamp`` (size, mtime_ns) of the STAR file as the client saw it; ``stack_paths``
    the stacks as the client resolved them (the workers see the same filesystem);
    ``halves`` (stop − start,) int8 in {0, 1}.
    """

    star_path: str
    star_stamp: Tuple[int, int]
    stack_paths: Tuple[str, ...]
    start: int
    stop: int
    halves: np.ndarray
    box: int
    voxel_size: float
    disc: str
    pad: float
    chunk_size: int
    subset: Optional[int] = None     # --subset: rows count within that half set, as in the job
    symmetry: str = "C1"
    ctf_modes: object = None
    angpix: Optional[float] = None
    project_dir: Optional[str] = None
    particle_diameter: Optional[float] = None


def _stamp(path: Path) -> Tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def plan_shards(particles, halves: np.ndarray, bp: Backprojector, chunk_size: int, n_shards: int,
                **options) -> List[StarShard]:
    """Split ``particles`` (a ParticleSet) into ``n_shards`` runs of rows, whole chunks each.

    ``options``: subset, symmetry, angpix, project_dir, as the job got them.
    """
    n = len(particles)
    chunks = -(-n // chunk_size)
    bounds = [min(n, chunk_size * (chunks * i // n_shards)) for i in range(n_shards + 1)]
    star = Path(particles.star_path).resolve()
    stamp = _stamp(star)
    stacks = tuple(str(Path(p).resolve()) for p in particles.stack_paths)
    halves = np.asarray(halves, dtype=np.int8)
    pad = bp.padded_box / bp.box  # gives back the same padded box (gridding.pad_size)
    return [StarShard(str(star), stamp, stacks, a, b, halves[a:b], bp.box, bp.voxel_size, bp.disc, pad, chunk_size,
                      ctf_modes=bp.ctf_modes, particle_diameter=bp.particle_diameter, **options)
            for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


_parsed: dict = {}  # worker process: the last STAR file read, by (path, stamp)


def _read_star_once(path: str, stamp: Tuple[int, int], angpix=None, project_dir=None):
    from .commands import read_particle_file

    key = (path, tuple(stamp), angpix, project_dir)
    if key not in _parsed:
        _parsed.clear()  # one table at a time bounds a worker's memory
        _parsed[key] = read_particle_file(path, angpix=angpix, project_dir=project_dir)
    return _parsed[key]


def _rows(table, shard: "StarShard"):
    """The shard's ParticleSet (after the job's --subset selection), with the client's stack paths."""
    if shard.subset is not None:
        table = table.select(np.flatnonzero(table.random_subset == shard.subset))
    part = table.select(np.arange(shard.start, shard.stop))
    return dataclasses.replace(part, stack_paths=[Path(p) for p in shard.stack_paths])


def _where() -> str:
    try:
        from distributed import get_worker

        return f"on Dask worker {get_worker().address}"
    except (ImportError, ValueError):
        return "on a Dask worker"


def backproject_shard(shard: StarShard) -> Backprojector:
    """Worker task: the Backprojector of one shard's particles (errors: JobError, one line)."""
    from .optics import open_particle_reader

    try:
        if _stamp(Path(shard.star_path)) != tuple(shard.star_stamp):
            raise JobError(f"{shard.star_path} differs from the file the client read (size or modification "
                           f"time); the workers must see the same filesystem")
        table = _read_star_once(shard.star_path, shard.star_stamp, shard.angpix, shard.project_dir)
        particles = _rows(table, shard)
        bp = Backprojector(shard.box, shard.voxel_size, disc=shard.disc, pad=shard.pad, symmetry=shard.symmetry,
                           ctf_modes=shard.ctf_modes, particle_diameter=shard.particle_diameter)
        with open_particle_reader(particles) as reader:
            backproject_rows(bp, reader, particles, shard.halves, 0, len(particles), shard.chunk_size)
        return bp
    except JobError as exc:
        raise JobError(f"{_where()}: {exc}") from None
    except FileNotFoundError as exc:
        raise JobError(f"{_where()}: {exc.filename}: no such file; the workers must see the same "
                       f"filesystem as this machine") from None


def merge_backprojectors(a: Backprojector, b: Backprojector) -> Backprojector:
    """Worker task of the tree reduction: ``a`` + ``b``.

    Adds into ``a`` in place (two accumulators in memory, not three): in the tree each
    partial sum has exactly one consumer, and a task that dies mid-way loses its worker's
    memory with it, so no stored result is ever seen half-added.
    """
    return a.merge(b)


def check_files(paths: List[str], sizes: List[int]) -> Optional[str]:
    """Run on a worker: the first of ``paths`` it cannot see with the client's size, or None."""
    for path, size in zip(paths, sizes):
        try:
            if os.stat(path).st_size != size:
                return f"{path} has a different size there"
        except OSError as exc:
            return f"{path}: {exc.strerror.lower() if exc.strerror else 'cannot stat'}"
    return None


def _check_workers_see(client, particles) -> None:
    paths = [str(Path(particles.star_path).resolve())] + [str(Path(p).resolve()) for p in particles.stack_paths]
    sizes = [os.stat(p).st_size for p in paths]
    for addr, problem in client.run(check_files, paths, sizes).items():
        if problem:
            raise JobError(f"Dask worker {addr} cannot read the particles: {problem}; the workers must see "
                           f"the same files at the same paths as this machine")


def _bytes_moved(client) -> int:
    """Bytes the workers have sent to other workers and to clients (Dask's own counter)."""
    return sum(client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total).values())


def backproject_star(cluster: ClusterOptions, particles, halves: np.ndarray, bp: Backprojector, chunk_size: int,
                     progress: Optional[Callable] = None, say: Callable[[str], None] = print,
                     symmetry: str = "C1", subset: Optional[int] = None, angpix: Optional[float] = None,
                     project_dir=None) -> Backprojector:
    """A Backprojector like ``bp`` (its box, voxel size, disc and padding) holding every
    particle of ``particles``, backprojected on a Dask cluster.

    ``halves`` (n,) in {0, 1}; ``progress()`` gives a context manager with ``update(count)``
    (a tqdm bar), opened once the workers are ready and advanced as shards finish.
    Equals the in-process :func:`.reconstruct.backproject_rows` up to float32 summation order.
    """
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    with connect(cluster, say, preflight=lambda client: _check_workers_see(client, particles)) as client:
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        shards = plan_shards(particles, halves, bp, chunk_size, shard_count(workers, bp), subset=subset,
                             symmetry=symmetry, angpix=angpix,
                             project_dir=None if project_dir is None else str(Path(project_dir).resolve()))
        futures = [client.submit(backproject_shard, s, pure=False, priority=0) for s in shards]
        rows = {f.key: s.stop - s.start for f, s in zip(futures, shards)}
        root = tree_sum(client, futures, merge_backprojectors)
        done = as_completed(futures)
        del futures  # held only by the merges from here on: the scheduler frees them once merged
        start, moved = time.perf_counter(), _bytes_moved(client)
        try:
            with (progress() if progress is not None else contextlib.nullcontext()) as bar:
                for future in done:
                    if future.status == "error":
                        future.result()
                    if bar is not None:
                        bar.update(rows[future.key])
                    del future
            total = root.result()
            seconds = time.perf_counter() - start
            say(f"backprojected {len(particles)} particles in {len(shards)} shards on {workers} workers in "
                f"{seconds:.1f} s ({len(particles) / seconds:.0f} images/s); Dask moved "
                f"{(_bytes_moved(client) - moved) / 1e6:.1f} MB between processes")
        except KilledWorker:
            raise JobError("a shard's worker died repeatedly (out of memory?); use fewer --workers or a "
                           "smaller --chunk") from None
    return total
