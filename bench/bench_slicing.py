"""Benchmark: Fourier-slice projection and backprojection, recovar_jl vs recovar 1.0.5 (JAX CPU).

    .venv/bin/python bench/bench_slicing.py [--quick] [--repeats 5] [--no-recovar] [--cases K,…] [--out FILE]

Same inputs for both (a random complex64 spectrum, uniform random float32 poses, complex64
slices from a fixed formula), full volumes, full images, default max_r. Each timing is the
median of at least `--repeats` calls and at least 2 s of calls (at most 50), after one
warm-up call (which also compiles); recovar is timed by the same rule. Cases run one
after the other, each timing both programs back to back. recovar_jl runs
in subprocesses with RECOVAR_JL_NUM_THREADS=2 (the table) and =1 (thread scaling); recovar
runs in .venv-recovar (bench/recovar_slicing.py) with JAX on CPU (all cores), one subprocess
per case and operation, on the largest image batch whose intermediates fit in 2 GiB (its cubic
path keeps ~1 kB per pixel, its order-0/1 backprojection one volume per image); the time
is scaled by the number of batches (marked †b in the table).

Memory bandwidth: a NumPy copy of a 256 MiB array (read + write). "Touched" bytes per
projected pixel count every volume entry read or updated (8 B each: 1 nearest, 8 linear,
64 cubic; an update counts twice) plus the image pixel (8 B); many of them hit cache, so
the touched fraction can exceed 1. "Streamed" bytes count only the image pixel (the traffic
no cache can avoid).

Writes the tables to bench/results/slicing.md (or --out); docs/performance.md quotes them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import timing

ROOT = Path(__file__).resolve().parent.parent
RECOVAR_PYTHON = ROOT / ".venv-recovar" / "bin" / "python"
DISCS = ("nearest", "linear_interp", "cubic")
TOUCHED = {"nearest": 1, "linear_interp": 8, "cubic": 64}
RECOVAR_MEMORY = 2 * 2 ** 30   # bytes of intermediates recovar may use per call (machine is shared)


def recovar_batch(n, N, disc, op):
    """Largest divisor of n whose estimated recovar intermediates fit in RECOVAR_MEMORY: the
    cubic path materialises ~1 kB per pixel (64 stencil values and weights), the order-0/1
    backprojection one volume per image, the order-0/1 slice ~100 B per pixel."""
    if disc == "cubic":
        per_image = N * N * 1100
    elif op == "adjoint":
        per_image = N ** 3 * 8 * 2
    else:
        per_image = N * N * 100
    limit = max(1, RECOVAR_MEMORY // per_image)
    return max(d for d in range(1, n + 1) if n % d == 0 and d <= limit)


def pattern_slices(n, npix):
    """Fixed complex64 slices (n, npix), identical in both processes."""
    i = np.arange(n, dtype=np.float32)[:, None]
    p = np.arange(npix, dtype=np.float32)[None, :]
    return (np.cos(0.37 * i + 0.011 * p) + 1j * np.sin(0.23 * p - 0.5 * i)).astype(np.complex64)


def make_inputs(path, sizes, counts):
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(0)
    arrays = {}
    for N in sizes:
        arrays[f"volume_{N}"] = (rng.standard_normal(N ** 3) + 1j * rng.standard_normal(N ** 3)).astype(np.complex64)
    for n in counts:
        arrays[f"rotations_{n}"] = Rotation.random(n, random_state=n).as_matrix().astype(np.float32)
    np.savez(path, **arrays)


def cases_for(quick):
    sizes, counts = ((64,), (1000,)) if quick else ((64, 128), (1000, 4000))
    cases = []
    for N in sizes:
        for n in counts:
            for disc in DISCS:
                cases.append({"N": N, "n": n, "disc": disc, "half_volume": False, "key": f"{N}/{n}/{disc}"})
    if not quick:
        cases.append({"N": 128, "n": 1000, "disc": "linear_interp", "half_volume": True,
                      "key": "128/1000/linear_interp/half", "ours_only": True})
    return cases, sizes, counts


NOTES = """
## How the kernels are built, and what was measured while building them

* **Per image, per row of pixels, two passes.** Pass 1 computes each kept pixel's grid point
  and *locates* its cell (stored index, kind, fractions) and issues `llvm.prefetch` for the
  cell's cache lines; pass 2 interpolates (or scatters) from those locations. The volume
  (16 MiB at box 128, complex64) is read along oblique planes that no hardware prefetcher
  predicts; with one miss at a time the core mostly waits. Prefetching took the linear slice
  at box 128 from 69 to 30 ns/pixel (one thread, same process, interleaved runs), the
  backprojection from 66 to 35.
