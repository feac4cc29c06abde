"""`recovar-jl reconstruct` at real sizes: end-to-end time against its two floors.

    .venv/bin/python bench/bench_reconstruct_scale.py --workdir /tmp/scale-data --label before

For each (box, particles), by default box 256 × 20,000, box 384 × 5,000 and box 384 × 20,000
(20 GB of stacks; the last shows the job with its fixed steps spread over more particles):

* simulate, once (kept under --workdir and reused by later runs): `recovar-jl simulate` of the
  demo phantom (`gaussian_atom_phantom(box)`) at 3 Å/pixel, SNR 1, seed 0, padding 2: the
  data bench/peers/compare.py makes, so the peers can run on the same stack
  (`compare.py --data DIR/box256_n20000 --first 3000`);
* read floor: every image read through the job's StackReader in the job's chunks, cold (the
  stack's pages dropped from the page cache with posix_fadvise(DONTNEED), which touches no
  other file; the pages still resident afterwards are counted with fincore when it exists)
  and warm (a second read);
* `recovar-jl reconstruct -v --pad PAD` in a subprocess, on the cold stack: wall time,
  images/s, the job's stage times and the child's peak resident memory (/usr/bin/time). The
  "backprojection" stage is the fused data + weight kernel alone on the same images (the
  kernel floor); its pixel rate (half-grid pixels located per second, each scattered into
  both accumulators) is compared with box 128's when box 128 is in the run.

The load average (/proc/loadavg) is recorded before and after every figure. Every step that
needs more than 3 GB (simulate at box ≥ 384, reconstruct at box ≥ 256) holds --lock
(default /tmp/bigmem.lock, the machine's shared lock: do not also wrap this script in
`flock` on it). Sizes: --sizes 256x20000 384x5000 384x20000, or --boxes 128 256 with --particles N;
--threads sets the job's Julia threads (RECOVAR_JL_NUM_THREADS). Writes a markdown table (--markdown) and the figures as JSON (--json).
Not a test: timings depend on the machine and its load.
"""
import argparse
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "recovar_jl.cli"]
VOXEL_SIZE = 3.0      # Å; with SNR and seed, the defaults of bench/peers/compare.py
SNR = 1.0
STAGE_ORDER = ("read", "read_wait", "fft", "ctf", "backprojection", "reduction", "final_transforms", "fsc",
               "wiener_filter", "checks", "postprocess", "write")


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as `uptime` prints them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextmanager
def big_memory(lock_path):
    """Hold the machine's shared lock for a step that needs more than 3 GB (none if empty)."""
    if not lock_path:
        yield
        return
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd):
    """Run `cmd` under /usr/bin/time; (wall seconds, stdout, the child's own peak RSS in GiB)."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "maxrss_kib=%M"] + cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}")
    peak = int(re.findall(r"maxrss_kib=(\d+)", proc.stderr)[-1]) / 2 ** 20
    return wall, proc.stdout, peak


def simulate(box, n, workdir, lock):
    """(DIR with particles.star/.mrcs and ground_truth.mrc for (box, n), seconds or None if reused)."""
    out = workdir / f"box{box}_n{n}"
    if (out / "particles.star").exists():
        return out, None
    from recovar_jl.jobs.mrc import write_volume
    from recovar_jl.jobs.phantom import gaussian_atom_phantom

    workdir.mkdir(parents=True, exist_ok=True)
    phantom = workdir / f"phantom{box}.mrc"
    if not phantom.exists():
        write_volume(phantom, gaussian_atom_phantom(box), VOXEL_SIZE)
    with big_memory(lock) if box >= 384 else nullcontext():
        wall, _, _ = _run(CLI + ["simulate", str(phantom), "--n-images", str(n), "--snr", str(SNR), "--seed", "0",
                                 "--out", str(out), "-q"])
    return out, wall


def resident_fraction(path):
    """Fraction of `path`'s pages in the page cache (fincore), or None without fincore."""
    if shutil.which("fincore") is None:
        return None
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES,SIZE", str(path)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None
    resident, size = (int(x) for x in out.stdout.split()[:2])
    return resident / max(size, 1)


