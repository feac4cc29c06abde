"""The three jobs of the command line, from files to files: simulate, reconstruct, demo.

Outputs are written under temporary names in the output directory and renamed into place
only when the whole job has succeeded (:class:`.mrc.AtomicOutputs`).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from . import plots  # noqa: F401  (matplotlib before Julia: see plots.py)
from . import memory
from .errors import JobError
from .fsc import crossing_frequency, resolution_text
from .halfgrid import fsc_real
from .mrc import AtomicOutputs, StackWriter, read_volume, write_volume
from .postprocess import postprocess, postprocess_columns, read_mask, write_postprocess
from .ctf_modes import CtfModes
from .optics import open_particle_reader
from .reconstruct import FSC_THRESHOLD, Backprojector, Reconstruction, backproject_rows, chunk_size_for, split_halves
from .sanity import contrast_warning, defocus_warning
from .particle_mask import check_diameter
from .radial_wiener import filter_full_map
from .simulate import random_parameters, simulate_chunks
from .star import particles_tables, read_particles, stack_image_names, write_star

GROUND_TRUTH_THRESHOLD = 0.5


def _progress(total: int, desc: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", unit_scale=False, disable=quiet, file=sys.stderr,
                dynamic_ncols=True, leave=True, mininterval=0.5)


def _say(quiet: bool) -> Callable[[str], None]:
    def say(message: str) -> None:
        if not quiet:
            print(message, flush=True)
    return say


def check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise JobError(f"--seed must be a whole number >= 0, got {seed}")


def check_box(box: int, what: str) -> None:
    if box < 8 or box % 2:
        raise JobError(f"{what} has box size {box}; recovar-jl needs an even box of at least 8 pixels "
                       f"(re-extract or resample it)")


# --------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------
def simulate_job(volume_xyz: np.ndarray, voxel_size: float, out_dir, n_images: int, snr: float,
                 defocus_range=(8000.0, 25000.0), max_shift: float = 3.0, seed: int = 0,
                 disc: str = "linear", pad: float = 2.0, chunk_size: Optional[int] = None, quiet: bool = False) -> dict:
    """Write ``particles.mrcs``, ``particles.star`` and ``ground_truth.mrc`` into ``out_dir``.

    ``chunk_size`` images are formed at a time (default: sized from the box, see simulate.py).
    """
    box = volume_xyz.shape[0]
    check_box(box, "the volume")
    check_seed(seed)
    if not np.any(volume_xyz):
        raise JobError("the map is all zeros, so every particle image would be blank; give a map with density")
    if n_images < 1:
        raise JobError(f"--n-images must be at least 1, got {n_images}")
    if not (snr > 0 and np.isfinite(snr)):
        raise JobError(f"--snr must be a positive number, got {snr}")
    lo, hi = defocus_range
    if not (0 < lo <= hi):
        raise JobError(f"--defocus-range needs 0 < MIN <= MAX (Å), got {lo:g} {hi:g}")
    if max_shift < 0 or max_shift > box / 4:
        raise JobError(f"--max-shift must be between 0 and box/4 = {box / 4:g} pixels, got {max_shift:g}")
    memory.check_simulate(box, pad, n_images, chunk_size)
    say = _say(quiet)
    rng = np.random.default_rng(seed)
    params = random_parameters(n_images, rng, defocus_range=(lo, hi), max_shift=max_shift)
    t0 = time.perf_counter()
    sigma = None
    with AtomicOutputs(out_dir) as out:
        write_volume(out.tmp("ground_truth.mrc"), volume_xyz, voxel_size)
        writer = StackWriter(out.tmp("particles.mrcs"), n_images, box, voxel_size)
        try:
            with _progress(n_images, "simulate", quiet) as bar:
                try:
                    for start, images, sigma in simulate_chunks(volume_xyz, voxel_size, params, snr, rng,
                                                                disc=disc, pad=pad, chunk_size=chunk_size):
                        writer.write(start, images)
                        bar.update(images.shape[0])
                        del images   # not alive while the next chunk is formed
                except ValueError as exc:  # a map too faint to project (blank images)
                    raise JobError(f"{exc}") from None
        finally:
            writer.close()
        tables = particles_tables(stack_image_names("particles.mrcs", n_images), params.rotations,
                                  params.translations, params.ctf_params, voxel_size, box)
        write_star(out.tmp("particles.star"), tables)
        written = out.commit()
    elapsed = time.perf_counter() - t0
    say(f"simulated {n_images} particles ({box}×{box}, {voxel_size:g} Å/pixel, SNR {snr:g}, noise σ "
        f"{sigma:.4g}) in {elapsed:.1f} s → {', '.join(str(p) for p in written)}")
    return {"out_dir": Path(out_dir), "noise_sigma": sigma, "seconds": elapsed, "parameters": params}


# --------------------------------------------------------------------------------------------
# reconstruct
# --------------------------------------------------------------------------------------------
def _write_fsc_csv(path, rec: Reconstruction, ground_truth_fsc: Optional[np.ndarray], extra=None) -> None:
    n = len(rec.frequencies)
    columns = [np.arange(n), rec.frequencies,
               np.where(rec.frequencies > 0, 1.0 / np.where(rec.frequencies > 0, rec.frequencies, 1), np.inf),
               rec.fsc]
    header = "shell,frequency_per_angstrom,resolution_angstrom,fsc_half_maps"
    for name, curve in (extra or {}).items():
        columns.append(curve)
        header += "," + name
    if ground_truth_fsc is not None:
        columns.append(ground_truth_fsc)
        header += ",fsc_map_vs_ground_truth"
    with open(path, "w") as fh:
        fh.write(header + "\n")
        for row in zip(*columns):
            fh.write(f"{int(row[0])}," + ",".join(f"{v:.6g}" for v in row[1:]) + "\n")


def _write_reconstruction(out: AtomicOutputs, rec: Reconstruction, halves: bool, gt_fsc, gt_crossing,
                          ground_truth, title: str, post=None) -> None:
    from .plots import fsc_plot, slices_plot

    write_volume(out.tmp("map.mrc"), rec.full, rec.voxel_size)
    volumes = {"map": rec.full}
    if ground_truth is not None:
        volumes["ground truth"] = ground_truth
    slices_plot(out.tmp("slices.png"), volumes, rec.voxel_size)
    if halves:
        write_volume(out.tmp("half1.mrc"), rec.half1, rec.voxel_size)
        write_volume(out.tmp("half2.mrc"), rec.half2, rec.voxel_size)
        extra = postprocess_columns(post)
        _write_fsc_csv(out.tmp("fsc.csv"), rec, gt_fsc, extra)
        curves = {"half map 1 vs half map 2": rec.fsc}
        thresholds = [(FSC_THRESHOLD, "FSC = 0.143", rec.resolution)]
        if post is not None and post.masked is not None:
            curves["masked"] = post.masked.masked
            if post.masked.randomised_from is not None:
                curves["masked, phases randomised"] = post.masked.randomised
            curves["masked, corrected"] = post.masked.corrected
            thresholds = [(FSC_THRESHOLD, "corrected FSC = 0.143", post.resolution),
                          (FSC_THRESHOLD, "unmasked FSC = 0.143", rec.resolution)]
        if gt_fsc is not None:
            curves["map vs ground truth"] = gt_fsc
            thresholds.append((GROUND_TRUTH_THRESHOLD, "vs truth = 0.5", gt_crossing))
        fsc_plot(out.tmp("fsc.png"), rec.frequencies, curves, thresholds, title=title)


def read_particle_file(path, angpix: Optional[float] = None, project_dir=None):
    """A RELION ``.star`` or cryoSPARC ``.cs`` particle file → ParticleSet."""
    if Path(path).suffix.lower() == ".cs":
        from .cryosparc import read_cs

        return read_cs(path, project_dir=project_dir, angpix=angpix)
    if project_dir is not None:
        raise JobError("--project-dir is for cryoSPARC .cs files; RELION image names are found beside the "
                       "STAR file or in the current directory")
    return read_particles(path, angpix=angpix)


def _warn(message: Optional[str]) -> None:
    if message:
        print(f"recovar-jl: warning: {message}", file=sys.stderr, flush=True)


_STALE_OUTPUTS = ("half1.mrc", "half2.mrc", "fsc.csv", "fsc.png", "map_sharpened.mrc", "guinier.png")


def reconstruct_job(star_path, out_dir, disc: str = "linear", pad: float = 2.0, halves: bool = True,
                    seed: int = 0, chunk_size: Optional[int] = None, quiet: bool = False,
                    ground_truth: Optional[np.ndarray] = None, ctf_modes: Optional[CtfModes] = None,
                    subset: Optional[int] = None, angpix: Optional[float] = None, project_dir=None,
                    symmetry: str = "C1", mask=None, auto_mask: bool = False, bfactor=None,
                    verbose: bool = False, cluster=None, particle_diameter: Optional[float] = None,
                    radial_filter: bool = True) -> dict:
    """Read a particle file (RELION .star or cryoSPARC .cs) and its stacks, reconstruct, write the maps.

    Writes ``map.mrc`` and ``slices.png``; with ``halves`` also ``half1.mrc``, ``half2.mrc``,
    ``fsc.csv`` and ``fsc.png`` (without, stale ones from an earlier job are removed).
    ``ground_truth`` (x, y, z) adds the map-vs-truth FSC. ``ctf_modes``: CTF options
    (:mod:`.ctf_modes`); ``subset`` 1 or 2: only that half set (its own random halves give
    the Wiener filter); ``angpix``, ``project_dir``: see :func:`read_particle_file`.
    ``symmetry`` is a --sym point group; ``mask`` (MRC path) or ``auto_mask`` add the masked
    FSC; ``bfactor`` ('auto' or Å²) writes ``map_sharpened.mrc`` and ``guinier.png``.
    ``chunk_size`` None: from the box (:func:`.reconstruct.chunk_size_for`). The returned
    ``timings`` hold seconds per stage (``verbose`` prints them).
    ``cluster`` (a :class:`.cluster.ClusterOptions`) backprojects on Dask workers instead
    of in this process (docs/scaling.md); the rest of the job is the same.
    ``particle_diameter`` (Å) masks the images (:func:`.particle_mask.image_mask`; None: no
    mask); ``radial_filter`` weights map.mrc by :func:`.radial_wiener.radial_wiener`.
    """
    say = _say(quiet)
    check_seed(seed)
    symmetry, bfactor = _postprocess_options(symmetry, mask, auto_mask, bfactor)
    ctf_modes = ctf_modes if ctf_modes is not None else CtfModes()
    particles = read_particle_file(star_path, angpix=angpix, project_dir=project_dir)
    if subset is not None:
        if particles.random_subset is None:
            raise JobError(f"--subset {subset} needs half-set labels in {star_path} (_rlnRandomSubset, or "
                           f"alignments3D/split in a .cs file); without them reconstruct all particles")
        total = len(particles)
        particles = particles.select(np.flatnonzero(particles.random_subset == subset))
        say(f"subset {subset}: {len(particles)} of {total} particles; the Wiener filter uses a random split of "
            f"them (seed {seed})")
    n = len(particles)
    if n < 2:
        raise JobError(f"{star_path} has {n} particle; a reconstruction with two half sets needs at least 2")
    _warn(defocus_warning(particles.ctf_params))
    t0 = time.perf_counter()
    with open_particle_reader(particles) as reader:
        box = reader.box
        for note in getattr(reader, "notes", []):
            say(f"resampling {note}")
        check_box(box, f"the particles of {star_path}")
        if ground_truth is not None and ground_truth.shape != (box,) * 3:
            raise JobError(f"the ground truth has shape {ground_truth.shape}, the particles box {box}")
        memory.check_reconstruct(box, pad, chunk_size)
        if mask is not None:
            mask, note = read_mask(mask, box, particles.voxel_size)
            if note:
                print(f"recovar-jl reconstruct: warning: {note}", file=sys.stderr, flush=True)
        problem = check_diameter(particle_diameter, box, particles.voxel_size)
        if problem:
            raise JobError(problem)
        if particles.random_subset is not None:
            assignment = particles.random_subset - 1
            split_note = "halves from _rlnRandomSubset"
        else:
            assignment = split_halves(n, np.random.default_rng(seed))
            split_note = f"random halves, seed {seed}"
        bp = Backprojector(box, particles.voxel_size, disc=disc, pad=pad, symmetry=symmetry, ctf_modes=ctf_modes,
                           particle_diameter=particle_diameter)
        chunk_size = chunk_size_for(box, pad) if chunk_size is None else int(chunk_size)
        with AtomicOutputs(out_dir) as out:  # creates DIR now: an unusable --out fails before the work
            say(f"reconstructing {n} particles ({box}×{box}, {particles.voxel_size:g} Å/pixel) with {disc} "
                f"interpolation, padding {bp.padded_box}/{box}, {split_note}, symmetry {symmetry} "
                f"({len(bp.operators)} operator{'s' if len(bp.operators) > 1 else ''}), {ctf_modes.describe()}, "
                f"chunks of {chunk_size}")
            if cluster is None:
                with _progress(n, "reconstruct", quiet) as bar:
                    backproject_rows(bp, reader, particles, assignment, 0, n, chunk_size, bar.update)
            else:
                from .distributed import backproject_star

                bp = backproject_star(cluster, particles, assignment, bp, chunk_size,
                                      lambda: _progress(n, "reconstruct", quiet), say, symmetry=symmetry,
                                      subset=subset, angpix=angpix, project_dir=project_dir)
            rec = bp.reconstruct(unfiltered=bfactor is not None)
            bp.release()   # the sums are done with: their memory goes to the map steps
            with bp.stage("wiener_filter"):
                if radial_filter:
                    filter_full_map(rec)
            with bp.stage("checks"):
                _warn(contrast_warning(rec.full, rec.fsc))
            with bp.stage("postprocess"):
                post = postprocess(rec, mask, auto_mask, bfactor, seed)
                gt_fsc = gt_crossing = None
                if ground_truth is not None:
                    gt_fsc = fsc_real(rec.full, ground_truth)
                    gt_crossing = crossing_frequency(rec.frequencies, gt_fsc, GROUND_TRUTH_THRESHOLD)
            with bp.stage("write"):
                _write_reconstruction(out, rec, halves, gt_fsc, gt_crossing, ground_truth,
                                      title=f"{n} particles, box {box}, {rec.voxel_size:g} Å/pixel, {disc}, "
                                            f"pad {bp.padded_box}/{box}, {symmetry}", post=post)
                write_postprocess(out, post, rec.voxel_size)
                out.remove_on_commit(*_STALE_OUTPUTS)  # those this job did not write (mask.mrc may be an input)
                written = out.commit()
            timings = {"read": 0.0, "read_wait": 0.0, **bp.timings}  # reading first, as it happens
    elapsed = time.perf_counter() - t0
    timings["total"] = elapsed
    say(f"wrote {', '.join(p.name for p in written)} to {Path(out_dir)} in {elapsed:.1f} s")
    if verbose:
        print("stage times (s): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items())
              + f"; {n / elapsed:.1f} images/s", flush=True)

    def nyquist_note(resolution) -> str:
        return "" if resolution is None else f" (Nyquist {1.0 / rec.nyquist:.2f} Å)"

    if post.masked is not None:
        print(f"FSC=0.143 resolution (masked, corrected by phase randomisation): "
              f"{resolution_text(post.resolution, rec.nyquist)}{nyquist_note(post.resolution)}", flush=True)
    print(f"FSC=0.143 resolution (half maps{', unmasked' if post.masked is not None else ''}): "
          f"{resolution_text(rec.resolution, rec.nyquist)}{nyquist_note(rec.resolution)}", flush=True)
    for note in post.notes:
        print(f"recovar-jl reconstruct: warning: {note}", file=sys.stderr, flush=True)
    if post.sharpened is not None:
        how = "fitted from the Guinier plot" if post.sharpened.fitted else "given"
        print(f"sharpened with B-factor {post.sharpened.bfactor:.1f} Å² ({how}), FSC-weighted and low-pass "
              f"filtered at {post.sharpened.resolution:.2f} Å: map_sharpened.mrc", flush=True)
    if gt_fsc is not None:
        print(f"FSC=0.5 resolution (map vs ground truth): {resolution_text(gt_crossing, rec.nyquist)}", flush=True)
    return {"reconstruction": rec, "fsc_ground_truth": gt_fsc, "seconds": elapsed, "written": written,
            "postprocess": post, "timings": timings, "chunk_size": chunk_size}


def _postprocess_options(symmetry, mask, auto_mask: bool, bfactor):
    """--sym, --mask/--auto-mask and --bfactor checked before any work (JobError)."""
    from .postprocess import parse_bfactor
    from .symmetry import parse_symmetry

    if mask is not None and auto_mask:
        raise JobError("give either --mask or --auto-mask, not both")
    try:
        return parse_symmetry(symmetry), (None if bfactor is None else parse_bfactor(bfactor))
    except ValueError as exc:
        raise JobError(str(exc)) from None


# --------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------
def demo_job(out_dir="recovar_jl_demo", n_images: int = 10000, box: int = 64, voxel_size: float = 3.0,
             snr: float = 1.0, seed: int = 0, disc: str = "linear", pad: float = 2.0, quiet: bool = False) -> dict:
    """Phantom → simulate → reconstruct → compare with the phantom, all in ``out_dir``."""
    from .phantom import gaussian_atom_phantom

    check_box(box, "--box")
    check_seed(seed)
    memory.check_demo(box, pad, n_images)
    t0 = time.perf_counter()
    phantom = gaussian_atom_phantom(box)
    print(f"recovar-jl demo: Gaussian-atom phantom {box}³ at {voxel_size:g} Å/voxel, {n_images} particles, "
          f"SNR {snr:g} → {Path(out_dir)}/", flush=True)
    sim = simulate_job(phantom, voxel_size, out_dir, n_images, snr, seed=seed, disc=disc, pad=pad, quiet=quiet)
    result = reconstruct_job(Path(out_dir) / "particles.star", out_dir, disc=disc, pad=pad, seed=seed,
                             quiet=quiet, ground_truth=phantom)
    rec, gt = result["reconstruction"], result["fsc_ground_truth"]
    shell = int(round(0.8 * (box // 2)))
    print(f"FSC vs ground truth at 0.8 × Nyquist ({1.0 / rec.frequencies[shell]:.2f} Å): {gt[shell]:.3f}; "
          f"at Nyquist: {gt[-1]:.3f}", flush=True)
    total = time.perf_counter() - t0
    print(f"demo finished in {total:.1f} s (simulate {sim['seconds']:.1f} s, reconstruct "
          f"{result['seconds']:.1f} s); see {Path(out_dir) / 'fsc.png'} and {Path(out_dir) / 'slices.png'}", flush=True)
    return {"simulate": sim, "reconstruct": result, "seconds": total, "phantom": phantom}


def read_map_for_simulation(path, voxel_size: Optional[float]) -> tuple:
    """MAP.mrc → (volume[x, y, z], voxel size), with the CLI's error messages."""
    volume, header_voxel = read_volume(path, hint="give a cubic MRC map (e.g. from EMDB or relion_reconstruct)")
    voxel = voxel_size if voxel_size is not None else header_voxel
    if voxel is None or not voxel > 0:
        raise JobError(f"{path} has no voxel size in its header; pass --voxel-size (Å per voxel)")
    check_box(volume.shape[0], str(path))
    return volume, float(voxel)
