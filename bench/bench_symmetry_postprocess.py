"""Cost of --sym (backprojection once per operator) and of the post-processing steps.

Prints two markdown tables: the backprojection time of n particles (box 64, pad 2, linear)
for point groups of growing order, and the time of the masked FSC (with phase
randomisation), the automatic mask and sharpening at boxes 64 and 128. recovar has neither,
so there is no recovar column. Not a test: timings depend on the machine and its load.
Run from the repository: `.venv/bin/python bench/bench_symmetry_postprocess.py [--quick]`.
"""
import sys
import time

import numpy as np

import recovar_jl.jobs.commands  # noqa: F401  (matplotlib before Julia)
from recovar_jl.jobs.phantom import gaussian_atom_phantom
from recovar_jl.jobs.postprocess import auto_mask, masked_fsc, sharpen
from recovar_jl.jobs.reconstruct import Backprojector, split_halves
from recovar_jl.jobs.simulate import random_parameters, simulate_chunks
from recovar_jl.jobs.symmetry import symmetry_operators


def _seconds(run):
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def bench_symmetry(n, box=64, voxel=3.0):
    rng = np.random.default_rng(0)
    params = random_parameters(n, rng)
    vol = gaussian_atom_phantom(box)
    images = np.concatenate([c[1] for c in simulate_chunks(vol, voxel, params, 1.0, rng)])
    halves = split_halves(n, rng)

    def run(group):
        bp = Backprojector(box, voxel, symmetry=group)
        for s in range(0, n, 256):
            bp.add_images(images[s:s + 256], params.rotations[s:s + 256], params.translations[s:s + 256],
                          params.ctf_params[s:s + 256], halves[s:s + 256])
        return bp.reconstruct()

    run("C1")  # compile
    print(f"| --sym | order | {n} particles, box {box}: s | s per operator |")
    print("|---|---|---|---|")
    for group in ("C1", "C4", "D7", "O", "I"):
        seconds, _ = _seconds(lambda: run(group))
        order = len(symmetry_operators(group))
        print(f"| {group} | {order} | {seconds:.1f} | {seconds / order:.2f} |", flush=True)


def bench_postprocess(box, voxel=3.0):
    rng = np.random.default_rng(1)
    truth = gaussian_atom_phantom(box)
    h1, h2 = [truth + 0.05 * rng.standard_normal(truth.shape).astype(np.float32) for _ in range(2)]
    t_mask, mask = _seconds(lambda: auto_mask(h1, h2))
    t_fsc, result = _seconds(lambda: masked_fsc(h1, h2, mask, rng))
    t_sharp, _ = _seconds(lambda: sharpen((h1 + h2) / 2, voxel, result.corrected, None, "auto"))
    print(f"| {box} | {t_mask:.2f} | {t_fsc:.2f} | {t_sharp:.2f} |", flush=True)


def main(argv):
    quick = "--quick" in argv
    bench_symmetry(200 if quick else 1000)
    print()
    print("| box | --auto-mask: s | masked FSC + phase randomisation: s | --bfactor auto: s |")
    print("|---|---|---|---|")
    for box in ((64,) if quick else (64, 128)):
        bench_postprocess(box)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
