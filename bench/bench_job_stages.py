"""Every timed stage call of one `recovar-jl reconstruct` run: wall and process CPU per call.

    .venv/bin/python bench/bench_job_stages.py LOG.json reconstruct STAR --out DIR [reconstruct options]

Runs the CLI in this process with `Backprojector.stage` wrapped, writes every call as
(stage, start s, wall s, CPU s, load) to LOG.json, and prints for the "fft" and
"backprojection" stages the totals, the first call (compilation, first touch) and the
median call. Drop the stack from the page cache first for a cold run (see
bench_reconstruct_scale.drop_cache). Not a test.
"""
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from recovar_jl.jobs import reconstruct  # noqa: E402

calls = []
T0 = time.perf_counter()


@contextmanager
def timed_stage(self, name):
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        wall = time.perf_counter() - t0
        self.timings[name] = self.timings.get(name, 0.0) + wall
        calls.append((name, t0 - T0, wall, time.process_time() - c0, open("/proc/loadavg").read().split()[0]))


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    reconstruct.Backprojector.stage = timed_stage
    from recovar_jl.cli import main as cli

    try:
        cli(sys.argv[2:])
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise
    Path(sys.argv[1]).write_text(json.dumps(calls))
    for name in ("fft", "backprojection"):
        rows = [c for c in calls if c[0] == name]
        if not rows:
            continue
        wall, cpu = np.array([c[2] for c in rows]), np.array([c[3] for c in rows])
        print(f"{name}: {len(rows)} calls, wall {wall.sum():.2f} s, CPU {cpu.sum():.2f} s; first call "
              f"{wall[0]:.2f} / {cpu[0]:.2f} s; median call {1e3 * np.median(wall):.1f} / {1e3 * np.median(cpu):.1f} ms")


if __name__ == "__main__":
    main()
