"""Time recovar 1.0.5's slicing on CPU (run under .venv-recovar by bench_slicing.py).

Reads the inputs bench_slicing.py wrote (an .npz), times slice_volume / adjoint_slice_volume
for each requested case (median of `repeats` after one warm-up call that also compiles) and
prints one JSON object {case_key: {"slice": s, "adjoint": s}} on stdout.

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


def timed(fn, repeats):
    jax.block_until_ready(fn())  # warm-up + compile
    times = []
    for _ in range(repeats):
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
        volume = jax.device_put(data[f"volume_{N}_{int(half)}"])
        rotations = jax.device_put(data[f"rotations_{n}"])
        slices = jax.device_put(data[f"slices_{N}_{n}"])
        key = case["key"]
        results[key] = {
            "slice": timed(lambda: slicing.slice_volume(volume, rotations, (N, N), volume_shape, disc,
                                                        half_volume=half), repeats),
            "adjoint": timed(lambda: slicing.adjoint_slice_volume(slices, rotations, (N, N), volume_shape, disc,
                                                                  half_volume=half), repeats),
        }
        print(f"recovar {key}: {results[key]}", file=sys.stderr, flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
