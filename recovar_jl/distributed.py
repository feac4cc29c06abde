"""Backprojection and AᵀAv on a Dask cluster, for images held as a ``dask.array``.

Each block of images is processed where Dask computed it (a worker reading its own part
of the files, for instance with :func:`read_stack`), and the per-block volumes are summed
pairwise on the workers; only the sum comes back, as NumPy arrays. Every worker runs its
own Julia (started on its first task). Example (docs/scaling.md)::

    from distributed import Client, LocalCluster
    import recovar_jl.distributed as rd

    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        images = rd.read_stack("particles.mrcs", chunk_size=1000)   # dask.array (n, D, D) float32
        bp = rd.backproject(images, rotations, translations, ctf_params, voxel_size=1.1)
        rec = bp.reconstruct()                                      # Wiener-filtered maps, FSC
        (AtAv,) = rd.compute_AtAv(config, volume, ctf_params, rotations, noise_variance=1.0)

Shapes and conventions are those of :mod:`recovar_jl.jobs.reconstruct` (``backproject``)
and :func:`recovar_jl.core.forward.compute_AtAv` (``compute_AtAv``).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import numpy as np

__all__ = ["backproject", "compute_AtAv", "read_stack"]


def _client(client):
    if client is not None:
        return client
    from distributed import get_client

    try:
        return get_client()
    except ValueError:
        raise ValueError("no Dask client: pass client=, or create one first (distributed.Client(...))") from None


def _blocks(array, name: str, chunks) -> List:
    """Per-block pieces of ``array`` along axis 0, matching ``chunks`` (NumPy slices or delayed)."""
    import dask.array as da

    n = sum(chunks)
    if array is None:
        return [None] * len(chunks)
    if np.ndim(array) == 0 or np.shape(array)[0] != n:
        raise ValueError(f"{name} must have {n} rows (one per image), got shape {np.shape(array)}")
    if isinstance(array, da.Array):
        array = array.rechunk((chunks,) + tuple((s,) for s in array.shape[1:]))
        return list(array.to_delayed().ravel())
    array = np.asarray(array)
    bounds = np.cumsum((0,) + tuple(chunks))
    return [array[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _image_blocks(images):
    import dask.array as da

    if not isinstance(images, da.Array):
        raise TypeError(f"images must be a dask.array (n, D, D), got {type(images).__name__}; "
                        f"for NumPy arrays use recovar_jl.jobs.reconstruct.reconstruct_arrays")
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must have shape (n, D, D), got {images.shape}")
    images = images.rechunk({1: -1, 2: -1})
    return images.chunks[0], list(images.to_delayed().ravel())


def _backproject_block(images, rotations, translations, ctf_params, halves, box, voxel_size, disc, pad):
    from .jobs.reconstruct import Backprojector

    bp = Backprojector(box, voxel_size, disc=disc, pad=pad)
    bp.add_images(np.asarray(images, dtype=np.float32), rotations, translations, ctf_params, halves)
    return bp


def backproject(images, rotations, translations, ctf_params, voxel_size: float, halves=None,
                disc: str = "linear", pad: float = 2.0, seed: int = 0, client=None):
    """CTF-weighted backprojection of two half sets, distributed over the blocks of ``images``.

    Parameters
    ----------
    images : dask.array (n, D, D), real, D even; blocks along axis 0 are the tasks.
    rotations : (n, 3, 3) recovar rotation matrices; translations : (n, 2) pixels (recovar's,
        applied to re-centre); ctf_params : (n, 9) CTF rows (docs/conventions.md §8 layout). NumPy or dask.
    voxel_size : Å per pixel. halves : (n,) in {0, 1}; default a random split (``seed``).
    disc, pad : interpolation and padding, as ``recovar-jl reconstruct``.

    Returns
    -------
    :class:`recovar_jl.jobs.reconstruct.Backprojector` holding NumPy sums (``data``,
    ``weights``, ``counts``); ``.reconstruct()`` gives the maps and FSC. Equals the
    in-process Backprojector up to float32 summation order.
    """
    from dask import delayed

    from .jobs.cluster import tree_sum
    from .jobs.distributed import merge_backprojectors
    from .jobs.gridding import disc_type
    from .jobs.reconstruct import split_halves

    client = _client(client)
    chunks, image_blocks = _image_blocks(images)
    box = int(images.shape[1])
    if box % 2:
        raise ValueError(f"images must have an even box, got {box}")
    if not (np.isfinite(voxel_size) and voxel_size > 0):
        raise ValueError(f"voxel_size must be a positive number of Å, got {voxel_size}")
    disc = disc_type(disc)
    if halves is None:
        halves = split_halves(int(images.shape[0]), np.random.default_rng(seed))
    parts = [_blocks(a, name, chunks) for a, name in ((rotations, "rotations"), (translations, "translations"),
                                                      (ctf_params, "ctf_params"), (halves, "halves"))]
    tasks = [delayed(_backproject_block, pure=False)(img, *rest, box, float(voxel_size), disc, float(pad))
             for img, *rest in zip(image_blocks, *parts)]
    futures = client.compute(tasks)
    return tree_sum(client, futures, merge_backprojectors).result()


def _AtAv_block(config, volume, ctf_params, rotations, noise_variance, skip_ctf):
    from .core.forward import compute_AtAv as local_AtAv

    return local_AtAv(config, volume, ctf_params, rotations, noise_variance, skip_ctf=skip_ctf)[0]


def compute_AtAv(config, volume, ctf_params, rotation_matrices, noise_variance, skip_ctf=False,
                 chunk_size: Optional[int] = None, client=None):
    """:func:`recovar_jl.core.forward.compute_AtAv`, its images split over Dask workers.

    ``rotation_matrices`` (n, 3, 3) and ``ctf_params`` (n, K) are NumPy or dask arrays;
    their blocks (or ``chunk_size`` images, default n / (2 × workers)) are the tasks.
    ``noise_variance`` is a scalar or (H·W,) (sent with every task), or (n, 1) / (n, H·W)
    (split with the images). ``volume`` (V,) or (N0, N1, N2) is one node of the graph, sent to each worker once.

    Returns ``(AtAv,)`` like the in-process function: ``volume``'s shape and dtype, NumPy.
    """
    import dask.array as da
    from dask import delayed

    from .jobs.cluster import tree_sum

    client = _client(client)
    if np.ndim(rotation_matrices) != 3:
        raise ValueError(f"rotation_matrices must have shape (n, 3, 3), got {np.shape(rotation_matrices)}")
    n = int(np.shape(rotation_matrices)[0])
    if n == 0:  # nothing to distribute: the in-process function gives the zero volume
        return (_AtAv_block(config, np.asarray(volume), np.asarray(ctf_params), np.asarray(rotation_matrices),
                            np.asarray(noise_variance), skip_ctf),)
    if isinstance(rotation_matrices, da.Array):
        chunks = rotation_matrices.chunks[0]
    else:
        workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        size = chunk_size or -(-n // (2 * workers))
        chunks = tuple(min(size, n - a) for a in range(0, n, size))
    noise = noise_variance if isinstance(noise_variance, da.Array) else np.asarray(noise_variance)
    per_image = noise.ndim == 2 and noise.shape[0] == n and n > 1
    noise_parts = _blocks(noise, "noise_variance", chunks) if per_image else [noise] * len(chunks)
    rot_parts = _blocks(rotation_matrices, "rotation_matrices", chunks)
    ctf_parts = _blocks(None if skip_ctf else ctf_params, "ctf_params", chunks)
    # One graph node (not a scattered future): a worker lost mid-job can be given it again.
    shared = delayed(np.asarray(volume), pure=True, traverse=False)
    tasks = [delayed(_AtAv_block, pure=False)(config, shared, c, r, s, skip_ctf)
             for r, c, s in zip(rot_parts, ctf_parts, noise_parts)]
    futures = client.compute(tasks)
    return (tree_sum(client, futures, np.add).result(),)


def _read_images(path: str, start: int, stop: int) -> np.ndarray:
    import mrcfile

    with mrcfile.mmap(path, mode="r", permissive=True) as mrc:
        data = mrc.data if mrc.data.ndim == 3 else mrc.data[None]
        return np.array(data[start:stop], dtype=np.float32)


def read_stack(path, chunk_size: int = 1000):
    """An MRC particle stack as a dask.array (n, D, D) float32 whose blocks the workers read.

    Each block of ``chunk_size`` images is read (memory-mapped) by the worker that uses it;
    the client reads only the header. ``path`` must be visible to the workers.
    """
    import dask.array as da
    import mrcfile
    from dask import delayed

    path = str(Path(path).resolve())
    with mrcfile.mmap(path, mode="r", permissive=True) as mrc:
        shape = mrc.data.shape if mrc.data.ndim == 3 else (1,) + mrc.data.shape
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    blocks = [da.from_delayed(delayed(_read_images, pure=True)(path, a, min(shape[0], a + chunk_size)),
                              shape=(min(shape[0], a + chunk_size) - a,) + tuple(shape[1:]), dtype=np.float32)
              for a in range(0, shape[0], chunk_size)]
    return da.concatenate(blocks, axis=0)
