"""`recovar-jl reconstruct` at real sizes: end-to-end time against its two floors.

For each (box, particles): simulate a stack from the Gaussian-atom phantom with
`recovar-jl simulate` (kept under --workdir and reused by later runs), then

* read floor: the whole stack read through the job's StackReader, cold (the stack's pages
  dropped from the page cache with posix_fadvise(DONTNEED), which needs no privileges; or
  `echo 3 > /proc/sys/vm/drop_caches` when permitted) and warm (a second read);
* `recovar-jl reconstruct -v` in a subprocess: wall time, images/s, the job's stage times
  and its peak resident memory; the "backprojection" stage is the fused data + weight kernel
  alone on the same images (the kernel floor); its pixel rate (half-grid pixels located per
  second, each scattered into both accumulators) is compared with box 128's.

Prints a markdown table and writes the rows as JSON. Sizes: --sizes 256x20000 384x5000, or
--boxes 128 256 with --particles N; defaults box 128 × 20,000, box 256 × 20,000, box 384 ×
5,000 (about 10 GB of stacks under --workdir); --quick: box 64 × 2,000 and box 128 × 2,000.
--threads sets the job's Julia threads (RECOVAR_JL_NUM_THREADS). Big: run under
`flock /tmp/bigmem.lock`. Not a test: timings depend on the machine and its load.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "recovar_jl.cli"]


def _run(cmd):
    """Run `cmd` under /usr/bin/time; (wall seconds, stdout, the child's own peak RSS in GiB)."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "maxrss_kib=%M"] + cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}")
    peak = int(re.findall(r"maxrss_kib=(\d+)", proc.stderr)[-1]) / 2 ** 20
    return wall, proc.stdout, peak


def simulate(box, n, workdir):
    """DIR with particles.star/.mrcs and ground_truth.mrc for (box, n); made once."""
    out = workdir / f"box{box}_n{n}"
    if (out / "particles.star").exists():
        return out, None
    import numpy as np
    from scipy.ndimage import zoom

    from recovar_jl.jobs.mrc import write_volume
    from recovar_jl.jobs.phantom import gaussian_atom_phantom

    workdir.mkdir(parents=True, exist_ok=True)
    phantom = workdir / f"phantom{box}.mrc"
    # The phantom and simulate hold several box³/P³ arrays (20 GB at box 384 when this was
    # written): above box 256 the phantom is box 128's, interpolated, and simulate pads 1×.
    small = min(box, 256)
    volume = gaussian_atom_phantom(small if box <= 256 else 128).astype(np.float32)
    if volume.shape[0] != box:
        volume = zoom(volume, box / volume.shape[0], order=1).astype(np.float32)
    write_volume(phantom, volume, 1.5)
    pad = ["--pad", "1"] if box > 256 else []
    wall, _, _ = _run(CLI + ["simulate", str(phantom), "--n-images", str(n), "--snr", "0.1", "--out", str(out),
                             "-q"] + pad)
    return out, wall


def drop_cache(path):
    """Drop `path`'s pages from the page cache; the method used."""
    try:
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            os.sync()
            fh.write("3\n")
        return "drop_caches"
    except OSError:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        return "fadvise"


def read_floor(sim_dir):
    """Seconds to read every image of the stack through StackReader, cold and warm."""
    from recovar_jl.jobs.prefetch import chunk_rows
    from recovar_jl.jobs.mrc import StackReader
    from recovar_jl.jobs.reconstruct import chunk_size_for
    from recovar_jl.jobs.star import read_particles

    ps = read_particles(sim_dir / "particles.star")
    method = drop_cache(sim_dir / "particles.mrcs")
    times = []
    for _ in range(2):
        with StackReader(ps.star_path, ps.stack_paths, ps.stack_ids, ps.image_indices) as reader:
            t0 = time.perf_counter()
            for rows in chunk_rows(len(ps), chunk_size_for(reader.box)):
                reader.read(rows)
            times.append(time.perf_counter() - t0)
    return times[0], times[1], method


def reconstruct(sim_dir, pad):
    out = sim_dir / "rec"
    wall, stdout, peak = _run(CLI + ["reconstruct", str(sim_dir / "particles.star"), "--out", str(out),
                                     "--pad", str(pad), "-q", "-v"])
    line = next(l for l in stdout.splitlines() if l.startswith("stage times (s):"))
    stages = {k: float(v) for k, v in re.findall(r"(\w+) ([0-9.]+)", line.split(":", 1)[1].split(";")[0])}
    return wall, stages, peak


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="box 64 and 128, 2,000 particles each")
    parser.add_argument("--sizes", nargs="*", default=None, metavar="BOXxN",
                        help="e.g. 256x20000 384x5000 (default: 128x20000 256x20000 384x5000)")
    parser.add_argument("--boxes", nargs="*", type=int, default=None, help="boxes, each with --particles particles")
    parser.add_argument("--particles", type=int, default=20000, help="particles per box with --boxes")
    parser.add_argument("--pad", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=None, help="Julia threads of the job (default: its own)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/recovar_jl_bench_scale"),
                        help="stacks (kept and reused by later runs) and the maps")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "reconstruct_scale.json")
    args = parser.parse_args(argv)
    if args.threads is not None:
        os.environ["RECOVAR_JL_NUM_THREADS"] = str(args.threads)
    sizes = args.sizes or [f"{box}x{args.particles}" for box in args.boxes or ()] or \
        (["64x2000", "128x2000"] if args.quick else ["128x20000", "256x20000", "384x5000"])
    rows = []
    for spec in sizes:
        box, n = (int(x) for x in spec.lower().split("x"))
        sim_dir, sim_wall = simulate(box, n, args.workdir)
        cold, warm, method = read_floor(sim_dir)
        wall, stages, peak = reconstruct(sim_dir, args.pad)
        p = int(round(args.pad * box))
        p += p % 2
        pixels = n * p * (p // 2 + 1)               # half-grid pixels, each into data and weights
        kernel = stages["backprojection"]
        rows.append(dict(box=box, n=n, stack_gb=n * box * box * 4 / 1e9, simulate_s=sim_wall, read_cold_s=cold,
                         read_warm_s=warm, cache_method=method, wall_s=wall, stages=stages, peak_gib=peak,
                         images_per_s=n / wall, kernel_images_per_s=n / kernel,
                         kernel_mpix_per_s=pixels / kernel / 1e6, load=os.getloadavg()[0],
                         threads=os.environ.get("RECOVAR_JL_NUM_THREADS", "default")))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| box × particles | stack | end-to-end | images/s | read cold / warm | kernel alone (images/s) | "
          "end-to-end / larger floor | stage times (s) | kernel Mpix/s | peak RSS | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in rows:
        s = r["stages"]
        floor = max(r["read_cold_s"], s["backprojection"])
        stage_text = ", ".join(f"{k} {s[k]:.1f}" for k in ("read", "read_wait", "fft", "ctf", "backprojection",
                                                            "reduction", "final_transforms") if k in s)
        print(f"| {r['box']} × {r['n']:,} | {r['stack_gb']:.2f} GB | {r['wall_s']:.1f} s | {r['images_per_s']:.0f} | "
              f"{r['read_cold_s']:.2f} / {r['read_warm_s']:.2f} s ({r['cache_method']}) | {s['backprojection']:.1f} s "
              f"({r['kernel_images_per_s']:.0f}) | {r['wall_s'] / floor:.2f} | {stage_text} | "
              f"{r['kernel_mpix_per_s']:.1f} | {r['peak_gib']:.1f} GiB | {r['load']:.1f} |")
    by_box = {r["box"]: r["kernel_mpix_per_s"] for r in rows}
    if 128 in by_box:
        for box, rate in sorted(by_box.items()):
            print(f"kernel pixel rate, box {box} / box 128: {rate / by_box[128]:.0%}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
