"""recovar_jl.distributed: backprojection and AᵀAv of dask.array images on a 2-process cluster.

Each distributed result is compared with the in-process function on the same inputs.
"""
import numpy as np
import pytest

da = pytest.importorskip("dask.array")

from recovar_jl import distributed as rd  # noqa: E402
from recovar_jl.core.configs import ForwardModelConfig  # noqa: E402
from recovar_jl.core.ctf import CTFEvaluator  # noqa: E402
from recovar_jl.core.forward import compute_AtAv  # noqa: E402
from recovar_jl.jobs.mrc import StackWriter  # noqa: E402
from recovar_jl.jobs.reconstruct import Backprojector  # noqa: E402

from conftest import assert_close  # noqa: E402


@pytest.fixture(scope="module")
def client(dask_cluster):
    from distributed import Client

    with Client(dask_cluster) as c:
        yield c


def _poses(rng, n):
    rot = np.linalg.qr(rng.standard_normal((n, 3, 3)))[0]
    ctf = np.column_stack([rng.uniform(8e3, 2e4, n), rng.uniform(8e3, 2e4, n), rng.uniform(0, 180, n),
                           np.full(n, 300.0), np.full(n, 2.7), np.full(n, 0.1), np.zeros(n), np.zeros(n),
                           np.ones(n)])
    return rot.astype(np.float32), ctf.astype(np.float32)


@pytest.mark.parametrize("chunk", [40, 150])
def test_backproject_of_a_dask_array_equals_the_in_process_backprojector(client, rng, chunk):
    n, box = 150, 16
    images = rng.standard_normal((n, box, box)).astype(np.float32)
    rot, ctf = _poses(rng, n)
    shifts = rng.uniform(-2, 2, (n, 2)).astype(np.float32)
    halves = rng.integers(0, 2, n)
    local = Backprojector(box, 3.0)
    local.add_images(images, rot, shifts, ctf, halves)
    got = rd.backproject(da.from_array(images, chunks=(chunk, box, box)), da.from_array(rot, chunks=(17, 3, 3)),
                         shifts, ctf, 3.0, halves=halves, client=client)
    assert got.counts == local.counts
    for h in (0, 1):
        assert_close(got.data[h], local.data[h], 1e-5, f"data {h}")
        assert_close(got.weights[h], local.weights[h], 1e-5, f"weights {h}")
    assert_close(got.reconstruct().full, local.reconstruct().full, 1e-5, "map")


def test_read_stack_blocks_are_the_stack(client, rng, tmp_path):
    images = rng.standard_normal((23, 8, 8)).astype(np.float32)
    writer = StackWriter(tmp_path / "s.mrcs", 23, 8, 2.0)
    writer.write(0, images)
    writer.close()
    stack = rd.read_stack(tmp_path / "s.mrcs", chunk_size=10)
    assert stack.shape == (23, 8, 8) and stack.chunks[0] == (10, 10, 3) and stack.dtype == np.float32
    np.testing.assert_array_equal(client.compute(stack).result(), images)


@pytest.mark.parametrize("noise_kind", ["scalar", "per_image", "per_pixel_and_image"])
def test_compute_AtAv_equals_the_in_process_function(client, rng, noise_kind):
    n, N = 37, 12
    cfg = ForwardModelConfig((N, N), (N, N, N), N, 2.0, 0, "linear_interp", CTFEvaluator())
    volume = (rng.standard_normal((N, N, N)) + 1j * rng.standard_normal((N, N, N))).astype(np.complex64)
    rot, ctf = _poses(rng, n)
    noise = {"scalar": np.float32(1.7), "per_image": rng.uniform(0.5, 2, (n, 1)).astype(np.float32),
             "per_pixel_and_image": rng.uniform(0.5, 2, (n, N * N)).astype(np.float32)}[noise_kind]
    (expected,) = compute_AtAv(cfg, volume, ctf, rot, noise)
    (got,) = rd.compute_AtAv(cfg, volume, ctf, rot, noise, chunk_size=10, client=client)
    assert got.shape == expected.shape and got.dtype == expected.dtype and isinstance(got, np.ndarray)
    assert_close(got, expected, 1e-5, "AtAv")
    (from_dask,) = rd.compute_AtAv(cfg, volume, da.from_array(ctf, chunks=(9, 9)), da.from_array(rot, chunks=(9, 3, 3)),
                                   noise, client=client)
    assert_close(from_dask, expected, 1e-5, "AtAv, dask inputs")


def test_compute_AtAv_of_no_images_is_zero(client):
    cfg = ForwardModelConfig((8, 8), (8, 8, 8), 8, 2.0, 0, "linear_interp", CTFEvaluator())
    (got,) = rd.compute_AtAv(cfg, np.ones((8, 8, 8), np.float32), np.zeros((0, 9)), np.zeros((0, 3, 3)), 1.0,
                             client=client)
    assert got.shape == (8, 8, 8) and not got.any()


def test_bad_inputs_are_named(client, rng):
    images = da.zeros((10, 8, 8), chunks=5, dtype=np.float32)
    rot, ctf = _poses(rng, 10)
    with pytest.raises(TypeError, match="images must be a dask.array"):
        rd.backproject(np.zeros((10, 8, 8)), rot, np.zeros((10, 2)), ctf, 1.0, client=client)
    with pytest.raises(ValueError, match="rotations must have 10 rows"):
        rd.backproject(images, rot[:9], np.zeros((10, 2)), ctf, 1.0, client=client)
    with pytest.raises(ValueError, match="images must have an even box"):
        rd.backproject(da.zeros((10, 7, 7), chunks=5), rot, np.zeros((10, 2)), ctf, 1.0, client=client)
    with pytest.raises(ValueError, match="voxel_size must be a positive"):
        rd.backproject(images, rot, np.zeros((10, 2)), ctf, -1.0, client=client)
