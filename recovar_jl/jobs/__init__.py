"""The jobs behind the ``recovar-jl`` command: RELION and cryoSPARC I/O, phantom, simulation, reconstruction.

Every kernel (FFTs of images and volumes, CTFs, slicing, backprojection) goes through the
public API of :mod:`recovar_jl.core`; this package adds file formats (STAR, ``.cs``, MRC),
pose conventions, optics-group resampling (:mod:`.optics`), the CTF options
(:mod:`.ctf_modes`), the Wiener-filtered reconstruction, FSC, warnings (:mod:`.sanity`) and plots.
"""
from .errors import JobError

__all__ = ["JobError"]
