"""Benchmark: CTF and translations, recovar_jl vs recovar 1.0.5, same inputs, same run.

    .venv/bin/python bench/bench_ctf.py [--quick] [--repeats R]

Main case: the SPA CTF of 10,000 images at 128² on the half (rfft-packed) grid, float32,
realistic astigmatic parameter rows. Also: full grid, SPA_ANTIALIASED (1,000 images),
translate_images on 2,000 half images. Medians of ≥5 repeats after a warm-up; recovar runs
in its own venv (.venv-recovar) through bench/recovar_ctf.py. Prints a markdown table.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from timing import median_time

ROOT = Path(__file__).resolve().parents[1]
RECOVAR_PY = ROOT / ".venv-recovar" / "bin" / "python"


def ctf_rows(n, rng):
    p = np.zeros((n, 9), np.float32)
    p[:, 0] = rng.uniform(5000, 30000, n)
    p[:, 1] = p[:, 0] - rng.uniform(0, 1500, n)
    p[:, 2] = rng.uniform(-90, 180, n)
    p[:, 3], p[:, 4], p[:, 5], p[:, 8] = 300.0, 2.7, 0.1, 1.0
    return p


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 images instead of 10,000")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    repeats = max(args.repeats, 5) if not args.quick else max(args.repeats, 3)

    from recovar_jl import _julia
    from recovar_jl.core import ctf, geometry

    rng = np.random.default_rng(0)
    n = 1000 if args.quick else 10000
    n_translate = n // 5
    side, voxel = 128, 1.3
    params = ctf_rows(n, rng)
    nhalf = side * (side // 2 + 1)
    images = (rng.normal(size=(n_translate, nhalf)) + 1j * rng.normal(size=(n_translate, nhalf))).astype(np.complex64)
    shifts = rng.uniform(-10, 10, (n_translate, 2)).astype(np.float32)

    spa = ctf.CTFEvaluator()
    anti = ctf.CTFEvaluator(mode=ctf.CTFMode.SPA_ANTIALIASED)
    ours_cases = {
        "ctf_half": lambda: spa(params, (side, side), voxel, half_image=True),
        "ctf_full": lambda: spa(params, (side, side), voxel),
        "ctf_antialiased_half": lambda: anti(params[: n // 10], (side, side), voxel, half_image=True),
        "translate_half": lambda: geometry.translate_images(images, shifts, (side, side), half_image=True),
    }
    labels = {
        "ctf_half": f"CTF, {n:,} images, {side}² half grid",
        "ctf_full": f"CTF, {n:,} images, {side}² full grid",
        "ctf_antialiased_half": f"SPA_ANTIALIASED CTF, {n // 10:,} images, {side}² half",
        "translate_half": f"translate_images, {n_translate:,} images, {side}² half",
    }
    pixels = {"ctf_half": n * nhalf, "ctf_full": n * side * side, "ctf_antialiased_half": n // 10 * nhalf,
              "translate_half": n_translate * nhalf}
    ours = {name: median_time(run, repeats) for name, run in ours_cases.items()}
    firsts = {name: np.asarray(run()[:4]) for name, run in ours_cases.items()}

    theirs, errors = {}, {}
    if RECOVAR_PY.exists():
        with tempfile.TemporaryDirectory() as tmp:
            inputs = os.path.join(tmp, "inputs.npz")
            outputs = os.path.join(tmp, "outputs.npz")
            np.savez(inputs, params=params, side=side, voxel_size=voxel, images=images, shifts=shifts)
            env = dict(os.environ, JAX_PLATFORMS="cpu")
            proc = subprocess.run([str(RECOVAR_PY), str(ROOT / "bench" / "recovar_ctf.py"), inputs, str(repeats),
                                   outputs], capture_output=True, text=True, env=env)
            if proc.returncode == 0:
                theirs = {k: float(np.median(v)) for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
                with np.load(outputs) as ref:
                    for name in firsts:
                        expected = ref[name].astype(np.complex128)
                        errors[name] = float(np.linalg.norm(firsts[name] - expected) / np.linalg.norm(expected))
            else:
                print("recovar run failed:\n" + proc.stderr[-2000:], file=sys.stderr)
    else:
        print(f"no {RECOVAR_PY}: recovar column left empty", file=sys.stderr)

    facts = _julia.runtime_info()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores; Julia {facts.get('julia_version', '?')} "
          f"with {facts.get('julia_threads', '?')} threads; medians of {repeats} runs after warm-up; float32.\n")
    print("| operation | recovar_jl (s) | recovar 1.0.5 (s) | speed-up | recovar_jl Mpixel/s | rel. diff vs recovar |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ours_cases:
        r = theirs.get(name)
        speed = f"{r / ours[name]:.1f}×" if r else "–"
        err = f"{errors[name]:.1e}" if name in errors else "–"
        print(f"| {labels[name]} | {ours[name]:.3f} | {r:.3f} | {speed} | {pixels[name] / ours[name] / 1e6:.0f} | {err} |"
              if r else f"| {labels[name]} | {ours[name]:.3f} | – | – | {pixels[name] / ours[name] / 1e6:.0f} | – |")


if __name__ == "__main__":
    main()
