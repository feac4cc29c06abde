"""`recovar-jl reconstruct`'s steps after the last chunk: wall and CPU time of each.

    flock /tmp/bigmem.lock .venv/bin/python bench/bench_map_steps.py STAR --first 300 --out /tmp/mapsteps-out

Runs the job in this process on the first ``--first`` particles of STAR (a copy of the STAR
file with only those rows is written under --out; the stacks are read where they are) with
``--pad`` (default 2), and times from outside, by wrapping the functions the job calls, the
backprojection of all chunks and each step after it: reduction (shell sums, padded-grid FSC),
final_transforms (the maps), fsc (half maps, D³ grid), wiener_filter, checks, postprocess and
write. CPU is ``time.process_time`` (every thread of the process): steadier than wall time on
a shared machine. The wrapping does not depend on the job's own stage names, so the same
script times older commits. Box 384 at pad 2 needs ~7 GB: hold the machine's memory lock.
Not a test: timings depend on the machine and its load (printed before and after).
"""
import argparse
import functools
import resource
import time
from pathlib import Path

from recovar_jl.jobs import commands, reconstruct

STEPS = [(reconstruct, "_WienerShells", "reduction"), (reconstruct, "cropped_real_map", "final_transforms"),
         (reconstruct, "fsc_real", "fsc"), (commands, "filter_full_map", "wiener_filter"),
         (commands, "contrast_warning", "checks"), (commands, "postprocess", "postprocess"),
         (commands, "_write_reconstruction", "write"), (commands, "write_postprocess", "write"),
         (commands, "backproject_rows", "backprojection (all chunks)")]


def first_rows(star: Path, n: int, out: Path) -> Path:
    """A copy of the STAR file with the first n rows of its last table (the particles)."""
    lines = star.read_text().splitlines()
    header_end = max(i for i, line in enumerate(lines) if line.startswith("_rln"))
    rows = [line for line in lines[header_end + 1:] if line.strip()][:n]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "particles.star"
    stack_names = {row.split()[0].split("@", 1)[1] for row in rows if "@" in row.split()[0]}
    for name in stack_names:   # the stacks stay where they are: links beside the copy
        link = out / name
        if not link.exists():
            link.symlink_to((star.parent / name).resolve())
    path.write_text("\n".join(lines[:header_end + 1] + rows) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("star", type=Path)
    ap.add_argument("--first", type=int, default=300)
    ap.add_argument("--pad", type=float, default=2.0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    times = {}

    def wrap(module, attr, name):
        inner = getattr(module, attr)

        @functools.wraps(inner)
        def timed(*a, **k):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return inner(*a, **k)
            finally:
                entry = times.setdefault(name, [0.0, 0.0])
                entry[0] += time.perf_counter() - wall
                entry[1] += time.process_time() - cpu
        setattr(module, attr, timed)

    for module, attr, name in STEPS:
        wrap(module, attr, name)
    star = first_rows(args.star, args.first, args.out / "input")
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    start = time.perf_counter()
    commands.reconstruct_job(star, args.out / "maps", quiet=True, pad=args.pad)
    wall = time.perf_counter() - start
    print(f"load {load} -> {' '.join(Path('/proc/loadavg').read_text().split()[:3])}; job {wall:.1f} s; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20:.2f} GiB")
    after = [v for k, v in times.items() if not k.startswith("backprojection")]
    for name, (w, c) in list(times.items()) + [("steps after backprojection", [sum(v[0] for v in after),
                                                                             sum(v[1] for v in after)])]:
        print(f"  {name:28s} wall {w:7.2f} s  cpu {c:7.2f} s")


if __name__ == "__main__":
    main()
