"""recovar-jl reconstruct against cryoDRGN and ASPIRE on the same files: time, memory, FSC vs truth.

    .venv/bin/python bench/peers/compare.py --box 64 --n-images 10000 --work /tmp/peers64
    .venv/bin/python bench/peers/compare.py --data sim256/ --tools recovar-jl,cryodrgn --work /tmp/p256

Data: ``--data DIR`` (``DIR/particles.star`` + its stacks + ``DIR/ground_truth.mrc``), or by
default ``recovar-jl simulate`` of the demo phantom (:func:`recovar_jl.jobs.phantom.
gaussian_atom_phantom` at ``--box``) into ``WORK/data`` (reused when the same options made it).

Every tool runs as a child process from the same STAR file; its wall time and peak resident
memory (``ru_maxrss`` of the child, from ``os.wait4``) are recorded. A tool of several steps
(cryoDRGN: parse_pose_star, parse_ctf_star, backproject_voxel) reports the summed time and
the largest peak.

Maps are compared with the truth by one FSC routine (``recovar_jl.jobs.fsc.fsc``): the
FSC = 0.5 crossing and the FSC at 0.8 × Nyquist, unmasked and with a soft spherical mask
(raised cosine from ``R + 2`` to ``R + 2 + max(4, box/16)`` pixels, R = radius of the truth's
voxels above 1 % of its maximum). Before that, each map is put in the truth's frame: of the 48
signed axis permutations (flips about the centre voxel ``box//2``) and the two signs of the
contrast, the one that correlates best with the truth is used, then the integer shift that
maximises the cross-correlation; the table says what was needed.

Peers are installed by ``bench/peers/setup.sh``. Run under ``flock /tmp/bigmem.lock`` at box ≥ 128.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from recovar_jl.core.mask import raised_cosine_mask  # noqa: E402
from recovar_jl.jobs.fsc import crossing_frequency, fsc, shell_frequencies  # noqa: E402
from recovar_jl.jobs.mrc import read_volume, write_volume  # noqa: E402

TOOLS = ("recovar-jl", "cryodrgn", "aspire")
RECOVAR = ROOT / ".venv" / "bin" / "recovar-jl"
CRYODRGN = HERE / ".venv-cryodrgn" / "bin" / "cryodrgn"
ASPIRE_PYTHON = HERE / ".venv-aspire" / "bin" / "python"


# --------------------------------------------------------------------------------------------
# running children
# --------------------------------------------------------------------------------------------
def run_measured(command, log_path: Path, cwd=None) -> dict:
    """Run ``command``; return wall seconds, the child's peak RSS (GB) and the load averages
    (1/5/15 min) before and after it. Raises on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    with open(log_path, "ab") as log:
        log.write(("$ " + " ".join(shlex.quote(str(c)) for c in command) + "\n").encode())
        log.flush()
        child = subprocess.Popen([str(c) for c in command], stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    if child.returncode != 0:
        raise RuntimeError(f"{command[0]} failed with exit code {child.returncode}; see {log_path}")
    return {"seconds": seconds, "peak_gb": usage.ru_maxrss / 2 ** 20, "load": [load_before, os.getloadavg()]}


def combine(steps) -> dict:
    return {"seconds": sum(s["seconds"] for s in steps), "peak_gb": max(s["peak_gb"] for s in steps),
            "load": [steps[0]["load"][0], steps[-1]["load"][1]], "steps": steps}


def run_recovar(star: Path, out: Path, extra_args) -> tuple:
    m = run_measured([RECOVAR, "reconstruct", star, "--out", out, "-q", *extra_args], out.with_suffix(".log"))
    return out / "map.mrc", m


def run_cryodrgn(star: Path, out: Path) -> tuple:
    out.mkdir(parents=True, exist_ok=True)
    log = out / "cryodrgn.log"
    steps = [run_measured([CRYODRGN, "parse_pose_star", star, "-o", out / "pose.pkl"], log),
             run_measured([CRYODRGN, "parse_ctf_star", star, "-o", out / "ctf.pkl"], log),
             run_measured([CRYODRGN, "backproject_voxel", star, "--poses", out / "pose.pkl", "--ctf",
                           out / "ctf.pkl", "--datadir", star.parent, "-o", out / "backproject"], log)]
    return out / "backproject" / "backproject.mrc", combine(steps)


def run_aspire(star: Path, out: Path) -> tuple:
    out.mkdir(parents=True, exist_ok=True)
    m = run_measured([ASPIRE_PYTHON, HERE / "run_aspire.py", star, out / "mean.mrc"], out / "aspire.log", cwd=out)
    return out / "mean.mrc", m


# --------------------------------------------------------------------------------------------
# frames and FSC
# --------------------------------------------------------------------------------------------
def _flip_about_centre(v: np.ndarray, axis: int) -> np.ndarray:
    """i − c → c − i with c = n//2 (np.flip alone would move the centre of an even box)."""
    return np.roll(np.flip(v, axis), 1 if v.shape[axis] % 2 == 0 else 0, axis)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)))


