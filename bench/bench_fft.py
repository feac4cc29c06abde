"""Benchmark: centered FFTs, recovar_jl (Julia + FFTW) vs numpy.fft vs scipy.fft vs recovar.

    .venv/bin/python bench/bench_fft.py [--quick] [--repeats R] [--skip-startup]

Cases: batched 2-D transforms of 1,000 images at 128² (complex, real→half, half→real) and one
256³ volume (complex, real→half, half→real); all centered (fftshift ∘ fft ∘ fftshift, the
recovar convention), single precision. numpy.fft and scipy.fft (workers=2) do the same
centered transform with explicit shifts; "scipy raw" is scipy's plain transform without the
shifts, a lower bound for any centered transform built on it. recovar 1.0.5 (JAX, CPU) runs in
.venv-recovar through bench/recovar_fft.py. Medians of ≥5 repeats after a warm-up.

Also measured: bridge overhead per call (the "noop" kernel with 0 and 3 array arguments), and
the time from `import recovar_jl` to the first FFT result in a fresh Python process, with the
Julia compile cache warm and cold (a fresh, empty JULIA_DEPOT_PATH).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.fft as sfft

from timing import median_time

ROOT = Path(__file__).resolve().parents[1]
RECOVAR_PY = ROOT / ".venv-recovar" / "bin" / "python"
WORKERS = 2

STARTUP_SCRIPT = """
import time
import numpy as np
start = time.perf_counter()
import recovar_jl
from recovar_jl.core import fourier_transform_utils as ftu
ftu.get_dft2(np.ones((1, 128, 128), np.float32))
first = time.perf_counter()
ftu.get_dft2(np.ones((1, 128, 128), np.float32))
print(first - start, time.perf_counter() - first)
"""


def centered_numpy(fft, x, axes, real=False, inverse=False, shape=None):
    """recovar's centered transforms written with numpy.fft / scipy.fft calls."""
    kw = {"workers": WORKERS} if fft is sfft else {}
    if real and not inverse:
        y = fft.rfftn(fft.fftshift(x, axes=axes), axes=axes, **kw)
        return fft.fftshift(y, axes=axes[:-1])
    if real and inverse:
        y = fft.irfftn(fft.ifftshift(x, axes=axes[:-1]), s=shape, axes=axes, **kw)
        return fft.ifftshift(y, axes=axes)
    return fft.fftshift(fft.fftn(fft.fftshift(x, axes=axes), axes=axes, **kw), axes=axes)


def raw_scipy(x, axes, real=False, inverse=False, shape=None):
    if real and not inverse:
        return sfft.rfftn(x, axes=axes, workers=WORKERS)
    if real and inverse:
        return sfft.irfftn(x, s=shape, axes=axes, workers=WORKERS)
    return sfft.fftn(x, axes=axes, workers=WORKERS)


def bridge_overhead(calls=2000, repeats=7):
    from recovar_jl import _julia

    arrays = [np.zeros(16, np.float32), np.zeros((4, 4), np.complex64), np.zeros(3, np.int64)]
    out = {}
    for label, args in (("0 args", ()), ("3 array args", arrays)):
        _julia.call("noop", *args)
        per_call = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                _julia.call("noop", *args)
            per_call.append((time.perf_counter() - start) / calls)
        out[label] = float(np.median(per_call))
    return out


