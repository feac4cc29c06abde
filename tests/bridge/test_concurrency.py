"""Many Python threads calling mixed kernels at once get exactly what serial calls get.

The stress run lasts RECOVAR_JL_STRESS_SECONDS seconds (default 30) with 8 threads; every
result is compared with the serial result of the same call. A Ctrl-C during a long real
kernel (a backprojection) leaves the package usable (the bridge's own test covers the
`busy_wait` kernel; this one covers a kernel that touches caller arrays).
"""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from generators import crandn, ctf_rows, random_rotations

from recovar_jl import _julia

STRESS_SECONDS = float(os.environ.get("RECOVAR_JL_STRESS_SECONDS", "30"))
N_THREADS = 8


def _jobs():
    """(name, thunk) pairs over every kernel family that has landed; each thunk is pure."""
    rng = np.random.default_rng(7)
    N = 16
    jobs = [("noop", lambda: (_julia.call("noop"), np.zeros(1))[1])]
    try:
        from recovar_jl.core import slicing
    except ImportError:  # pragma: no cover - module not landed
        slicing = None
    if slicing is not None:
        vol = crandn(rng, N ** 3, dtype=np.complex64)
        vol64 = vol.astype(np.complex128)
        rot = random_rotations(12, rng, np.float32)
        rot64 = rot.astype(np.float64)
        imgs = crandn(rng, 12, N * N, dtype=np.complex64)
        shp, vshp = (N, N), (N, N, N)
        jobs += [
            ("slice_linear", lambda: slicing.slice_volume(vol, rot, shp, vshp, "linear_interp")),
            ("slice_nearest_half", lambda: slicing.slice_volume(vol, rot, shp, vshp, "nearest", half_image=True)),
            ("slice_linear_f64", lambda: slicing.slice_volume(vol64, rot64, shp, vshp, "linear_interp", max_r=None)),
            ("slice_cubic", lambda: slicing.slice_volume(vol, rot, shp, vshp, "cubic")),
            ("adjoint_linear", lambda: slicing.adjoint_slice_volume(imgs, rot, shp, vshp, "linear_interp")),
            ("adjoint_nearest", lambda: slicing.adjoint_slice_volume(imgs, rot, shp, vshp, "nearest")),
        ]
    try:
        from recovar_jl.core import ctf
        evaluator = ctf.CTFEvaluator()
    except (ImportError, AttributeError):  # pragma: no cover
        evaluator = None
    if evaluator is not None:
        params = ctf_rows(rng, 10, np.float32, defocus=(8000.0, 20000.0))
        jobs += [("ctf", lambda: evaluator(params, (N, N), 1.5)),
                 ("ctf_half_f64", lambda: evaluator(params.astype(np.float64), (N + 1, N + 1), 2.0, half_image=True))]
    try:
        from recovar_jl.core import cubic_interpolation as ci
        data = rng.standard_normal((9, 10, 11))
        coords = rng.uniform(-2, 12, (3, 50))
        jobs += [("spline_coefficients", lambda: ci.calculate_spline_coefficients(data)),
                 ("map_coordinates", lambda: ci.map_coordinates(data, coords, 3))]
    except ImportError:  # pragma: no cover
        pass
    try:
        from recovar_jl.core import forward, geometry
        from recovar_jl.core.configs import ForwardModelConfig
        from recovar_jl.core.ctf import CTFEvaluator

        cfg = ForwardModelConfig(image_shape=(N, N), volume_shape=(N, N, N), grid_size=N, voxel_size=1.5,
                                 padding=0, disc_type="linear_interp", ctf=CTFEvaluator())
        fvol = crandn(rng, N ** 3, dtype=np.complex64)
        frot = random_rotations(8, rng, np.float32)
        fparams = ctf_rows(rng, 8, np.float32, defocus=(8000.0, 20000.0))
        fimgs = rng.standard_normal((8, N * N)).astype(np.float32)
        shifts = rng.uniform(-3, 3, (8, 2)).astype(np.float32)
        jobs += [("forward_model", lambda: forward.forward_model(cfg, fvol, fparams, frot)),
                 ("adjoint_forward_model", lambda: forward.adjoint_forward_model(cfg, fimgs, fparams, frot)),
                 ("compute_AtAv", lambda: forward.compute_AtAv(cfg, fvol, fparams, frot, 2.0)[0]),
                 ("translate_images", lambda: geometry.translate_images(fimgs, shifts, (N, N))),
                 ("gridpoint_coords", lambda: geometry.batch_get_gridpoint_coords(frot, (N, N), (N, N, N)))]
    except ImportError:  # pragma: no cover
        pass
    try:
        from recovar_jl.core import fourier_transform_utils as ftu
        if hasattr(ftu, "get_dft2"):
            images = rng.standard_normal((6, N, N)).astype(np.float32)
            jobs += [("dft2", lambda: ftu.get_dft2(images)),
                     ("dft3_real", lambda: ftu.get_dft3_real(images[:4, :4, :4].copy()))]
    except ImportError:  # pragma: no cover
        pass
    # Keep only jobs that run now (a module being rewritten must not fail this test).
    working = []
    for name, thunk in jobs:
        try:
            thunk()
        except Exception as exc:  # noqa: BLE001 - reported as a skip below
            print(f"job {name} left out: {type(exc).__name__}: {exc}")
            continue
        working.append((name, thunk))
    return working


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if np.array_equal(a, b, equal_nan=True):
        return True
    # Threaded reductions may sum in another order: allow rounding, nothing more.
    scale = max(np.abs(b).max(), 1e-30)
    eps = np.finfo(np.result_type(a.real.dtype, np.float32)).eps
    return np.abs(a - b).max() <= 64 * eps * scale


