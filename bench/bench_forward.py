"""Benchmark: forward model, adjoint and AᵀAv of recovar_jl vs recovar 1.0.5, same inputs, one run.

    .venv/bin/python bench/bench_forward.py [--quick] [--no-recovar]

Box 128, 4000 random poses, a real-looking CTF per image (defocus 5000–30000 Å, astigmatism,
300 kV, Cs 2.7 mm, W 0.1), complex64 Fourier volume of a smooth density, linear
interpolation, per-pixel noise variance; translations of ±5 px for batch_translate_images
(forward_model itself has no translations in recovar's API); then the same at box 64 with
1000 poses (short calls, timed 3× as often). --quick: box 64, 500 poses only.
Reports medians of ≥5 timed repeats after a warm-up (recovar's adjoint and AᵀAv in batches
of RECOVAR_BATCH images, summed, as its pipelines call them), and the peak extra memory
(VmHWM above the RSS before the call, measured in a fresh subprocess) of one compute_AtAv
call for several image counts.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from recovar_jl.rotations import random_rotations

ROOT = Path(__file__).resolve().parents[1]
RECOVAR_PY = ROOT / ".venv-recovar" / "bin" / "python"
# recovar's adjoint and AᵀAv run in batches of this many images (summed), as its pipelines
# do; one call on 4000 box-128 images would need ~14 GB of JAX intermediates.
RECOVAR_BATCH = 500
RECOVAR_MEMORY_LIMIT = 1000
OPS = ["forward_model", "adjoint_forward_model", "compute_AtAv", "batch_translate_images"]


def make_inputs(N, n, seed=0):
    rng = np.random.default_rng(seed)
    g = np.arange(N) - N // 2
    z, y, x = np.meshgrid(g, g, g, indexing="ij", sparse=True)
    density = np.zeros((N, N, N), np.float32)
    for _ in range(6):
        c = rng.uniform(-N / 5, N / 5, 3)
        s = rng.uniform(N / 14, N / 7)
        density += np.exp(-((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) / (2 * s * s)).astype(np.float32)
    volume = np.fft.fftshift(np.fft.fftn(np.fft.fftshift(density))).astype(np.complex64).ravel()
    dfu = rng.uniform(5000, 30000, n)
    params = np.stack([dfu, dfu - rng.uniform(0, 600, n), rng.uniform(0, 180, n), np.full(n, 300.0),
                       np.full(n, 2.7), np.full(n, 0.1), np.zeros(n), np.zeros(n), np.ones(n)], 1).astype(np.float32)
    slices = (rng.standard_normal((n, N * N)) + 1j * rng.standard_normal((n, N * N))).astype(np.complex64)
    return dict(volume=volume, ctf_params=params, rotations=random_rotations(n, rng, np.float32), slices=slices,
                translations=rng.uniform(-5, 5, (n, 2)).astype(np.float32),
                noise_variance=rng.uniform(0.5, 2.0, N * N).astype(np.float32), N=np.array(N),
                voxel_size=np.array(128 * 1.3 / N))


def ours(x):
    from recovar_jl.core import forward
    from recovar_jl.core.configs import ForwardModelConfig
    from recovar_jl.core.ctf import CTFEvaluator
    N = int(x["N"])
    config = ForwardModelConfig((N, N), (N, N, N), N, float(x["voxel_size"]), 0, "linear_interp", CTFEvaluator())
    return config, {
        "forward_model": lambda: forward.forward_model(config, x["volume"], x["ctf_params"], x["rotations"]),
        "adjoint_forward_model": lambda: forward.adjoint_forward_model(config, x["slices"], x["ctf_params"],
                                                                       x["rotations"]),
        "compute_AtAv": lambda: forward.compute_AtAv(config, x["volume"], x["ctf_params"], x["rotations"],
                                                     x["noise_variance"])[0],
        "batch_translate_images": lambda: forward.batch_translate_images(x["slices"][None], x["translations"][None],
                                                                         (N, N)),
    }


def time_ours(x, repeats):
    _, ops = ours(x)
    result = {}
    for name, op in ops.items():
        op()  # warm-up (JIT compile)
        times, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            op()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        result[name] = times
        result[name + ":cpu"] = cpu
    return result


def vm(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def memory_probe(path, count):
    """Subprocess body: peak extra bytes of our compute_AtAv with the first `count` images."""
    with np.load(path) as data:
        x = {k: data[k] for k in data.files}
    ours(make_inputs(16, 8, seed=1))[1]["compute_AtAv"]()  # start Julia and compile on a tiny problem
    sub = dict(x, ctf_params=x["ctf_params"][:count], rotations=x["rotations"][:count])
    op = ours(sub)[1]["compute_AtAv"]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = vm("VmRSS")
    op()
    print(json.dumps({"peak_extra_bytes": vm("VmHWM") - before}))


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="box 64, 500 poses")
    parser.add_argument("--no-recovar", action="store_true", help="skip the recovar side")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-probe", nargs=2, metavar=("INPUTS", "N_IMAGES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(args.memory_probe[0], int(args.memory_probe[1]))
        return
    # the main size, then (full run) box 64 × 1000: short calls, so timed 3× as often
    sizes = [(64, 500, args.repeats)] if args.quick else [(128, 4000, args.repeats), (64, 1000, 3 * args.repeats)]
    for k, (N, n, repeats) in enumerate(sizes):
        run_size(N, n, repeats, args.no_recovar, memory=k == 0)


def run_size(N, n, repeats, no_recovar, memory):
    """Time the four operations on box N with n images (both sides); the memory probe too."""
    x = make_inputs(N, n)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inputs.npz")
        np.savez(path, **x)
        env = dict(os.environ, JAX_PLATFORMS="cpu")
        # memory probes: every large block from its own mmap, so freed memory is not reused
        # silently and RSS growth shows each allocation (glibc otherwise raises its mmap
        # threshold to 32 MB after the first large free)
        probe_env = dict(env, MALLOC_MMAP_THRESHOLD_="131072")
        print(f"box {N}, {n} images, linear_interp, complex64, CTF per image; "
              f"Julia threads: {os.environ.get('RECOVAR_JL_NUM_THREADS', 'all cores')}", flush=True)
        mine = time_ours(x, repeats)
        theirs = None
        if not no_recovar and RECOVAR_PY.exists():
            theirs = run_json([str(RECOVAR_PY), str(ROOT / "bench" / "recovar_forward.py"), "time", path,
                               str(repeats), str(RECOVAR_BATCH)], env)
        print()
        print("Wall-clock medians; CPU = process CPU time (all threads), less sensitive to other load.")
        print()
        print("| operation | recovar_jl wall (s) | recovar wall (s) | speed-up | recovar_jl CPU (s) | recovar CPU (s) "
              "| CPU ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name in OPS:
            a = statistics.median(mine[name])
            ac = statistics.median(mine[name + ":cpu"])
            if theirs:
                b = statistics.median(theirs[name])
                bc = statistics.median(theirs[name + ":cpu"])
                print(f"| {name} | {a:.3f} | {b:.3f} | {b / a:.1f}× | {ac:.3f} | {bc:.3f} | {bc / ac:.1f}× |")
            else:
                print(f"| {name} | {a:.3f} | – | – | {ac:.3f} | – | – |")
        print()
        if not memory:
            return
        counts = [n // 16, n // 8, n // 4, n // 2, n]
        print("Peak extra memory of one compute_AtAv call (VmHWM − RSS before the call, fresh process; "
              f"recovar only up to {RECOVAR_MEMORY_LIMIT} images, its use grows ~linearly):")
        print()
        print("| images | recovar_jl (MB) | recovar 1.0.5 (MB) |")
        print("|---:|---:|---:|")
        for count in counts:
            a = run_json([sys.executable, __file__, "--memory-probe", path, str(count)], probe_env)["peak_extra_bytes"]
            b = None
            if theirs is not None and count <= RECOVAR_MEMORY_LIMIT:
                b = run_json([str(RECOVAR_PY), str(ROOT / "bench" / "recovar_forward.py"), "memory", path,
                              str(count)], probe_env)["peak_extra_bytes"]
            print(f"| {count} | {a / 2**20:.1f} | {'–' if b is None else f'{b / 2**20:.1f}'} |")
        volume_mb = x["volume"].nbytes / 2**20
        print(f"\n(one volume = {volume_mb:.1f} MB; one image stack of {n} = {x['slices'].nbytes / 2**20:.1f} MB)\n")


if __name__ == "__main__":
    main()