def startup_times(repeats=3):
    """Seconds from `import recovar_jl` to the first get_dft2 result in a fresh process."""
    def run(env):
        proc = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT], capture_output=True, text=True, env=env,
                              timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        first, second = (float(v) for v in proc.stdout.split())
        return first, second

    base = dict(os.environ)
    run(base)  # make sure the default depot's compile cache is current
    warm = [run(base)[0] for _ in range(repeats)]
    cold, recompiled = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as depot:
            # A fresh depot alone: `JULIA_DEPOT_PATH=fresh:` (fresh + default depots) does not
            # force a rebuild on Julia 1.5: the cache found in the default depot is reused.
            cold.append(run(dict(base, JULIA_DEPOT_PATH=depot))[0])
            recompiled.append((Path(depot) / "compiled").is_dir())
    with tempfile.TemporaryDirectory() as depot:
        appended = run(dict(base, JULIA_DEPOT_PATH=depot + os.pathsep))[0]
        appended_recompiled = (Path(depot) / "compiled").is_dir()
    return {"warm": float(np.median(warm)), "cold": float(np.median(cold)), "cold_recompiled": all(recompiled),
            "fresh_plus_default": appended, "fresh_plus_default_recompiled": appended_recompiled}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 images and a 128³ volume")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-startup", action="store_true", help="skip the fresh-process start-up timings")
    args = parser.parse_args()
    repeats = max(args.repeats, 5)

    from recovar_jl import _julia
    from recovar_jl.core import fourier_transform_utils as ftu

    n_images, side, vol = (200, 128, 128) if args.quick else (1000, 128, 256)
    rng = np.random.default_rng(0)
    images_c = (rng.standard_normal((n_images, side, side)) + 1j * rng.standard_normal((n_images, side, side))).astype(np.complex64)
    images_r = rng.standard_normal((n_images, side, side)).astype(np.float32)
    volume_c = (rng.standard_normal((vol,) * 3) + 1j * rng.standard_normal((vol,) * 3)).astype(np.complex64)
    volume_r = rng.standard_normal((vol,) * 3).astype(np.float32)
    half_images = ftu.get_dft2_real(images_r)
    half_volume = ftu.get_dft3_real(volume_r)
    ax2, ax3 = (-2, -1), (-3, -2, -1)

    cases = {
        "dft2": (f"get_dft2, {n_images:,} × {side}², complex64", lambda: ftu.get_dft2(images_c),
                 lambda fft: centered_numpy(fft, images_c, ax2), lambda: raw_scipy(images_c, ax2)),
        "dft2_real": (f"get_dft2_real, {n_images:,} × {side}², float32 → half",
                      lambda: ftu.get_dft2_real(images_r),
                      lambda fft: centered_numpy(fft, images_r, ax2, real=True),
                      lambda: raw_scipy(images_r, ax2, real=True)),
        "idft2_real": (f"get_idft2_real, {n_images:,} × {side}², half → float32",
                       lambda: ftu.get_idft2_real(half_images),
                       lambda fft: centered_numpy(fft, half_images, ax2, real=True, inverse=True, shape=(side, side)),
                       lambda: raw_scipy(half_images, ax2, real=True, inverse=True, shape=(side, side))),
        "dft3": (f"get_dft3, {vol}³, complex64", lambda: ftu.get_dft3(volume_c),
                 lambda fft: centered_numpy(fft, volume_c, ax3), lambda: raw_scipy(volume_c, ax3)),
        "dft3_real": (f"get_dft3_real, {vol}³, float32 → half", lambda: ftu.get_dft3_real(volume_r),
                      lambda fft: centered_numpy(fft, volume_r, ax3, real=True),
                      lambda: raw_scipy(volume_r, ax3, real=True)),
        "idft3_real": (f"get_idft3_real, {vol}³, half → float32", lambda: ftu.get_idft3_real(half_volume),
                       lambda fft: centered_numpy(fft, half_volume, ax3, real=True, inverse=True, shape=(vol,) * 3),
                       lambda: raw_scipy(half_volume, ax3, real=True, inverse=True, shape=(vol,) * 3)),
    }

    results, errors = {}, {}
    for name, (_, ours, reference, raw) in cases.items():
        expected = reference(np.fft)
        errors[name] = float(np.linalg.norm(ours() - expected) / np.linalg.norm(expected))
        del expected
        results[name] = {"recovar_jl": median_time(ours, repeats),
                         "numpy": median_time(lambda: reference(np.fft), repeats),
                         "scipy": median_time(lambda: reference(sfft), repeats),
                         "scipy_raw": median_time(raw, repeats)}

    theirs, recovar_errors = {}, {}
    if RECOVAR_PY.exists():
        check = {"dft2": images_c[:4], "dft2_real": images_r[:4], "idft2_real": half_images[:4],
                 "dft3": volume_c[:32, :32, :32].copy(), "dft3_real": volume_r[:32, :32, :32].copy()}
        check["idft3_real"] = ftu.get_dft3_real(check["dft3_real"])
        ours_small = {"dft2": ftu.get_dft2, "dft2_real": ftu.get_dft2_real, "idft2_real": ftu.get_idft2_real,
                      "dft3": ftu.get_dft3, "dft3_real": ftu.get_dft3_real, "idft3_real": ftu.get_idft3_real}
        with tempfile.TemporaryDirectory() as tmp:
            sizes, check_in, check_out = (os.path.join(tmp, f) for f in ("sizes.json", "in.npz", "out.npz"))
            json.dump({"n_images": n_images, "side": side, "volume_side": vol}, open(sizes, "w"))
            np.savez(check_in, **check)
            env = dict(os.environ, JAX_PLATFORMS="cpu")
            proc = subprocess.run([str(RECOVAR_PY), str(ROOT / "bench" / "recovar_fft.py"), sizes, str(repeats),
                                   check_in, check_out], capture_output=True, text=True, env=env)
            if proc.returncode == 0:
                theirs = {k: float(np.median(v)) for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
                with np.load(check_out) as ref:
                    for name, fn in ours_small.items():
                        expected = ref[name]
                        recovar_errors[name] = float(np.linalg.norm(fn(check[name]) - expected) / np.linalg.norm(expected))
            else:
                print("recovar run failed:\n" + proc.stderr[-2000:], file=sys.stderr)
    else:
        print(f"no {RECOVAR_PY}: recovar column left empty", file=sys.stderr)

    overhead = bridge_overhead()
    startup = None if args.skip_startup else startup_times()

    facts = _julia.runtime_info()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores; Julia {facts.get('julia_version', '?')} with "
          f"{facts.get('julia_threads', '?')} threads; FFTW {facts.get('fftw', '?').split(',')[0]}; "
          f"numpy {np.__version__}; scipy.fft workers={WORKERS}; medians of {repeats} runs after warm-up.\n")
    print("| centered transform | recovar_jl (s) | numpy.fft (s) | scipy.fft (s) | scipy raw, no shifts (s) "
          "| recovar 1.0.5 / JAX (s) | recovar_jl vs scipy | rel. diff vs numpy | rel. diff vs recovar |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, (label, *_) in cases.items():
        r = results[name]
        jax_time = f"{theirs[name]:.3f}" if name in theirs else "–"
        rec_err = f"{recovar_errors[name]:.1e}" if name in recovar_errors else "–"
        print(f"| {label} | {r['recovar_jl']:.3f} | {r['numpy']:.3f} | {r['scipy']:.3f} | {r['scipy_raw']:.3f} | "
              f"{jax_time} | {r['scipy'] / r['recovar_jl']:.1f}× | {errors[name]:.1e} | {rec_err} |")
    print("\n| bridge call (`noop` kernel) | µs per call |\n|---|---:|")
    for label, seconds in overhead.items():
        print(f"| {label} | {seconds * 1e6:.0f} |")
    if startup:
        print("\n| fresh process: `import recovar_jl` → first get_dft2 result | s |\n|---|---:|")
        print(f"| warm Julia compile cache | {startup['warm']:.1f} |")
        print(f"| cold: empty JULIA_DEPOT_PATH (RecovarCore recompiled: "
              f"{'yes' if startup['cold_recompiled'] else 'NO'}) | {startup['cold']:.1f} |")
        print(f"| `JULIA_DEPOT_PATH=<fresh>:` (fresh + default depots; recompiled: "
              f"{'yes' if startup['fresh_plus_default_recompiled'] else 'no'}) | {startup['fresh_plus_default']:.1f} |")


if __name__ == "__main__":
    main()