def test_eight_threads_calling_mixed_kernels_match_serial_results():
    jobs = _jobs()
    assert len(jobs) >= 3, "too few kernels available to stress"
    reference = {name: thunk() for name, thunk in jobs}
    counts = [0] * N_THREADS
    failures = []
    stop = time.monotonic() + STRESS_SECONDS

    def worker(k):
        rng = np.random.default_rng(100 + k)
        try:
            while time.monotonic() < stop and not failures:
                name, thunk = jobs[rng.integers(len(jobs))]
                result = thunk()
                if not _same(result, reference[name]):
                    failures.append(f"thread {k}: {name} differs from the serial result")
                counts[k] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(f"thread {k}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(k,), name=f"stress-{k}") for k in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=STRESS_SECONDS + 120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not failures, failures[:5]
    assert all(c > 0 for c in counts), counts
    print(f"{sum(counts)} calls of {len(jobs)} kernels from {N_THREADS} threads in {STRESS_SECONDS:.0f} s")
    # Serial calls after the storm still agree.
    for name, thunk in jobs:
        assert _same(thunk(), reference[name]), name


def test_keyboard_interrupt_during_a_long_backprojection_leaves_the_package_usable():
    code = r"""
import os, signal, threading, time
import numpy as np
from recovar_jl.core import slicing
N = 32
rng = np.random.default_rng(0)
rot = np.repeat(np.eye(3, dtype=np.float32)[None], 1, 0)
small = slicing.adjoint_slice_volume(np.ones((1, N * N), np.complex64), rot, (N, N), (N, N, N), "linear_interp")
many = np.ones((40000, N * N), np.complex64)   # ~0.3 s of backprojection on 2 cores
rots = np.repeat(np.eye(3, dtype=np.float32)[None], len(many), 0)
t0 = time.time()
threading.Timer(0.1, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    slicing.adjoint_slice_volume(many, rots, (N, N), (N, N, N), "linear_interp")
    print("not interrupted", time.time() - t0)
except KeyboardInterrupt:
    print("interrupted after %.2f s" % (time.time() - t0))
again = slicing.adjoint_slice_volume(np.ones((1, N * N), np.complex64), rot, (N, N), (N, N, N), "linear_interp")
print("usable", bool(np.array_equal(again, small)), "nonzero", int(np.count_nonzero(again)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "usable True" in out.stdout, out.stdout
    assert "nonzero 0" not in out.stdout
    if "not interrupted" in out.stdout:  # the machine was fast: the call finished first
        pytest.skip("the backprojection finished before the interrupt arrived: " + out.stdout)
    assert "interrupted after" in out.stdout


def test_a_forked_child_gets_a_clear_error_not_a_hang_and_spawned_workers_compute():
    # fork() keeps libjulia's memory but not its thread: a kernel call in the child would
    # wait forever. It must raise at once; 'spawn' workers start their own Julia.
    code = r"""
import multiprocessing as mp, os, time
import numpy as np
import recovar_jl
from recovar_jl import _julia
from recovar_jl.core import slicing

def project(seed):
    vol = np.random.default_rng(seed).standard_normal(8 ** 3).astype(np.float32)
    return slicing.slice_volume(vol, np.eye(3, dtype=np.float32)[None], (8, 8), (8, 8, 8), "nearest")

if __name__ == "__main__":
    _julia.call("noop")
    pid = os.fork()
    if pid == 0:
        try:
            _julia.call("noop")
            print("child: call worked", flush=True)
        except recovar_jl.JuliaSetupError as exc:
            print("child: refused:", exc, flush=True)
        os._exit(0)
    deadline = time.time() + 60
    while time.time() < deadline and os.waitpid(pid, os.WNOHANG)[0] == 0:
        time.sleep(0.05)
    else:
        pass
    print("child finished" if time.time() < deadline else "child HUNG", flush=True)
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.map(project, [1, 2])
    print("spawn ok", all(np.array_equal(r, project(s)) for r, s in zip(results, [1, 2])), flush=True)
"""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "fork_probe.py")
        with open(script, "w") as f:
            f.write(code)
        out = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "child: refused:" in out.stdout and "spawn" in out.stdout, out.stdout
    assert "child finished" in out.stdout and "spawn ok True" in out.stdout, out.stdout


@pytest.mark.parametrize("delay", [0.02, 0.2])
def test_keyboard_interrupt_while_julia_starts_then_calling_again_works(delay):
    # Before the fix the second call started a second Julia in the process: segfault.
    code = f"""
import os, signal, threading
import numpy as np
from recovar_jl import _julia
threading.Timer({delay}, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    _julia.call("noop")
    print("start finished first")
except KeyboardInterrupt:
    print("interrupted during start")
x = np.ones((1, 4, 4), np.complex64); y = np.empty_like(x)
_julia.call("centered_fft", y, x, 2, -1, 1.0)
print("usable", float(y[0, 2, 2].real))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (out.returncode, out.stderr[-3000:])
    assert "usable 16.0" in out.stdout, out.stdout


def test_a_storm_of_ctrl_c_never_deadlocks_the_bridge_or_corrupts_results():
    # SIGINT every 0.2–3 ms for 3 s (longer, up to 30 s, until more than 10 calls were
    # interrupted: on a loaded machine the signalling thread may wait for the GIL) while the
    # main thread calls a kernel in a loop: some calls are interrupted, every completed one
    # is right, and a call afterwards finishes.
    # (Before the fix an interrupt landing between taking a semaphore token and releasing
    # the call lock left the lock held: the next call waited forever.)
    code = r"""
import os, signal, threading, time
# what this process inherited (a SIGINT ignored or blocked by the parent would hide the
# interrupts), reported below; then Python's own Ctrl-C handling, unblocked
inherited = (signal.getsignal(signal.SIGINT), sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])))
# Ctrl-C raises KeyboardInterrupt while a call is armed (anywhere inside the bridge), and is
# dropped between calls: Python runs handlers at any loop back-edge, and one landing on the
# test's own `while` line (outside the try) would end the test, not the bridge
armed = [False]
def on_sigint(signum, frame):
    if armed[0]:
        raise KeyboardInterrupt
signal.signal(signal.SIGINT, on_sigint)
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
import numpy as np
from recovar_jl.core import slicing
vol = np.arange(8 ** 3, dtype=np.float32); R = np.eye(3, dtype=np.float32)[None]
ref = slicing.slice_volume(vol, R, (8, 8), (8, 8, 8), "nearest")
after_start = (signal.getsignal(signal.SIGINT), sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])))
stop = []
def pester():
    rng = np.random.default_rng(0)
    while not stop:
        time.sleep(rng.uniform(0.0002, 0.003))
        os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=pester, daemon=True).start()
calls = interrupts = wrong = 0
t0 = time.time()
while True:
    try:
        elapsed = time.time() - t0
        if (elapsed > 3.0 and interrupts > 10) or elapsed > 30.0:
            break
        armed[0] = True
        out = slicing.slice_volume(vol, R, (8, 8), (8, 8, 8), "nearest")
        armed[0] = False
        calls += 1
        wrong += not np.array_equal(out, ref)
    except KeyboardInterrupt:
        armed[0] = False
        interrupts += 1
stop.append(1)
signal.signal(signal.SIGINT, signal.SIG_IGN)
done = threading.Event()
def final():
    if np.array_equal(slicing.slice_volume(vol, R, (8, 8), (8, 8, 8), "nearest"), ref):
        done.set()
threading.Thread(target=final, daemon=True).start()
print("inherited", inherited, "after start", after_start, flush=True)
print("calls", calls, "interrupts", interrupts, "wrong", wrong, "final", "ok" if done.wait(60) else "HUNG", flush=True)
os._exit(0)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    fields = out.stdout.split()
    assert fields[-1] == "ok", out.stdout
    assert int(fields[fields.index("wrong") + 1]) == 0, out.stdout
    assert int(fields[fields.index("interrupts") + 1]) > 10, out.stdout
