"""Command line of recovar_jl (`recovar-jl`, `python -m recovar_jl`).

  recovar-jl demo          phantom → 10,000 simulated particles → reconstruction, no input needed
  recovar-jl simulate      particles (RELION .star + .mrcs) from a map, with CTFs, shifts, noise
  recovar-jl reconstruct   map, half maps, FSC and pictures from a RELION particles .star file
  recovar-jl info          the Julia runtime recovar_jl uses
"""
from __future__ import annotations

import argparse
import os
import sys

_EPILOG = ("Run 'recovar-jl COMMAND --help' for the options of a command. Docs: docs/cli.md (with a table of "
           "RELION options and their equivalents).")

# Hints for options a RELION user types out of habit (argparse would only say "unrecognized").
_RELION_HINTS = {
    "--o": "recovar-jl writes a directory of outputs: use --out DIR",
    "--i": "give the particle file as the first argument (no --i)",
    "--ctf": "CTF correction is on by default (--no-ctf turns it off)",
    "--fsc": "the Wiener filter always uses the half-map FSC",
}


class _Parser(argparse.ArgumentParser):
    """ArgumentParser with one-line errors (exit code 2) and hints for RELION option names."""

    def parse_known_args(self, args=None, namespace=None):
        self._seen = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def _hint(self) -> str:
        for token in getattr(self, "_seen", []):
            option = str(token).split("=", 1)[0]
            if not option.startswith("--") or option in self._option_string_actions:
                continue
            if option in _RELION_HINTS:
                return f" ({option}: {_RELION_HINTS[option]})"
            if "_" in option:
                return f" (recovar-jl spells options with dashes: {option.replace('_', '-')})"
        return ""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}{self._hint()}; see '{self.prog} --help'\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Wrapped descriptions; defaults shown unless there is nothing useful to show."""

    def _get_help_string(self, action):
        if action.required or action.default is None or action.default is False or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _int_at_least(minimum: int):
    """An argparse type: a whole number >= minimum."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


_positive_int = _int_at_least(1)
_seed = _int_at_least(0)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _positive_number(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value:g}")
    return value


def _subset(text: str) -> int:
    if text not in ("1", "2"):
        raise argparse.ArgumentTypeError(f"must be 1 or 2 (the half set to reconstruct), got {text!r}")
    return int(text)


def _pad(text: str) -> float:
    value = _number(text)
    if not 1 <= value <= 4:
        raise argparse.ArgumentTypeError(f"padding factor must be between 1 and 4, got {value:g}")
    return value


