"""`recovar-jl reconstruct` in process and on a local Dask cluster of 1 and 2 workers.

Simulates a stack (default box 128, 4,000 particles; --quick: box 64, 2,000), then times
the reconstruct job in this process (Julia warmed first) and with `--scheduler` on warmed
LocalClusters (the job first, then the backprojection alone, so that both see planned FFTs) of 1 worker × all cores and N workers × cores/N Julia threads. Reports
images/s of the whole job and of the distributed backprojection alone, the peak resident
memory of each worker (sampled every 0.2 s), bytes the workers read from the stacks, and
the bytes Dask moved between processes during the backprojection (its
`transfer_outgoing_bytes_total` counters: merges between workers and the sum sent to the client). Writes a markdown table and
bench/results/distributed.json. Not a test: timings depend on the machine and its load.

    python bench/bench_distributed.py [--quick] [--box 128] [--n 4000] [--workers 1,2]
"""
import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

here = Path(__file__).resolve().parent


def _peak_rss_sampler(client, stop, peaks):
    import psutil

    def rss():
        return psutil.Process().memory_info().rss

    while not stop.is_set():
        try:
            for addr, value in client.run(rss).items():
                peaks[addr] = max(peaks.get(addr, 0), value)
        except Exception:
            pass
        stop.wait(0.2)


def _inputs(star):
    from recovar_jl.jobs.reconstruct import Backprojector, split_halves
    from recovar_jl.jobs.star import read_particles

    particles = read_particles(star)
    halves = split_halves(len(particles), np.random.default_rng(0))
    return particles, halves, Backprojector(particles.box, particles.voxel_size)


def backprojection_in_process(star, chunk):
    from recovar_jl.jobs.mrc import StackReader
    from recovar_jl.jobs.reconstruct import backproject_rows

    particles, halves, bp = _inputs(star)
    t0 = time.perf_counter()
    with StackReader(particles.star_path, particles.stack_paths, particles.stack_ids, particles.image_indices) as r:
        backproject_rows(bp, r, particles, halves, 0, len(particles), chunk)
    return time.perf_counter() - t0


def run_distributed(star, out, workers, threads, chunk):
    from distributed import Client, LocalCluster

    from recovar_jl.jobs.cluster import ClusterOptions, WarmJulia
    from recovar_jl.jobs.commands import reconstruct_job
    from recovar_jl.jobs.distributed import _bytes_moved, backproject_star

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.CRITICAL, env={"RECOVAR_JL_NUM_THREADS": str(threads)}) as cluster, \
            Client(cluster) as client:
        t0 = time.perf_counter()
        client.register_plugin(WarmJulia(threads))
        warm = time.perf_counter() - t0
        options = ClusterOptions(scheduler=cluster.scheduler_address)
        # The job first (as in process): it pays the workers' FFTW planning for this box.
        peaks, stop = {}, threading.Event()
        sampler = threading.Thread(target=_peak_rss_sampler, args=(client, stop, peaks), daemon=True)
        sampler.start()
        result = reconstruct_job(star, out, chunk_size=chunk, quiet=True, cluster=options)
        stop.set()
        sampler.join()
        particles, halves, bp = _inputs(star)
        before = _bytes_moved(client)
        t0 = time.perf_counter()
        backproject_star(options, particles, halves, bp, chunk, say=lambda _: None)
        backprojection = time.perf_counter() - t0
        moved = _bytes_moved(client) - before
    return {"workers": workers, "julia_threads": threads, "seconds": result["seconds"], "warm_up_seconds": warm,
            "backprojection_seconds": backprojection,
            "worker_peak_rss_bytes": sorted(peaks.values()), "dask_transfer_bytes": moved}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--box", type=int, default=None)
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--keep", default=None, help="directory to keep the simulated stack in (reused if present)")
    args = parser.parse_args(argv)
    box = args.box or (64 if args.quick else 128)
    n = args.n or (2000 if args.quick else 4000)
    cores = os.cpu_count() or 1

    from recovar_jl.jobs.cluster import warm_kernels
    from recovar_jl.jobs.commands import reconstruct_job, simulate_job
    from recovar_jl.jobs.phantom import gaussian_atom_phantom

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_distributed_"))
    star = work / "sim" / "particles.star"
    if not star.exists():
        simulate_job(gaussian_atom_phantom(box), 3.0, work / "sim", n, 1.0, quiet=True)
    stack_bytes = n * box * box * 4
    warm_kernels()
    rows = []
    local = reconstruct_job(star, work / "rec_local", chunk_size=args.chunk, quiet=True)
    rows.append({"workers": 0, "julia_threads": cores, "seconds": local["seconds"],
                 "backprojection_seconds": backprojection_in_process(star, args.chunk)})
    for w in (int(x) for x in args.workers.split(",")):
        rows.append(run_distributed(star, work / f"rec_{w}", w, max(1, cores // w), args.chunk))
    p = 2 * box
    accumulator = 2 * (p ** 3 * 8 + p ** 3 * 4)
    print(f"box {box}, {n} particles ({stack_bytes / 1e6:.0f} MB of stack), padded box {p}, "
          f"one accumulator {accumulator / 1e6:.0f} MB, {cores} cores, load {os.getloadavg()[0]:.1f}\n")
    print("| run | job s | job images/s | backprojection s | images/s | worker peak RSS (GB) | bytes read by "
          "workers | Dask transfers |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        name = "in process" if r["workers"] == 0 else f"{r['workers']} worker(s) × {r['julia_threads']} threads"
        rss = ", ".join(f"{b / 1e9:.2f}" for b in r.get("worker_peak_rss_bytes", [])) or "–"
        read = f"{stack_bytes / 1e6:.0f} MB" if r["workers"] else "–"
        moved = f"{r['dask_transfer_bytes'] / 1e6:.0f} MB" if r["workers"] else "–"
        bp_s = r["backprojection_seconds"]
        print(f"| {name} | {r['seconds']:.1f} | {n / r['seconds']:.0f} | {bp_s:.1f} | {n / bp_s:.0f} | {rss} | "
              f"{read} | {moved} |")
    results = here / "results"
    results.mkdir(exist_ok=True)
    (results / "distributed.json").write_text(json.dumps(
        {"box": box, "n": n, "cores": cores, "stack_bytes": stack_bytes, "accumulator_bytes": accumulator,
         "load": os.getloadavg()[0], "runs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
