"""Command line of recovar_jl (`recovar-jl`, `python -m recovar_jl`).

  recovar-jl demo          phantom → 10,000 simulated particles → reconstruction, no input needed
  recovar-jl simulate      particles (RELION .star + .mrcs) from a map, with CTFs, shifts, noise
  recovar-jl reconstruct   map, half maps, FSC and pictures from a RELION particles .star file
  recovar-jl info          the Julia runtime recovar_jl uses
"""
from __future__ import annotations

import argparse
import sys

_EPILOG = "Run 'recovar-jl COMMAND --help' for the options of a command. Docs: docs/cli.md."


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Wrapped descriptions; defaults shown unless there is nothing useful to show."""

    def _get_help_string(self, action):
        if action.required or action.default is None or action.default is False or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _pad(text: str) -> float:
    value = _number(text)
    if not 1 <= value <= 4:
        raise argparse.ArgumentTypeError(f"padding factor must be between 1 and 4, got {value:g}")
    return value


_DISC_CHOICES = ("nearest", "linear", "cubic")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or progress messages (results are still printed)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recovar-jl", description=__doc__, epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("info", help="show the Julia runtime recovar_jl uses (version, threads, FFTW, paths)",
                   description="Show the Julia runtime recovar_jl uses (version, threads, FFTW, paths).")

    demo = sub.add_parser(
        "demo", help="simulate and reconstruct a built-in phantom (no input needed)", formatter_class=_Formatter,
        description=("Build a deterministic phantom (a synthetic molecule of Gaussian atoms), simulate particles "
                     "from it (uniform random poses, random shifts, astigmatic CTFs, white noise), reconstruct "
                     "them with two half sets, and compare the map with the phantom. Everything is written to "
                     "--out: ground_truth.mrc, particles.mrcs, particles.star, half1.mrc, half2.mrc, map.mrc, "
                     "fsc.csv, fsc.png (half-map FSC and FSC against the phantom) and slices.png (central "
                     "slices of the map and of the phantom). Prints the FSC=0.143 resolution and the FSC "
                     "against the ground truth."))
    demo.add_argument("--out", default="recovar_jl_demo", help="output directory (created if needed)")
    demo.add_argument("--n-images", type=_positive_int, default=10000, help="number of particles")
    demo.add_argument("--box", type=_positive_int, default=64, help="box size in pixels (even)")
    demo.add_argument("--voxel-size", type=_number, default=3.0, help="pixel size of the phantom, Å")
    demo.add_argument("--snr", type=_number, default=1.0, help="signal variance / noise variance over the image")
    demo.add_argument("--seed", type=int, default=0, help="random seed (poses, CTFs, noise, half split)")
    demo.add_argument("--disc", choices=_DISC_CHOICES, default="linear", help="interpolation in Fourier space")
    demo.add_argument("--pad", type=_pad, default=2.0, help="padding factor of images and volume in Fourier space")
    _add_common(demo)

    sim = sub.add_parser(
        "simulate", help="simulate RELION particles (.star + .mrcs) from a map", formatter_class=_Formatter,
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
    sim.add_argument("--seed", type=int, default=0, help="random seed (poses, CTFs, noise)")
    sim.add_argument("--disc", choices=_DISC_CHOICES, default="linear", help="interpolation used to project")
    sim.add_argument("--pad", type=_pad, default=2.0, help="oversampling of the map's spectrum while projecting")
    sim.add_argument("--voxel-size", type=_number, default=None, help="pixel size in Å (default: from the MRC header)")
    _add_common(sim)

    rec = sub.add_parser(
        "reconstruct", help="reconstruct a map from a RELION particles .star file", formatter_class=_Formatter,
        description=("Read PARTICLES.star (RELION 3.1+ with data_optics, or 3.0) and its image stacks "
                     "(memory-mapped, streamed in chunks), convert Euler angles and origins to recovar's "
                     "conventions, backproject CTF-weighted images and CTF² weights, and form the map with a "
                     "Wiener filter whose SNR comes from the half-map FSC, with the gridding correction of the "
                     "chosen interpolation and padding. Stacks named in _rlnImageName are looked up next to the "
                     "STAR file, then in the current directory. Writes DIR/map.mrc and DIR/slices.png, and with "
                     "--halves DIR/half1.mrc, DIR/half2.mrc, DIR/fsc.csv and DIR/fsc.png; prints the FSC=0.143 "
                     "resolution. Halves come from _rlnRandomSubset when present, else a random split."))
    rec.add_argument("star", metavar="PARTICLES.star", help="RELION particles STAR file")
    rec.add_argument("--out", required=True, metavar="DIR", help="output directory (created if needed)")
    rec.add_argument("--disc", choices=_DISC_CHOICES, default="linear", help="interpolation in Fourier space")
    rec.add_argument("--pad", type=_pad, default=2.0, help="padding factor of images and volume (2 = twice the box)")
    rec.add_argument("--halves", action=argparse.BooleanOptionalAction, default=True,
                     help="write half maps, fsc.csv and fsc.png (the Wiener filter always uses two halves)")
    rec.add_argument("--seed", type=int, default=0, help="random seed of the half split")
    rec.add_argument("--chunk", type=_positive_int, default=256, help="particles per chunk (bounds memory)")
    rec.add_argument("--particle-diameter", type=_number, default=None, metavar="Å",
                     help="mask the images before backprojection with a disc of this diameter (Å) and a 5-pixel "
                          "soft edge, as relion_refine's --particle_diameter: removes noise around the particle "
                          "but also the CTF-delocalised signal outside the disc, so give it room (default: no mask)")
    rec.add_argument("--radial-filter", action=argparse.BooleanOptionalAction, default=True,
                     help="weight map.mrc by the local SNR the half maps show per frequency band and distance "
                          "from the box centre (solvent noise goes to 0); the half maps are never filtered")
    _add_common(rec)
    return parser


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
        commands.reconstruct_job(args.star, args.out, disc=args.disc, pad=args.pad, halves=args.halves,
                                 seed=args.seed, chunk_size=args.chunk, quiet=args.quiet,
                                 particle_diameter=args.particle_diameter, radial_filter=args.radial_filter)
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "info":
        from . import info
        info()
        return 0
    from ._julia import JuliaSetupError
    from .jobs.errors import JobError

    try:
        return _run(args)
    except JobError as exc:
        print(f"recovar-jl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except JuliaSetupError as exc:
        print(f"recovar-jl {args.command}: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"recovar-jl {args.command}: interrupted; no output was completed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