* **Comparisons in the coordinate type.** Julia compares Float32 with Int exactly, which is
  slow; comparing with Float32 bounds and clipping `kx² + ky²` against an integer bound took
  the linear slice from 14.3 to 9 ns/pixel at box 32 and from 26 to 12.5 ns/pixel at box 128.
* **Rows as runs (linear, full volume).** The kept pixels of a row have consecutive kx, so
  their cells are located in one branch-free, vectorised loop (`locate_cells!`, the idea of
  forward.jl's `locate_run!`), bit-identical to the per-pixel path: linear slice at box 128
  0.201 → 0.178 s for 1000 poses, backprojection 0.230 → 0.188 s (one thread).
* **Rows as runs (nearest).** A nearest slice locates the run of kept pixels of a row the
  same way (`locate_voxels!`: rounding half to even, in-grid test, Int32 stored index,
  negated for a conjugated half-volume voxel, all branch-free and vectorised), prefetches
  the voxels and does one gather per pixel, bit-identical to the per-pixel path (tested in
  test_rows.jl). One thread, 1000 poses, load 11–15, through the Python API: box 64
  0.064 → 0.039 s, box 128 0.281 → 0.226 s.
* **Four lanes per trilinear cell (complex float32).** A cell's eight corners are four
  pairs of axis-2 neighbours, each one unaligned 16-byte load; the lerps along axis 2, 1
  and 0 then run two complex values per vector operation (`trilinear_pairs`, plain LLVM IR
  on vector values through `llvmcall`), with the same operations as the scalar code, so
  the results are bit-identical (tested). About 20 instructions per pixel instead of 80.
  Half volumes read their conjugated cells (kz < 0) the same way, each pair load with its
  halves swapped and conjugated (half-volume linear slice, one thread: 8–30 % faster).
  The backprojection adds a directly stored cell's eight weighted values the same way, as
  four pair loads, adds and stores (bit-identical, tested): linear backprojection at box
  128, 1000 poses, one thread 0.34 → 0.18 s (measured after the tables above).
* **No per-pixel branches in the row loop.** Pixels outside the clip disk are zeroed in
  two plain loops before and after the run, and the rare cell that is not entirely in the
  grid is computed out of line: one thread, box 128, 1000 poses, 11.1 → 9.9 ns/pixel.
* **Fresh outputs faulted in up front.** A new 128 MiB NumPy output is faulted in page by
  page by whichever thread first writes to it, and the kernel zeroes each page through
  the cache the volume lives in. Touching one entry per 4 KiB page with both threads before
  the kernel starts (`touch_pages!`, outputs ≥ 16 MiB) keeps the zeroing out of the
  gathers: through the Python API, 2 threads, box 128, 1000 poses, about 0.065 s for a
  fresh output against 0.055 s for a reused one.
* **Where a pixel's time goes** (one thread, box 128, linear, same process, interleaved
  runs): locating the run ≈ 1.5–2 ns, issuing the prefetches ≈ 2 ns, the interpolation
  with every cell in L1 ≈ 2 ns (4 ns in all with data in L1), the actual kernel ≈ 8.5 ns
  with random poses: the rest is waiting for cache lines from L3.
* Tried and dropped: transparent huge pages for the volume (no change: TLB misses are not
  the limit), ordinary "touch" loads instead of prefetches (slower than nothing at box 128),
  non-temporal stores for the output (slower), prefetching one to four rows ahead instead
  of the row about to be interpolated (no change: the lines arrive in time, the L3
  bandwidth is the limit).
* **Single-thread cost per projected pixel** (1000 random poses, complex64, default
  max_r, quiet moments): nearest ≈ 4 (box 64) / 6–9 (box 128) ns; linear ≈ 8–9 / 12.5 ns
  slice (8.5–10 at box 128 after the vectorised cells) and 10 / 14 ns backprojection; cubic ≈ 53 ns at box 32 (84 complex multiply-adds
  per pixel) and 120–150 ns at box 128. Half volumes cost about 1.5× per pixel for linear
  (cells straddling kz = 0 are read voxel by voxel); half images backproject each packed
  pixel twice (itself and its conjugate partner).