_DISC_CHOICES = ("nearest", "linear", "cubic")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or progress messages (results are still printed)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="recovar-jl", description=__doc__, epilog=_EPILOG, allow_abbrev=False,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"recovar-jl {__version__} (recovar_jl; mirrors recovar.core of recovar 1.0.5)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("info", help="show the Julia runtime recovar_jl uses (version, threads, FFTW, paths)",
                   allow_abbrev=False,
                   description=("Show the Julia runtime recovar_jl uses (version, threads, FFTW, paths). Exits with "
                                "code 1 when Julia cannot be used (the message says why)."))

    demo = sub.add_parser(
        "demo", help="simulate and reconstruct a built-in phantom (no input needed)", formatter_class=_Formatter,
        allow_abbrev=False,
        description=("Build a deterministic phantom (a synthetic molecule of Gaussian atoms), simulate particles "
                     "from it (uniform random poses, random shifts, astigmatic CTFs, white noise), reconstruct "
                     "them with two half sets, and compare the map with the phantom. Everything is written to "
                     "--out: ground_truth.mrc, particles.mrcs, particles.star, half1.mrc, half2.mrc, map.mrc, "
                     "fsc.csv, fsc.png (half-map FSC and FSC against the phantom) and slices.png (central "
                     "slices of the map and of the phantom). Prints the FSC=0.143 resolution and the FSC "
                     "against the ground truth."))
    demo.add_argument("--out", default="recovar_jl_demo", help="output directory (created if needed)")
    demo.add_argument("--n-images", type=_positive_int, default=10000, help="number of particles")
    demo.add_argument("--box", type=_positive_int, default=64,
                      help="box size in pixels (even); a box whose memory the machine cannot hold is refused up "
                           "front, naming the largest that fits (docs/cli.md, Memory)")
    demo.add_argument("--voxel-size", type=_number, default=3.0, help="pixel size of the phantom, Å")
    demo.add_argument("--snr", type=_number, default=1.0, help="signal variance / noise variance over the image")
    demo.add_argument("--seed", type=_seed, default=0, help="random seed (poses, CTFs, noise, half split)")
    demo.add_argument("--disc", choices=_DISC_CHOICES, default="linear", help="interpolation in Fourier space")
    demo.add_argument("--pad", type=_pad, default=2.0, help="padding factor of images and volume in Fourier space")
    _add_common(demo)

    sim = sub.add_parser(
        "simulate", help="simulate RELION particles (.star + .mrcs) from a map", formatter_class=_Formatter,
        allow_abbrev=False,
        description=("Project MAP.mrc at uniformly random orientations, shift by random translations, apply "
                     "astigmatic CTFs (300 kV, Cs 2.7 mm, amplitude contrast 0.1, RELION sign: particles white) "
                     "and add white Gaussian noise. SNR = variance of the noiseless images / variance of the "
                     "noise, over the whole box. Writes DIR/particles.mrcs, a RELION 3.1 DIR/particles.star "
                     "(optics + particles tables: image names, Euler angles rot/tilt/psi in degrees, origins in "
                     "Å, defocus U/V/angle, phase shift, B-factor) and DIR/ground_truth.mrc."))
    sim.add_argument("map", metavar="MAP.mrc", help="cubic MRC map to project (even box)")
    sim.add_argument("--n-images", type=_positive_int, required=True, help="number of particles")
    sim.add_argument("--snr", type=_number, required=True, help="signal variance / noise variance over the image")
    sim.add_argument("--out", required=True, metavar="DIR", help="output directory (created if needed)")
    sim.add_argument("--defocus-range", type=_number, nargs=2, default=[8000.0, 25000.0], metavar=("MIN", "MAX"),
                     help="mean defocus drawn uniformly in [MIN, MAX] Å (underfocus positive); astigmatism up to 5%%")
    sim.add_argument("--max-shift", type=_number, default=3.0, metavar="PX",
                     help="translations drawn uniformly in [-PX, PX] pixels along x and y")
    sim.add_argument("--seed", type=_seed, default=0, help="random seed (poses, CTFs, noise)")
    sim.add_argument("--disc", choices=_DISC_CHOICES, default="linear", help="interpolation used to project")
    sim.add_argument("--pad", type=_pad, default=2.0, help="oversampling of the map's spectrum while projecting")
    sim.add_argument("--voxel-size", type=_number, default=None, help="pixel size in Å (default: from the MRC header)")
    _add_common(sim)

    rec = sub.add_parser(
        "reconstruct", help="reconstruct a map from a RELION .star or cryoSPARC .cs particle file",
        formatter_class=_Formatter, allow_abbrev=False,
        description=("Read PARTICLES.star (RELION 3.1+ with data_optics, or 3.0) or a cryoSPARC PARTICLES.cs, "
                     "and the image stacks "
                     "(streamed in chunks), convert Euler angles and origins to recovar's "
                     "conventions, backproject CTF-weighted images and CTF² weights, and form the map with a "
                     "Wiener filter whose SNR comes from the half-map FSC, with the gridding correction of the "
                     "chosen interpolation and padding. Stacks named in _rlnImageName are looked up next to the "
                     "STAR file, then in the current directory. Writes DIR/map.mrc and DIR/slices.png, and with "
                     "--halves DIR/half1.mrc, DIR/half2.mrc, DIR/fsc.csv and DIR/fsc.png; prints the FSC=0.143 "
                     "resolution. Halves come from _rlnRandomSubset when present, else a random split. Optics "
                     "groups with other pixel sizes or boxes are Fourier-resampled to the first group's. Warns "
                     "(stderr) about negative defocus and about a map that looks inverted."))
    rec.add_argument("star", metavar="PARTICLES.star", help="RELION particles .star file, or a cryoSPARC .cs file")
    rec.add_argument("--out", required=True, metavar="DIR", help="output directory (created if needed)")
    rec.add_argument("--disc", choices=_DISC_CHOICES, default="linear", help="interpolation in Fourier space")
    rec.add_argument("--pad", type=_pad, default=2.0, help="padding factor of images and volume (2 = twice the box)")
    rec.add_argument("--halves", action=argparse.BooleanOptionalAction, default=True,
                     help="write half maps, fsc.csv and fsc.png (the Wiener filter always uses two halves)")
    rec.add_argument("--seed", type=_seed, default=0, help="random seed of the half split")
    rec.add_argument("--chunk", type=_positive_int, default=None,
                     help="particles per chunk (bounds memory; default: about 256 MB of chunk arrays, from the box)")
    rec.add_argument("-v", "--verbose", action="store_true",
                     help="print the time of each stage (read, FFT, CTF, backprojection, reduction, final transforms, "
                          "FSC, Wiener filter, checks, post-processing, writing)")
    dist = rec.add_argument_group(
        "Dask distributed (docs/scaling.md)",
        "Backproject on Dask workers: each reads its own particles from the stacks and only volumes "
        "travel. Without these options the job runs in this process.")
    where = dist.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int, metavar="N",
                       help="start a local Dask cluster of N worker processes (prints its dashboard address)")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="use the running Dask scheduler at this address; its workers must see the same files")
    where.add_argument("--scheduler-file", metavar="FILE",
                       help="use the Dask scheduler described in FILE ('dask scheduler --scheduler-file FILE')")
    dist.add_argument("--threads-per-worker", type=_positive_int, metavar="T",
                      help="Julia threads in each worker (default with --workers: cores / N)")
    inputs = rec.add_argument_group("input (RELION names where RELION has the option)")
    inputs.add_argument("--angpix", type=_positive_number, metavar="Å",
                        help="pixel size of the images, for files without one (RELION 3.0 without "
                             "_rlnDetectorPixelSize/_rlnMagnification, or a .cs without blob/psize_A)")
    inputs.add_argument("--project-dir", metavar="DIR",
                        help="cryoSPARC project directory that blob/path in a .cs file is relative to "
                             "(default: the .cs file's folder, its parent, then the current directory)")
    inputs.add_argument("--subset", type=_subset, metavar="1|2",
                        help="reconstruct only half set 1 or 2 (_rlnRandomSubset, or alignments3D/split + 1); "
                             "a random split of it gives the Wiener filter")
    ctf = rec.add_argument_group("CTF (RELION's relion_reconstruct options, dashes for underscores)")
    modes = ctf.add_mutually_exclusive_group()
    modes.add_argument("--no-ctf", action="store_true",
                       help="no CTF correction (RELION's default without --ctf): plain backprojection")
    modes.add_argument("--ctf-phase-flip", "--only-flip-phases", dest="ctf_phase_flip", action="store_true",
                       help="correct the CTF by flipping phases only, no amplitude correction (RELION's "
                            "--only_flip_phases)")
    modes.add_argument("--ctf-phase-flipped", action="store_true",
                       help="the images have been phase-flipped already: weight by |CTF| (RELION's "
                            "--ctf_phase_flipped)")
    ctf.add_argument("--ctf-intact-first-peak", action="store_true",
                     help="leave the CTF at 1 until its first peak (RELION's --ctf_intact_first_peak)")
    ctf.add_argument("--invert-contrast", action="store_true",
                     help="negate the images first: for dark particles on a light background, the opposite of "
                          "RELION's convention (reconstruct warns when the map looks inverted)")
    ctf.add_argument("--maxres", type=_positive_number, metavar="Å",
                     help="backproject only up to this resolution in Å (RELION's --maxres; default: Nyquist)")
    rec.add_argument("--particle-diameter", type=_number, default=None, metavar="Å",
                     help="mask the images before backprojection with a disc of this diameter (Å) and a 5-pixel "
                          "soft edge, as relion_refine's --particle_diameter: removes noise around the particle "
                          "but also the CTF-delocalised signal outside the disc, so give it room (default: no mask)")
    rec.add_argument("--radial-filter", action=argparse.BooleanOptionalAction, default=True,
                     help="weight map.mrc by the local SNR the half maps show per frequency band and distance "
                          "from the box centre (solvent noise goes to 0); the half maps are never filtered")
    _add_postprocess(rec)
    _add_common(rec)
    return parser


