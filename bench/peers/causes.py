"""Why a map is closer to or further from the truth: one change at a time, same data, same FSC.

    .venv/bin/python bench/peers/causes.py /tmp/peers64/data [--cryodrgn /tmp/peers64/cryodrgn/backproject/backproject.mrc]

Backprojects the particles once (no image mask) and once per image-mask diameter, then forms
the map in several ways from the same sums and prints, for each, the FSC against the truth at
0.8 × Nyquist unmasked and with compare.py's soft spherical mask, and the FSC = 0.5 crossing:

* recovar-jl before this work (Wiener λ from the half-map FSC, gridding correction);
* without the gridding correction (the map stays multiplied by sinc² of the padded grid);
* times the real-space attenuation cryoDRGN's maps carry (no padding, no gridding
  correction: about sinc² on the unpadded grid), to show what that alone is worth;
* λ scaled by 0.3 and 0.1, and cryoDRGN's constant (1 × the mean weight);
* image masks of several diameters (soft 5-pixel edge);
* the radial Wiener weighting now applied by default (:mod:`recovar_jl.jobs.radial_wiener`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))

from compare import map_quality, truth_mask  # noqa: E402
from recovar_jl.jobs import ops  # noqa: E402
from recovar_jl.jobs.fsc import fsc_fourier, shell_index, shell_means  # noqa: E402
from recovar_jl.jobs.gridding import apodization_3d, crop_slices  # noqa: E402
from recovar_jl.jobs.mrc import StackReader, read_volume  # noqa: E402
from recovar_jl.jobs.particle_mask import image_mask  # noqa: E402
from recovar_jl.jobs.radial_wiener import radial_wiener  # noqa: E402
from recovar_jl.jobs.reconstruct import Backprojector, split_halves  # noqa: E402
from recovar_jl.jobs.star import read_particles  # noqa: E402


def backproject(particles, reader, mask, chunk=1000) -> Backprojector:
    n = len(particles)
    halves = split_halves(n, np.random.default_rng(0))
    bp = Backprojector(particles.box, particles.voxel_size)
    for start in range(0, n, chunk):
        rows = np.arange(start, min(n, start + chunk))
        images = reader.read(rows)
        if mask is not None:
            images = images * mask
        bp.add_images(images, particles.rotations[rows], particles.translations[rows],
                      particles.ctf_params[rows], halves[rows])
    return bp


def maps(bp: Backprojector, lam_scale=1.0, constant=None, gridding=True) -> tuple:
    """(half1, half2, full) as Backprojector.reconstruct forms them, with the λ and gridding
    choices of the module docstring."""
    p, box = bp.padded_box, bp.box
    n_shells = p // 2 + 1
    shells = np.minimum(shell_index(p), n_shells - 1)
    w_shell = shell_means(0.5 * (bp.weights[0] + bp.weights[1]), shells, n_shells)
    tiny = 1e-6 * float(w_shell.max())
    floor = np.maximum(1e-3 * w_shell, tiny)[shells].astype(np.float32)
    raw = [b / np.maximum(w, floor) for b, w in zip(bp.data, bp.weights)]
    curve = np.clip(fsc_fourier(raw[0], raw[1], n_shells), 1e-3, 1 - 1e-4)
    if constant is None:
        lam = np.maximum(lam_scale * w_shell * (1 - curve) / curve, tiny)[shells].astype(np.float32)
    else:
        lam = np.float32(constant * float((bp.weights[0] + bp.weights[1]).mean()))
    apod = apodization_3d(p, bp.disc) if gridding else np.ones((p, p, p))
    inner = crop_slices(p, box)
    out = []
    for b, w in ((bp.data[0], bp.weights[0]), (bp.data[1], bp.weights[1]),
                 (bp.data[0] + bp.data[1], bp.weights[0] + bp.weights[1])):
        v = ops.ifft_volume_real(b / np.maximum(w + lam, floor)) / apod
        out.append(np.ascontiguousarray(v[inner, inner, inner], dtype=np.float32))
    return tuple(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder with particles.star, its stack and ground_truth.mrc")
    parser.add_argument("--cryodrgn", type=Path, help="cryoDRGN's backproject.mrc on the same data, for reference")
    parser.add_argument("--diameters", type=float, nargs="*", default=None,
                        help="image-mask diameters in pixels (default: 0.6, 0.7, 0.8 × box)")
    args = parser.parse_args()
    particles = read_particles(args.data / "particles.star")
    truth, voxel = read_volume(args.data / "ground_truth.mrc")
    box = truth.shape[0]
    sphere, inner, outer = truth_mask(truth)
    shell = int(round(0.8 * (box // 2)))
    print(f"box {box}, {len(particles)} particles; mask {inner:.1f}–{outer:.1f} px; 0.8 Nyquist = shell {shell}\n")
    print("| map | FSC @0.8 Nyquist | masked | FSC=0.5 |\n|---|---|---|---|")

    def row(label, volume):
        q = map_quality(volume, truth, voxel, sphere)
        res = q["unmasked"]["fsc05_angstrom"]
        print(f"| {label} | {q['unmasked']['fsc_at_0.8_nyquist']:.3f} | {q['masked']['fsc_at_0.8_nyquist']:.3f} | "
              f"{'> Nyquist' if res is None else f'{res:.2f} Å'} |", flush=True)

    if args.cryodrgn:
        row("cryoDRGN backproject_voxel", read_volume(args.cryodrgn)[0])
    taper = apodization_3d(box, "linear")   # sinc² on the unpadded grid
    diameters = args.diameters if args.diameters is not None else [0.6 * box, 0.7 * box, 0.8 * box]
    with StackReader(particles.star_path, particles.stack_paths, particles.stack_ids, particles.image_indices,
                     expected_box=particles.box) as reader:
        bp = backproject(particles, reader, None)
        h1, h2, full = maps(bp)
        row("before: Wiener λ from half-map FSC, gridding corrected", full)
        row("no gridding correction", maps(bp, gridding=False)[2])
        row("× cryoDRGN-like taper (sinc² on the unpadded grid)", full * taper)
        for scale in (0.3, 0.1):
            row(f"λ × {scale}", maps(bp, lam_scale=scale)[2])
        row("cryoDRGN's constant λ (1 × mean weight)", maps(bp, constant=1.0)[2])
        row("radial Wiener weighting (default now)", radial_wiener(h1, h2, full))
        row("radial Wiener weighting, λ × 0.1", radial_wiener(*maps(bp, lam_scale=0.1)))
        del bp
        for d in diameters:
            bp = backproject(particles, reader, image_mask(box, voxel, d * voxel))
            h1, h2, full = maps(bp)
            row(f"image mask {d:.0f} px ({d * voxel:.0f} Å)", full)
            row(f"image mask {d:.0f} px + radial Wiener", radial_wiener(h1, h2, full))
            del bp
    return 0


if __name__ == "__main__":
    sys.exit(main())
