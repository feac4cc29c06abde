"""The reconstruct job's "fft" stage alone: real images → padded, centred, translated half spectra.

    .venv/bin/python bench/bench_padded_spectra.py [--box 256] [--pad 2] [--images 500] [--repeats 5]

Three figures for one chunk of --images random float32 images of --box² pixels, padded to
P = pad·box, with the particle mask and random translations:

* composed: the path the job used before ops.padded_spectra: np.zeros (n, P, P), copy and
  mask the images into the centre, ops.rfft_images (centred rfft), ops.translate_half;
* one pass: ops.padded_spectra (julia/RecovarCore/src/image_spectra.jl) into a new array;
* reused out: the same into one buffer reused by every call, as Backprojector.add_images does;
* floor: one plain FFTW real-to-complex P×P transform per image (RecovarCore.rfft_batched!,
  FFTW's own threads), in a Julia subprocess with the same number of threads.

Wall and CPU seconds (process time, all threads) are medians of --repeats calls after a
warm-up, per chunk and per image; the two paths are called in turn (composed, one pass,
composed, …) so that both see the same load, and the load average is printed with them.
--images 34 --repeats 59 is the reconstruct job's FFT stage at box 256 on 2,000 particles (its
chunks of 34). Not a test.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FLOOR_SNIPPET = """
using RecovarCore
P, n, repeats = parse.(Int, ARGS)
x = randn(Float32, P, P, n)
y = Array{ComplexF32}(undef, P ÷ 2 + 1, P, n)
RecovarCore.rfft_batched!(y, x, (P, P), n)
walls, cpus = Float64[], Float64[]
for _ in 1:repeats
    c0 = ccall(:clock, Clong, ()); t0 = time()
    RecovarCore.rfft_batched!(y, x, (P, P), n)
    push!(walls, time() - t0); push!(cpus, (ccall(:clock, Clong, ()) - c0) / 1e6)
end
sort!(walls); sort!(cpus)
println(walls[(repeats + 1) ÷ 2], " ", cpus[(repeats + 1) ÷ 2])
"""


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


def interleaved_medians(runs, repeats: int) -> list:
    """Median (wall, CPU) seconds of each of `runs`, called in turn `repeats` times after one
    warm-up call each, so that every path sees the same load."""
    for run in runs:
        run()
    samples = [[] for _ in runs]
    for _ in range(repeats):
        for run, times in zip(runs, samples):
            c0, t0 = time.process_time(), time.perf_counter()
            result = run()
            times.append((time.perf_counter() - t0, time.process_time() - c0))
            del result
    return [tuple(statistics.median(t[k] for t in times) for k in (0, 1)) for times in samples]


def composed(images, translations, p, mask):
    from recovar_jl.jobs import ops
    from recovar_jl.jobs.gridding import crop_slices

    padded = np.zeros((images.shape[0], p, p), dtype=np.float32)
    inner = crop_slices(p, images.shape[1])
    padded[:, inner, inner] = images
    padded[:, inner, inner] *= mask
    spectra = ops.rfft_images(padded)
    del padded
    return ops.translate_half(spectra, translations, p)


def floor(p: int, n: int, repeats: int) -> tuple:
    julia = (REPO / ".venv" / "julia-path").read_text().strip()
    threads = os.environ.get("RECOVAR_JL_NUM_THREADS", str(os.cpu_count()))
    out = subprocess.run([julia, "--startup-file=no", f"--project={REPO / 'julia' / 'RecovarCore'}", "-e",
                          FLOOR_SNIPPET, str(p), str(n), str(repeats)], capture_output=True, text=True, check=True,
                         env={**os.environ, "JULIA_NUM_THREADS": threads})
    wall, cpu = out.stdout.split()[-2:]
    return float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--box", type=int, default=256)
    parser.add_argument("--pad", type=float, default=2.0)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from recovar_jl.jobs import ops
    from recovar_jl.jobs.gridding import pad_size
    from recovar_jl.jobs.particle_mask import image_mask

    d, n = args.box, args.images
    p = pad_size(d, args.pad)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((n, d, d), dtype=np.float32)
    translations = (5 * rng.standard_normal((n, 2))).astype(np.float32)
    mask = image_mask(d, 3.0, 0.8 * 3.0 * d).astype(np.float32)
    a = composed(images, translations, p, mask)
    b = ops.padded_spectra(images, translations, p, mask)
    print(f"box {d}, P {p}, {n} images; one pass vs composed: relative difference "
          f"{np.linalg.norm(b - a) / np.linalg.norm(a):.2e}")
    del a, b
    names = ("composed", "one pass", "reused out")
    buffer = np.empty((n, p * (p // 2 + 1)), np.complex64)
    runs = (lambda: composed(images, translations, p, mask), lambda: ops.padded_spectra(images, translations, p, mask),
            lambda: ops.padded_spectra(images, translations, p, mask, out=buffer))
    before = load()
    results = interleaved_medians(runs, args.repeats)
    print(f"{'path':<10} {'wall s':>8} {'CPU s':>8} {'ms/image':>9} {'load':>6}")
    for name, (wall, cpu) in zip(names, results):
        print(f"{name:<10} {wall:8.3f} {cpu:8.3f} {1e3 * wall / n:9.3f} {before:>6}")
    before = load()
    wall, cpu = floor(p, n, args.repeats)
    print(f"{'floor':<10} {wall:8.3f} {cpu:8.3f} {1e3 * wall / n:9.3f} {before:>6}")


if __name__ == "__main__":
    main()
