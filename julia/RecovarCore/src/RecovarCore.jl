"""
    RecovarCore

Numerical kernels of recovar_jl, a re-implementation of `recovar.core` (recovar 1.0.5):
centered FFTs and rfft half-spectrum packing, CTF evaluation, slice geometry, Fourier-slice
projection and backprojection (nearest, linear, periodic cubic B-spline), translations,
forward model and padding. Depends only on Julia's standard library; FFTW is the system
library reached by `ccall` (see `fftw.jl`).

Python reaches every kernel through one C-ABI entry point (`cabi.jl`). Arrays arrive as
column-major views of C-ordered NumPy buffers, so a NumPy `(n, H, W)` stack is a Julia
`(W, H, n)` array here.
"""
module RecovarCore

using Libdl

include("cabi.jl")
include("fftw.jl")
include("fourier.jl")
include("ctf.jl")
include("geometry.jl")
include("cubic.jl")
include("slicing.jl")
include("forward.jl")
include("padding.jl")
include("linalg.jl")
include("precompile.jl")

end