def drop_cache(path):
    """Drop `path`'s pages from the page cache with posix_fadvise(DONTNEED); the fraction still
    resident afterwards (None if unknown). Dirty pages are written first (fdatasync), since
    DONTNEED leaves them. /proc/sys/vm/drop_caches is not used: it would empty the cache of
    every process on a shared machine."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return resident_fraction(path)


def read_floor(sim_dir):
    """Seconds to read every image of the stack through StackReader in the job's chunks, cold
    and warm; and the fraction of the stack resident after the drop."""
    from recovar_jl.jobs.mrc import StackReader
    from recovar_jl.jobs.prefetch import chunk_rows
    from recovar_jl.jobs.reconstruct import chunk_size_for
    from recovar_jl.jobs.star import read_particles

    ps = read_particles(sim_dir / "particles.star")
    resident = drop_cache(sim_dir / "particles.mrcs")
    times = []
    for _ in range(2):
        with StackReader(ps.star_path, ps.stack_paths, ps.stack_ids, ps.image_indices) as reader:
            t0 = time.perf_counter()
            for rows in chunk_rows(len(ps), chunk_size_for(reader.box)):
                reader.read(rows)
            times.append(time.perf_counter() - t0)
    return times[0], times[1], resident


def reconstruct(sim_dir, pad, lock):
    """`recovar-jl reconstruct -v` on the cold stack: (wall s, stage seconds, peak GiB, loads)."""
    out = sim_dir / "rec"
    resident = drop_cache(sim_dir / "particles.mrcs")
    with big_memory(lock):
        load_before = load_average()
        wall, stdout, peak = _run(CLI + ["reconstruct", str(sim_dir / "particles.star"), "--out", str(out),
                                         "--pad", f"{pad:g}", "-q", "-v"])
        load_after = load_average()
        quality = truth_quality(out / "map.mrc", sim_dir)   # a few box³ complex arrays
    line = next(l for l in stdout.splitlines() if l.startswith("stage times (s):"))
    stages = {k: float(v) for k, v in re.findall(r"(\w+) ([0-9.]+)", line.split(":", 1)[1].split(";")[0])}
    return wall, stages, peak, (load_before, load_after), resident, quality


def truth_quality(map_path, sim_dir):
    """FSC of the map against the simulation's truth, as bench/peers/compare.py measures it."""
    sys.path.insert(0, str(REPO / "bench" / "peers"))
    from compare import map_quality, truth_mask
    from recovar_jl.jobs.mrc import read_volume

    truth, voxel_size = read_volume(sim_dir / "ground_truth.mrc")
    volume, _ = read_volume(map_path)
    quality = map_quality(volume, truth, voxel_size, truth_mask(truth)[0])
    return {name: {k: v for k, v in q.items() if k != "curve"} for name, q in quality.items()}


def git_commit():
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    return proc.stdout.strip() or "unknown"