* **Threads.** Projection hands out image blocks dynamically (a thread slowed down by other
  work does not hold up the call; results do not depend on the hand-out). Backprojection
  gives each thread a contiguous block of images and its own accumulator volume (thread 1
  writes straight into the output), reduced at the end, so its sums are rounded the same
  way in every run. While most figures were taken other users kept the 2 cores busy
  (load 3–5): even a trivially parallel compute loop ran only 1.15× faster on 2 threads,
  so the thread-scaling table says little about the kernels. In a quiet moment (load < 1;
  that loop: 2.2×), box 128, 1000 poses, 1 → 2 threads: linear slice 0.201 → 0.119 s
  (1.69×), linear backprojection 0.230 → 0.136 s (1.69×), cubic 1.9–2.1×, nearest
  backprojection 1.5×, nearest slice 1.13× (it is dominated by first-touch page faults of
  the freshly allocated 128 MiB output); recovar 1.0.5 at the same moment: linear slice
  0.53 s, nearest slice 0.30 s, linear backprojection 10 s (20 batches of 50 images).
* **Memory.** No per-image volumes and no per-pixel temporaries: backprojecting 20 000
  images of 128² (2.4 GiB of complex64 slices) grew the peak RSS by 21 MiB (one extra
  accumulator volume); projection allocates only its output.
* recovar 1.0.5 on CPU: its linear/nearest backprojection builds one volume per image
  (vmap) before summing, hence the large factors there; its cubic path materialises the
  4×4×4 stencil of every pixel.
"""


MIN_SECONDS = 2.0   # this machine's other tenants slow everything down in bursts of ~1 s
MAX_CALLS = 50


def median_time(fn, repeats):
    """Median of at least `repeats` calls and at least MIN_SECONDS of calls (at most
    MAX_CALLS), after one warm-up call: a short kernel is timed over more than one of the
    machine's slow bursts. recovar_slicing.py times recovar by the same rule."""
    return timing.median_time(fn, repeats, MIN_SECONDS, MAX_CALLS)


# ---- worker: recovar_jl in a subprocess with a fixed thread count -----------------------------

