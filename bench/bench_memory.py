"""Peak memory and time of the phantom and of `simulate` at real box sizes (issue #16).

    .venv/bin/python bench/bench_memory.py                                   # boxes 400 and 512 (≈ 8 GB)
    .venv/bin/python bench/bench_memory.py --quick                           # boxes 128 and 192
    .venv/bin/python bench/bench_memory.py --boxes 256 --n-images 300 3000

Each step runs in a fresh process and reports its own peak resident memory (ru_maxrss,
Python + Julia + arrays + the stack's pages in flight) next to the estimate the jobs check
before they start (`recovar_jl.jobs.memory`, runtime allowance included). `simulate` runs at
two particle counts to show that the peak does not grow with it. Not a test: times depend
on the machine's load.
"""
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(argv):
    step = argv[0]
    t0, c0 = time.perf_counter(), time.process_time()
    if step == "phantom":
        from recovar_jl.jobs.mrc import write_volume
        from recovar_jl.jobs.phantom import gaussian_atom_phantom

        box, out = int(argv[1]), argv[2]
        volume = gaussian_atom_phantom(box)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        write_volume(out, volume, 3.0)
    else:
        from recovar_jl.cli import main

        code = main(["simulate", argv[1], "--n-images", argv[2], "--snr", "1", "--out", argv[3], "--pad", argv[4], "-q"])
        if code:
            sys.exit(code)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak": peak}))


def _run(args):
    done = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{args[0]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="boxes 128 and 192")
    parser.add_argument("--boxes", type=int, nargs="+", default=None)
    parser.add_argument("--n-images", type=int, nargs=2, default=(300, 3000), metavar=("FEW", "MANY"))
    parser.add_argument("--pad", type=float, default=2.0)
    args = parser.parse_args(argv)
    boxes = args.boxes or ([128, 192] if args.quick else [400, 512])
    sys.path.insert(0, str(ROOT))
    from recovar_jl.jobs import memory
    from recovar_jl.jobs.phantom import estimated_peak_bytes as phantom_bytes

    print("| step | box | particles | wall (s) | CPU (s) | peak RSS (GB) | estimate (GB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for box in boxes:
        with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
            volume = Path(tmp) / "map.mrc"
            r = _run(["phantom", box, volume])
            print(f"| phantom | {box} | – | {r['seconds']:.1f} | {r['cpu']:.1f} | {r['peak'] / 1e9:.2f} | "
                  f"{phantom_bytes(box) / 1e9:.2f} (arrays only) |", flush=True)
            for n in args.n_images:
                out = Path(tmp) / f"sim{n}"
                r = _run(["simulate", volume, n, out, args.pad])
                estimate = memory.simulate_bytes(box, args.pad, n) + memory.RUNTIME_BYTES
                print(f"| simulate, pad {args.pad:g} | {box} | {n} | {r['seconds']:.1f} | {r['cpu']:.1f} | "
                      f"{r['peak'] / 1e9:.2f} | {estimate / 1e9:.2f} |", flush=True)
                for f in out.iterdir():
                    f.unlink()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    else:
        sys.exit(main(sys.argv[1:]))
