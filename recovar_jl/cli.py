"""Command line of recovar_jl (`recovar-jl`, `python -m recovar_jl`)."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recovar-jl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="show the Julia runtime recovar_jl uses (version, threads, FFTW, paths)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "info":
        from . import info
        info()
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