def measure(box, n, pad, workdir, lock):
    """One row of the table (a dict)."""
    sim_dir, sim_wall = simulate(box, n, workdir, lock)
    load_read = load_average()
    cold, warm, resident = read_floor(sim_dir)
    wall, stages, peak, loads, resident_job, gt = reconstruct(sim_dir, pad, lock)
    p = int(round(pad * box))
    p += p % 2
    pixels = n * p * (p // 2 + 1)               # half-grid pixels, each into data and weights
    kernel = stages["backprojection"]
    return dict(box=box, n=n, pad=pad, stack_gb=n * box * box * 4 / 1e9, simulate_s=sim_wall, read_cold_s=cold,
                read_warm_s=warm, resident_after_drop=resident, resident_before_job=resident_job,
                load_read=load_read, load_before=loads[0], load_after=loads[1], wall_s=wall, stages=stages,
                peak_gib=peak, images_per_s=n / wall, truth=gt,
                kernel_images_per_s=n / kernel, kernel_mpix_per_s=pixels / kernel / 1e6,
                threads=os.environ.get("RECOVAR_JL_NUM_THREADS", "default"))


def _quality_text(quality) -> str:
    def one(q):
        res = q["fsc05_angstrom"]
        return f"{'beyond Nyquist' if res is None else f'{res:.2f} Å'}, {q['fsc_at_0.8_nyquist']:.3f}"
    return f"{one(quality['unmasked'])} ({one(quality['masked'])})"


def markdown(rows, label, commit) -> str:
    lines = [f"{label} (commit {commit}; load averages 1/5/15 min before → after each job)", "",
             "| box × particles (pad) | stack | end-to-end (job) | images/s | read cold / warm | kernel alone (images/s) | "
             "end-to-end / larger floor | stage times (s) | kernel Mpix/s | peak RSS | FSC vs truth: 0.5, @0.8 Nyquist "
             "(masked) | load |",
             "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---|"]
    for r in rows:
        s = r["stages"]
        floor = max(r["read_cold_s"], s["backprojection"])
        named = [k for k in STAGE_ORDER if k in s] + sorted(set(s) - set(STAGE_ORDER) - {"total"})
        other = s.get("total", r["wall_s"]) - sum(s[k] for k in named if k != "read")   # read: the reader thread
        stage_text = ", ".join(f"{k} {s[k]:.1f}" for k in named) + f", other {other:.1f}"
        resident = r["resident_after_drop"]
        cold_note = "" if resident is None else f", {resident:.0%} resident after drop"
        lines.append(
            f"| {r['box']} × {r['n']:,} ({r['pad']:g}) | {r['stack_gb']:.2f} GB | {r['wall_s']:.1f} s "
            f"({s.get('total', float('nan')):.1f} s) | {r['images_per_s']:.1f} | "
            f"{r['read_cold_s']:.2f} / {r['read_warm_s']:.2f} s{cold_note} | {s['backprojection']:.1f} s "
            f"({r['n'] / s['backprojection']:.0f}) | {r['wall_s'] / floor:.2f} | {stage_text} | {r['kernel_mpix_per_s']:.1f} | {r['peak_gib']:.2f} GiB | "
            f"{_quality_text(r['truth'])} | {r['load_before']} → {r['load_after']} |")
    by_box = {r["box"]: r["kernel_mpix_per_s"] for r in rows}
    if 128 in by_box:
        lines.append("")
        lines += [f"kernel pixel rate, box {box} / box 128: {rate / by_box[128]:.0%}" for box, rate in sorted(by_box.items())]
    return "\n".join(lines) + "\n"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="box 64 and 128, 2,000 particles each")
    parser.add_argument("--sizes", nargs="*", default=None, metavar="BOXxN",
                        help="e.g. 128x20000 256x20000 (default: 256x20000 384x5000 384x20000)")
    parser.add_argument("--boxes", nargs="*", type=int, default=None, help="boxes, each with --particles particles")
    parser.add_argument("--particles", type=int, default=20000, help="particles per box with --boxes")
    parser.add_argument("--pad", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=None, help="Julia threads of the job (default: its own)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/recovar_jl_bench_scale"))
    parser.add_argument("--label", default="recovar-jl reconstruct", help="title of the table (e.g. before, after)")
    parser.add_argument("--lock", default="/tmp/bigmem.lock", help="lock file held by the big steps ('' for none)")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "reconstruct_scale.json")
    parser.add_argument("--markdown", type=Path, default=REPO / "bench" / "results" / "reconstruct_scale.md")
    args = parser.parse_args(argv)
    if args.threads is not None:
        os.environ["RECOVAR_JL_NUM_THREADS"] = str(args.threads)
    sizes = args.sizes or [f"{box}x{args.particles}" for box in args.boxes or ()] or \
        (["64x2000", "128x2000"] if args.quick else ["256x20000", "384x5000", "384x20000"])
    specs = []
    for spec in sizes:
        try:
            box, n = (int(x) for x in spec.lower().split("x"))
        except ValueError:
            parser.error(f"--sizes: expected BOXxN such as 256x20000, got {spec!r}")
        specs.append((box, n))
    rows, commit = [], git_commit()
    for box, n in specs:
        rows.append(measure(box, n, args.pad, args.workdir, args.lock))
        print(json.dumps(rows[-1]), flush=True)
        table = markdown(rows, args.label, commit)   # written after every row: a long run keeps what it measured
        for path, text in ((args.json, json.dumps({"label": args.label, "commit": commit, "rows": rows}, indent=1)),
                           (args.markdown, table)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    print("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