def worker(inputs, cases_json, repeats):
    from recovar_jl.core import slicing

    data = np.load(inputs)
    results = {}
    for case in json.loads(cases_json):
        N, n, disc, half = case["N"], case["n"], case["disc"], case["half_volume"]
        volume = data[f"volume_{N}"]
        if half:
            cols = list(range(N // 2, N)) + [0]
            volume = np.ascontiguousarray(volume.reshape(N, N, N)[..., cols]).reshape(-1)
        rotations = data[f"rotations_{n}"]
        slices = pattern_slices(n, N * N)
        shape = (N, N, N)
        results[case["key"]] = {
            "slice": median_time(lambda: slicing.slice_volume(volume, rotations, (N, N), shape, disc,
                                                              half_volume=half), repeats),
            "adjoint": median_time(lambda: slicing.adjoint_slice_volume(slices, rotations, (N, N), shape, disc,
                                                                        half_volume=half), repeats),
        }
        print(f"  recovar_jl {case['key']}: {results[case['key']]}", file=sys.stderr, flush=True)
    print(json.dumps(results))


def run_ours(inputs, cases, repeats, threads):
    env = dict(os.environ, RECOVAR_JL_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, __file__, "--worker", str(inputs), json.dumps(cases), str(repeats)],
                          env=env, capture_output=True, text=True)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"recovar_jl worker failed ({proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_recovar(inputs, cases, repeats):
    if not RECOVAR_PYTHON.exists():
        print(f"(no {RECOVAR_PYTHON}: recovar not timed)", file=sys.stderr)
        return {}
    results = {}
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    for case in cases:
        if case.get("ours_only"):
            continue
        results[case["key"]] = {}
        for op in ("slice", "adjoint"):
            batch = recovar_batch(case["n"], case["N"], case["disc"], op)
            request = [dict(case, n=batch, op=op, rotations_key=f"rotations_{case['n']}")]
            proc = subprocess.run([str(RECOVAR_PYTHON), str(Path(__file__).with_name("recovar_slicing.py")),
                                   str(inputs), json.dumps(request), str(repeats)],
                                  env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"recovar {case['key']} {op} failed (exit {proc.returncode}): "
                      f"{proc.stderr.strip().splitlines()[-1:] if proc.stderr.strip() else ''}", file=sys.stderr)
                continue
            t = json.loads(proc.stdout.strip().splitlines()[-1])[case["key"]][op]
            factor = case["n"] // batch
            results[case["key"]][op] = t * factor
            results[case["key"]][op + "_batch"] = batch
            print(f"recovar {case['key']} {op}: {t:.3f} s per {batch} images", file=sys.stderr, flush=True)
    return results


def copy_bandwidth(repeats=5):
    a = np.ones(32 * 2 ** 20)  # 256 MiB of float64
    b = np.empty_like(a)
    t = median_time(lambda: np.copyto(b, a), repeats)
    return 2 * a.nbytes / t


def fmt_time(t):
    return f"{t:.3f}" if t < 10 else f"{t:.1f}"


def report(cases, ours2, ours1, theirs, bandwidth, quick, repeats):
    lines = []
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    lines.append("# Performance: slicing and backprojection\n")
    lines.append(f"Machine: {os.cpu_count()} cores ({cpu}), shared with other users while measured, "
                 f"so figures are rough. NumPy copy bandwidth: **{bandwidth / 1e9:.1f} GB/s**. "
                 f"Medians of ≥ {repeats} calls and ≥ {MIN_SECONDS:g} s of calls after a warm-up call; recovar_jl with 2 Julia threads, "
                 f"recovar 1.0.5 with JAX on CPU. Inputs: complex64 full volume, float32 poses, complex64 "
                 f"full images, default max_r. Generated by `bench/bench_slicing.py{' --quick' if quick else ''}`.\n")
    lines.append("| box | poses | disc_type | operation | recovar (s) | recovar_jl (s) | speed-up | "
                 "Mpixel/s | touched GB/s (fraction) | streamed fraction |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        key = case["key"]
        N, n, disc = case["N"], case["n"], case["disc"]
        pixels = n * N * N
        for op in ("slice", "adjoint"):
            ours = ours2[key][op]
            ref = theirs.get(key, {}).get(op)
            batch = theirs.get(key, {}).get(op + "_batch", n)
            mark = f" †{batch}" if batch < n else ""
            speed = f"{ref / ours:.1f}×" if ref else "–"
            touched = pixels * 8 * (1 + TOUCHED[disc] * (1 if op == "slice" else 2)) / ours
            streamed = pixels * 8 / ours
            label = disc + (" (half volume)" if case["half_volume"] else "")
            lines.append(f"| {N} | {n} | {label} | {op} | {fmt_time(ref) + mark if ref else '–'} | {fmt_time(ours)} | "
                         f"{speed} | {pixels / ours / 1e6:.0f} | {touched / 1e9:.1f} ({touched / bandwidth:.2f}) | "
                         f"{streamed / bandwidth:.3f} |")
    lines.append("")
    lines.append("†b: recovar timed on batches of b images and multiplied by n/b: its cubic path keeps ~1 kB per "
                 "pixel and its order-0/1 backprojection one volume per image, which does not fit in memory for "
                 "all images at once on this shared machine (recovar's own pipelines also work in image batches).\n")
    lines.append("## Thread scaling (recovar_jl, RECOVAR_JL_NUM_THREADS = 1 → 2)\n")
    lines.append("| box | poses | disc_type | operation | 1 thread (s) | 2 threads (s) | scaling |")
    lines.append("|---|---|---|---|---|---|---|")
    for case in cases:
        key = case["key"]
        for op in ("slice", "adjoint"):
            t1, t2 = ours1[key][op], ours2[key][op]
            label = case["disc"] + (" (half volume)" if case["half_volume"] else "")
            lines.append(f"| {case['N']} | {case['n']} | {label} | {op} | {fmt_time(t1)} | {fmt_time(t2)} | "
                         f"{t1 / t2:.2f}× |")
    return "\n".join(lines) + "\n" + NOTES


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="box 64, 1000 poses only")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-recovar", action="store_true", help="time recovar_jl only")
    parser.add_argument("--cases", help="comma-separated case keys to run only, e.g. 64/1000/nearest,128/1000/linear_interp")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "slicing.md"))
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return
    cases, sizes, counts = cases_for(args.quick)
    if args.cases:
        keys = args.cases.split(",")
        unknown = sorted(set(keys) - {case["key"] for case in cases})
        if unknown:
            parser.error(f"--cases: unknown case keys {unknown}")
        cases = [case for case in cases if case["key"] in keys]
        sizes = sorted({case["N"] for case in cases})
        counts = sorted({case["n"] for case in cases})
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.npz"
        make_inputs(inputs, sizes, counts)
        bandwidth = copy_bandwidth()
        print(f"copy bandwidth {bandwidth / 1e9:.1f} GB/s", file=sys.stderr)
        # case by case, both programs back to back, so that they see similar load from
        # other users of the machine
        ours2, ours1, theirs = {}, {}, {}
        for case in cases:
            ours2.update(run_ours(inputs, [case], args.repeats, 2))
            ours1.update(run_ours(inputs, [case], args.repeats, 1))
            if not args.no_recovar:
                theirs.update(run_recovar(inputs, [case], args.repeats))
    text = report(cases, ours2, ours1, theirs, bandwidth, args.quick, args.repeats)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