def align_to_truth(volume: np.ndarray, truth: np.ndarray) -> tuple:
    """(volume in the truth's frame, description of what was needed, correlation)."""
    best = None
    for perm in itertools.permutations(range(3)):
        for flips in itertools.product((False, True), repeat=3):
            w = np.transpose(volume, perm)
            for axis, flip in enumerate(flips):
                if flip:
                    w = _flip_about_centre(w, axis)
            c = _correlation(w, truth)
            if best is None or abs(c) > abs(best[0]):
                best = (c, perm, flips, w)
    c, perm, flips, w = best
    notes = []
    if c < 0:
        w = -w
        notes.append("contrast inverted")
    if perm != (0, 1, 2):
        notes.append("axes " + "".join("xyz"[p] for p in perm) + "→xyz")
    flipped = [a for a, f in zip("xyz", flips) if f]
    if flipped:
        notes.append("flipped " + ",".join(flipped))
    # Integer shift of the cross-correlation peak (origin conventions).
    xc = np.real(np.fft.ifftn(np.fft.fftn(truth) * np.conj(np.fft.fftn(w))))
    shift = np.array(np.unravel_index(int(np.argmax(xc)), xc.shape))
    shift = np.where(shift > truth.shape[0] // 2, shift - truth.shape[0], shift)
    if np.any(shift):
        w = np.roll(w, tuple(int(s) for s in shift), axis=(0, 1, 2))
        notes.append(f"shifted {tuple(int(s) for s in shift)} voxels")
    return w.astype(np.float32), ("; ".join(notes) or "none"), _correlation(w, truth)


def truth_mask(truth: np.ndarray) -> tuple:
    """Soft sphere around the truth (module docstring): (mask, inner radius, outer radius)."""
    n = truth.shape[0]
    k = np.arange(n) - n // 2
    r = np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)
    extent = float(r[truth > 0.01 * truth.max()].max())
    inner = extent + 2.0
    outer = inner + max(4.0, n / 16)
    return raised_cosine_mask(truth.shape, inner, outer, 0), inner, outer


