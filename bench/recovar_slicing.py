"""Time recovar 1.0.5's slicing on CPU (run under .venv-recovar by bench_slicing.py).

Reads the volumes and poses bench_slicing.py wrote (an .npz), builds the same formula slices,
times slice_volume / adjoint_slice_volume for each requested case (median of at least
`repeats` calls and at least 2 s of calls, after one warm-up call that also compiles; a
warm-up longer than 15 s lowers the repeats to 3) and
prints one JSON object {case_key: {"slice": s, "adjoint": s}} on stdout (a case with "op"
times only that operation). A case may ask for
the first `n` poses of a larger pose set (`rotations_key`), which bench_slicing.py uses to
time recovar on image batches.

Usage: JAX_PLATFORMS=cpu python recovar_slicing.py INPUTS.npz CASES_JSON REPEATS
"""
import json
import os
import statistics
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402
from recovar.core import slicing  # noqa: E402


def pattern_slices(n, npix):
    i = np.arange(n, dtype=np.float32)[:, None]
    p = np.arange(npix, dtype=np.float32)[None, :]
    return (np.cos(0.37 * i + 0.011 * p) + 1j * np.sin(0.23 * p - 0.5 * i)).astype(np.complex64)


MIN_SECONDS = 2.0
MAX_CALLS = 50


def timed(fn, repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())  # warm-up + compile
    if time.perf_counter() - start > 15:
        repeats = min(repeats, 3)
    times = []
    first = time.perf_counter()
    # as bench_slicing.median_time: at least `repeats` calls and MIN_SECONDS of calls
    while len(times) < repeats or (time.perf_counter() - first < MIN_SECONDS and len(times) < MAX_CALLS):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    path, cases_json, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = np.load(path)
    results = {}
    for case in json.loads(cases_json):
        N, n, disc, half = case["N"], case["n"], case["disc"], case["half_volume"]
        volume_shape = (N, N, N)
        volume = data[f"volume_{N}"]
        if half:
            cols = list(range(N // 2, N)) + [0]
            volume = np.ascontiguousarray(volume.reshape(N, N, N)[..., cols]).reshape(-1)
        volume = jax.device_put(volume)
        rotations = jax.device_put(data[case.get("rotations_key", f"rotations_{n}")][:n])
        slices = jax.device_put(pattern_slices(n, N * N))
        key = case["key"]
        ops = [case["op"]] if "op" in case else ["slice", "adjoint"]
        results[key] = {}
        if "slice" in ops:
            results[key]["slice"] = timed(lambda: slicing.slice_volume(volume, rotations, (N, N), volume_shape, disc,
                                                                       half_volume=half), repeats)
        if "adjoint" in ops:
            results[key]["adjoint"] = timed(lambda: slicing.adjoint_slice_volume(slices, rotations, (N, N),
                                                                                 volume_shape, disc,
                                                                                 half_volume=half), repeats)
        print(f"recovar {key}: {results[key]}", file=sys.stderr, flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
