"""The reconstruct job's backprojection calls, timed inside the job (wall and process CPU).

Runs the job's chunk loop (`backproject_rows`: reader, FFT stage, CTF, fused kernel) on the
first N particles of a STAR file and times every fused-kernel call, in Python and inside the
Julia call; reports Mpix per CPU-second (half-grid pixels) overall, of the first calls
(compilation, first touch of the accumulators) and of the rest. Not a test.

    flock /tmp/bigmem.lock .venv/bin/python bench/bench_pair_in_job.py STAR N MODE [CHUNK]

MODE: ``kernel`` (the CTF evaluated in the kernel) or ``arrays`` (the former (m_data,
m_weight) arrays built in Python); CHUNK default: the job's ``chunk_size_for(box)``.
"""
import sys, time
import numpy as np
from recovar_jl.jobs import ops, reconstruct, commands
from recovar_jl.jobs.ctf_modes import CtfModes
from recovar_jl.jobs.optics import open_particle_reader

star, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stats = {"calls": 0, "images": 0, "wall": 0.0, "cpu": 0.0}

def timed(fn):
    def wrapper(data, weights, spectra, *args):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(data, weights, spectra, *args)
        stats["wall"] += time.perf_counter() - t0
        stats["cpu"] += time.process_time() - c0
        stats["calls"] += 1
        stats["images"] += spectra.shape[0]
        stats.setdefault("per_call", []).append((time.process_time() - c0) / spectra.shape[0])
    return wrapper

import recovar_jl._julia as _jl
_call = _jl.call
stats["jwall"] = stats["jcpu"] = 0.0
def jcall(name, *args):
    if not name.startswith("backproject_pair"):
        return _call(name, *args)
    t0, c0 = time.perf_counter(), time.process_time()
    out = _call(name, *args)
    stats["jwall"] += time.perf_counter() - t0
    stats["jcpu"] += time.process_time() - c0
    return out
_jl.call = jcall
ops.backproject_pair_into = timed(ops.backproject_pair_into)
ops.backproject_pair_ctf_into = timed(ops.backproject_pair_ctf_into)

class ArrayModes(CtfModes):   # the former path: (m_data, m_weight) arrays built in Python
    def kernel_ctf(self, *args):
        return self.multipliers(*args)[0]

particles = commands.read_particle_file(star)
particles = particles.select(np.arange(n))
halves = reconstruct.split_halves(n, np.random.default_rng(0))
with open_particle_reader(particles) as reader:
    box = reader.box
    bp = reconstruct.Backprojector(box, particles.voxel_size, ctf_modes=ArrayModes() if mode == "arrays" else CtfModes())
    chunk = int(sys.argv[4]) if len(sys.argv) > 4 else reconstruct.chunk_size_for(box)
    print("load", open("/proc/loadavg").read().split()[:3], "chunk", chunk, flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    reconstruct.backproject_rows(bp, reader, particles, halves, 0, n, chunk)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
p = bp.padded_box
npix = p * (p // 2 + 1)
mpix = stats["images"] * npix / 1e6
print(f"{mode}: {n} images box {box} P {p}: total wall {wall:.1f} s cpu {cpu:.1f} s; stages",
      {k: round(v, 2) for k, v in bp.timings.items()})
print(f"kernel calls {stats['calls']} ({stats['images'] / max(stats['calls'], 1):.1f} images each): wall {stats['wall']:.1f} s "
      f"cpu {stats['cpu']:.1f} s -> {mpix / stats['wall']:.2f} Mpix/s, {mpix / stats['cpu']:.2f} Mpix per cpu-second")
pc = np.array(stats["per_call"]) * 1e3
print(f"  cpu ms per image: first 3 calls {np.round(pc[:3], 1)}, median of the rest {np.median(pc[3:]):.1f} "
      f"-> {npix / 1e3 / np.median(pc[3:]):.2f} Mpix per cpu-second")
print(f"  of which inside the Julia call: wall {stats['jwall']:.1f} s cpu {stats['jcpu']:.1f} s")
print("load", open("/proc/loadavg").read().split()[:3], flush=True)
