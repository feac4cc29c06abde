import os
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(module: str) -> dict:
    """Reference arrays made by recovar 1.0.5 (scripts/fixtures/make_<module>.py)."""
    path = FIXTURES / f"{module}.npz"
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def assert_close(actual, expected, rtol=1e-5, name=""):
    """Relative error ‖a − e‖ / ‖e‖ ≤ rtol (the fixture criterion), shapes equal."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    denom = np.linalg.norm(expected.ravel().astype(np.complex128))
    err = np.linalg.norm((actual.astype(np.complex128) - expected).ravel())
    if denom == 0:
        assert err == 0, f"{name}: expected zeros, error {err}"
    else:
        assert err / denom <= rtol, f"{name}: relative error {err / denom:.3g} > {rtol}"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def dask_cluster():
    """One 2-process Dask LocalCluster (1 task thread, 1 Julia thread per worker) for the
    distributed tests; Julia is started and warmed in each worker by the jobs' plugin."""
    import logging

    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.CRITICAL, env={"RECOVAR_JL_NUM_THREADS": "1"}) as cluster:
        from recovar_jl.jobs.cluster import WarmJulia

        with distributed.Client(cluster) as client:
            client.register_plugin(WarmJulia(1))  # compile the backprojection once per worker, up front
        yield cluster