def map_quality(volume: np.ndarray, truth: np.ndarray, voxel_size: float, mask: np.ndarray) -> dict:
    """FSC vs truth: 0.5 crossing (Å; None = beyond Nyquist) and value at 0.8 Nyquist, ± mask."""
    n = truth.shape[0]
    freqs = shell_frequencies(n, voxel_size)
    shell = int(round(0.8 * (n // 2)))
    out = {}
    for name, a, b in (("unmasked", volume, truth), ("masked", volume * mask, truth * mask)):
        curve = fsc(a, b)
        crossing = crossing_frequency(freqs, curve, 0.5)
        out[name] = {"fsc05_angstrom": None if crossing is None else 1.0 / crossing,
                     "fsc_at_0.8_nyquist": float(curve[shell]), "curve": [float(x) for x in curve]}
    return out


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def simulated_data(work: Path, box: int, n_images: int, voxel_size: float, snr: float, seed: int) -> Path:
    """``recovar-jl simulate`` of the demo phantom into WORK/data (reused if made with these options)."""
    from recovar_jl.jobs.phantom import gaussian_atom_phantom

    data = work / "data"
    options = {"box": box, "n_images": n_images, "voxel_size": voxel_size, "snr": snr, "seed": seed}
    stamp = data / "options.json"
    if stamp.exists() and json.loads(stamp.read_text()) == options and (data / "particles.star").exists():
        return data
    work.mkdir(parents=True, exist_ok=True)
    phantom = work / "phantom.mrc"
    write_volume(phantom, gaussian_atom_phantom(box), voxel_size)
    m = run_measured([RECOVAR, "simulate", phantom, "--n-images", n_images, "--snr", snr, "--seed", seed,
                      "--out", data, "-q"], work / "simulate.log")
    print(f"simulated {n_images} particles at box {box} in {m['seconds']:.0f} s", flush=True)
    stamp.write_text(json.dumps(options))
    return data


def first_particles(data: Path, n: int, work: Path) -> Path:
    """WORK/data-firstN: DATA's STAR file cut to its first ``n`` particle rows, beside links to
    DATA's stacks and truth, so that every tool reads the same images from the same files."""
    subset = work / f"data-first{n}"
    subset.mkdir(parents=True, exist_ok=True)
    lines, kept = [], 0
    for line in (data / "particles.star").read_text().splitlines(keepends=True):
        if "@" in line:                      # a particle row: INDEX@STACK
            if kept == n:
                continue
            kept += 1
        lines.append(line)
    if kept < n:
        raise SystemExit(f"--first: {data / 'particles.star'} has only {kept} particles, asked for {n}")
    (subset / "particles.star").write_text("".join(lines))
    for item in data.iterdir():
        if item.suffix in (".mrcs", ".mrc") and not (subset / item.name).exists():
            (subset / item.name).symlink_to(item)
    return subset


def _fmt_load(load) -> str:
    """Load averages (1/5/15 min) before → after a run; '–' for records made without them."""
    if not load:
        return "–"
    return " → ".join(" ".join(f"{x:.1f}" for x in avg) for avg in load)


def _fmt_res(value) -> str:
    return "beyond Nyquist" if value is None else f"{value:.2f} Å"


def markdown(results: list, header: dict) -> str:
    lines = [f"box {header['box']}, {header['n_images']} particles, {header['voxel_size']:g} Å/pixel; "
             f"soft spherical mask {header['mask_inner']:.1f}–{header['mask_outer']:.1f} px; "
             f"FSC at 0.8 Nyquist = shell {header['shell']} ({header['shell_angstrom']:.2f} Å)", "",
             "| tool | wall time | peak memory | FSC=0.5 vs truth | FSC @0.8 Nyquist | masked FSC=0.5 | "
             "masked FSC @0.8 Nyquist | frame correction | load before → after |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        q = r["quality"]
        lines.append(f"| {r['label']} | {r['seconds']:.1f} s | {r['peak_gb']:.2f} GB | "
                     f"{_fmt_res(q['unmasked']['fsc05_angstrom'])} | {q['unmasked']['fsc_at_0.8_nyquist']:.3f} | "
                     f"{_fmt_res(q['masked']['fsc05_angstrom'])} | {q['masked']['fsc_at_0.8_nyquist']:.3f} | "
                     f"{r['frame']} | {_fmt_load(r.get('load'))} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--work", type=Path, required=True, help="folder for data, maps, logs and results")
    p.add_argument("--data", type=Path, help="existing folder with particles.star and ground_truth.mrc")
    p.add_argument("--first", type=int, default=None, metavar="N",
                   help="only the first N particles of the data (a cut STAR file in WORK, the same stacks)")
    p.add_argument("--box", type=int, default=64, help="box of the simulated data")
    p.add_argument("--n-images", type=int, default=10000)
    p.add_argument("--voxel-size", type=float, default=3.0)
    p.add_argument("--snr", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ", ".join(TOOLS))
    p.add_argument("--recovar-args", default="", help="extra arguments of recovar-jl reconstruct")
    p.add_argument("--variant", action="append", default=[], metavar="LABEL=ARGS",
                   help="another recovar-jl run with these reconstruct arguments (repeatable)")
    p.add_argument("--reuse", default="", metavar="TOOLS",
                   help="comma-separated labels (e.g. cryodrgn,aspire) whose map and measurement from an earlier "
                        "run in WORK are reused instead of run again")
    args = p.parse_args(argv)

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        p.error(f"--tools: unknown {', '.join(unknown)}; choose from {', '.join(TOOLS)}")
    for tool, path in (("cryodrgn", CRYODRGN), ("aspire", ASPIRE_PYTHON)):
        if tool in tools and not path.exists():
            p.error(f"{tool} is not installed at {path}; run bench/peers/setup.sh")
    work = args.work.resolve()
    data = args.data.resolve() if args.data else simulated_data(work, args.box, args.n_images, args.voxel_size,
                                                                 args.snr, args.seed)
    if args.first is not None:
        if args.first < 1:
            p.error(f"--first must be at least 1, got {args.first}")
        data = first_particles(data, args.first, work)
    star = data / "particles.star"
    truth, voxel_size = read_volume(data / "ground_truth.mrc")
    mask, inner, outer = truth_mask(truth)
    n = truth.shape[0]
    shell = int(round(0.8 * (n // 2)))
    n_images = sum(1 for line in open(star) if "@" in line)
    header = {"box": n, "n_images": n_images, "voxel_size": voxel_size, "mask_inner": inner, "mask_outer": outer,
              "shell": shell, "shell_angstrom": n * voxel_size / shell, "data": str(data)}

    runs = []   # (label, key, run)
    for tool in tools:
        if tool == "recovar-jl":
            runs.append(("recovar-jl", "recovar-jl",
                         lambda: run_recovar(star, work / "recovar-jl", shlex.split(args.recovar_args))))
            for variant in args.variant:
                label, _, extra = variant.partition("=")
                runs.append((f"recovar-jl {label}", f"recovar-jl-{label}",
                             lambda label=label, extra=extra: run_recovar(star, work / f"recovar-jl-{label}",
                                                                          shlex.split(extra))))
        elif tool == "cryodrgn":
            runs.append(("cryoDRGN backproject_voxel", "cryodrgn", lambda: run_cryodrgn(star, work / "cryodrgn")))
        elif tool == "aspire":
            runs.append(("ASPIRE MeanEstimator", "aspire", lambda: run_aspire(star, work / "aspire")))
    reuse = {t.strip() for t in args.reuse.split(",") if t.strip()}
    results = []
    for label, key, run in runs:
        record = work / f"{key}.measured.json"
        if key in reuse and record.exists():
            saved = json.loads(record.read_text())
            map_path, measured = Path(saved["map"]), saved["measured"]
            print(f"reusing {label} from {record}", flush=True)
        else:
            print(f"running {label} …", flush=True)
            map_path, measured = run()
            record.write_text(json.dumps({"map": str(map_path), "measured": measured}))
        volume, _ = read_volume(map_path)
        aligned, frame, corr = align_to_truth(volume, truth)
        results.append({"label": label, **measured, "frame": frame, "correlation": corr, "map": str(map_path),
                        "quality": map_quality(aligned, truth, voxel_size, mask)})
        print(f"  {measured['seconds']:.1f} s, {measured['peak_gb']:.2f} GB, frame: {frame}", flush=True)
    table = markdown(results, header)
    (work / "results.json").write_text(json.dumps({"header": header, "results": results}, indent=1))
    (work / "results.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
