"""ASPIRE's least-squares mean volume from a RELION particles STAR file (run in .venv-aspire).

    .venv-aspire/bin/python run_aspire.py PARTICLES.star OUT.mrc [--maxiter 50]

Reads the particles, poses, shifts and CTFs with ASPIRE's own ``RelionSource`` and solves
for the mean with ``MeanEstimator`` (conjugate gradient, circulant preconditioner, ASPIRE's
default Dirac basis). The images are used as they are: no contrast inversion, no whitening,
so compare.py finds the sign and orientation by correlation and reports them.
"""
import argparse
import os

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("star")
    parser.add_argument("out")
    parser.add_argument("--maxiter", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()

    import mrcfile
    from aspire.reconstruction import MeanEstimator
    from aspire.source import RelionSource

    source = RelionSource(args.star, data_folder=os.path.dirname(os.path.abspath(args.star)))
    estimator = MeanEstimator(source, batch_size=args.batch_size, maxiter=args.maxiter,
                              checkpoint_iterations=None)
    volume = estimator.estimate()
    data = np.asarray(volume.asnumpy()[0], dtype=np.float32)   # one volume, not a stack of one
    with mrcfile.new(args.out, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = float(source.pixel_size)


if __name__ == "__main__":
    main()