def _checked(parse):
    """An argparse type from a parser that raises ValueError."""
    def convert(text):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = parse.__name__
    return convert


def _add_postprocess(rec: argparse.ArgumentParser) -> None:
    from .jobs.postprocess import parse_bfactor
    from .jobs.symmetry import parse_symmetry

    group = rec.add_argument_group("symmetry and post-processing (as relion_reconstruct --sym and relion_postprocess)")
    group.add_argument("--sym", type=_checked(parse_symmetry), default="C1", metavar="GROUP",
                       help="point group, RELION's names and axes: C1 (none), Cn (n-fold along z), Dn (n-fold along z, "
                            "2-fold along x), T, O, I (= I2, RELION's default), I1, I2, I3, I4; each particle is "
                            "backprojected once per symmetry operator (time grows with the group's order)")
    masks = group.add_mutually_exclusive_group()
    masks.add_argument("--mask", metavar="MASK.mrc", default=None,
                       help="soft solvent mask (values in [0, 1], the map's box): adds the masked FSC, corrected by "
                            "phase randomisation, to fsc.csv and fsc.png; the printed resolution is the corrected one")
    masks.add_argument("--auto-mask", action="store_true",
                       help="as --mask, with a soft mask built from the half maps (threshold, extend, soft edge); "
                            "written as DIR/mask.mrc")
    group.add_argument("--bfactor", type=_checked(parse_bfactor), default=None, metavar="auto|B",
                       help="sharpen: FSC weighting, B-factor (auto: fitted to the Guinier plot from 10 Å to the "
                            "resolution; or a value in Å², negative sharpens, e.g. -80) and a low-pass at the "
                            "resolution; writes DIR/map_sharpened.mrc and DIR/guinier.png")


