"""recovar_jl: recovar.core's primitives for cryo-EM, with Julia kernels.

`recovar_jl.core` mirrors `recovar.core` (recovar 1.0.5): same submodules, names and
arguments, NumPy arrays in and out. Julia starts on the first kernel call.
"""
from ._julia import JuliaError, JuliaSetupError, info

__version__ = "0.1.0"
__all__ = ["JuliaError", "JuliaSetupError", "info", "__version__"]
