"""The jobs behind the ``recovar-jl`` command: RELION I/O, phantom, simulation, reconstruction.

Everything numerical goes through the public API of :mod:`recovar_jl.core`; this package adds
file formats (STAR, MRC), pose conventions, the Wiener-filtered reconstruction, FSC and plots.
"""
from .errors import JobError

__all__ = ["JobError"]
