"""recovar 1.0.5 side of bench_ctf.py: times the same operations on the same inputs.

Run by bench_ctf.py under .venv-recovar's python:
    recovar_ctf.py INPUTS.npz REPEATS OUTPUT.npz
Prints one JSON object {case: [seconds per repeat, ...]}; saves the first rows of each result
to OUTPUT.npz for a correctness check. Default JAX precision (float32), CPU.
"""
import json
import sys
import time

import numpy as np


def main():
    inputs_path, repeats, output_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    from recovar.core import ctf, geometry

    data = np.load(inputs_path)
    params, side, voxel = data["params"], int(data["side"]), float(data["voxel_size"])
    images, shifts = data["images"], data["shifts"]
    spa = ctf.CTFEvaluator()
    anti = ctf.CTFEvaluator(mode=ctf.CTFMode.SPA_ANTIALIASED)
    cases = {
        "ctf_half": lambda: spa(params, (side, side), voxel, half_image=True),
        "ctf_full": lambda: spa(params, (side, side), voxel),
        "ctf_antialiased_half": lambda: anti(params[: len(params) // 10], (side, side), voxel, half_image=True),
        "translate_half": lambda: geometry.translate_images(images, shifts, (side, side), half_image=True),
    }
    timings, firsts = {}, {}
    for name, run in cases.items():
        result = run()
        result.block_until_ready()  # warm-up: compile
        firsts[name] = np.asarray(result[:4])
        del result
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            result = run()
            result.block_until_ready()
            times.append(time.perf_counter() - start)
            del result
        timings[name] = times
    np.savez(output_path, **firsts)
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