def _run(args) -> int:
    from .jobs import commands

    if args.command == "demo":
        commands.demo_job(args.out, n_images=args.n_images, box=args.box, voxel_size=args.voxel_size,
                          snr=args.snr, seed=args.seed, disc=args.disc, pad=args.pad, quiet=args.quiet)
    elif args.command == "simulate":
        volume, voxel = commands.read_map_for_simulation(args.map, args.voxel_size)
        commands.simulate_job(volume, voxel, args.out, args.n_images, args.snr,
                              defocus_range=tuple(args.defocus_range), max_shift=args.max_shift, seed=args.seed,
                              disc=args.disc, pad=args.pad, quiet=args.quiet)
    elif args.command == "reconstruct":
        cluster = None
        if any(v is not None for v in (args.workers, args.scheduler, args.scheduler_file, args.threads_per_worker)):
            from .jobs.cluster import ClusterOptions

            cluster = ClusterOptions(workers=args.workers, threads_per_worker=args.threads_per_worker,
                                     scheduler=args.scheduler, scheduler_file=args.scheduler_file)
        from .jobs.ctf_modes import CtfModes

        if args.ctf_intact_first_peak and args.no_ctf:
            raise commands.JobError("--ctf-intact-first-peak needs CTF correction; drop --no-ctf")
        correction = ("none" if args.no_ctf else "phase-flip" if args.ctf_phase_flip
                      else "phase-flipped" if args.ctf_phase_flipped else "full")
        modes = CtfModes(correction=correction, intact_first_peak=args.ctf_intact_first_peak,
                         invert_contrast=args.invert_contrast, maxres=args.maxres)
        commands.reconstruct_job(args.star, args.out, disc=args.disc, pad=args.pad, halves=args.halves,
                                 seed=args.seed, chunk_size=args.chunk, quiet=args.quiet, ctf_modes=modes,
                                 subset=args.subset, angpix=args.angpix, project_dir=args.project_dir,
                                 symmetry=args.sym, mask=args.mask, auto_mask=args.auto_mask, bfactor=args.bfactor,
                                 verbose=args.verbose, cluster=cluster, particle_diameter=args.particle_diameter,
                                 radial_filter=args.radial_filter)
    return 0


def _info() -> int:
    """Print the runtime facts; exit code 1 when Julia cannot be used (info() says why)."""
    from . import _julia

    try:
        _julia.runtime_info()
        usable = True
    except Exception:  # JuliaSetupError, or a runtime that starts but cannot call RecovarCore
        usable = False
    _julia.info()
    return 0 if usable else 1


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from ._julia import JuliaSetupError
    from .jobs.errors import JobError

    try:
        if args.command == "info":
            code = _info()
        else:
            code = _run(args)
        sys.stdout.flush()  # here, where a closed pipe is caught below, not at exit
        return code
    except JobError as exc:
        print(f"recovar-jl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except JuliaSetupError as exc:
        print(f"recovar-jl {args.command}: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"recovar-jl {args.command}: interrupted; no output was completed", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`recovar-jl ... | head -1`): stop as a command killed by
        # SIGPIPE would, quietly; stdout goes to /dev/null so that Python's final flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
