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
include("interp/spline.jl")

# Projection and backprojection, bottom up: volume layouts and voxel access, the image plane
# and slice geometry, per-order located access (locate, then evaluate or scatter), SIMD and
# prefetch helpers, thread partitioning, row passes, then the threaded kernels. forward.jl
# builds the fused forward model on the same pieces.
include("engine/layouts.jl")
include("engine/plane.jl")
include("interp/locations.jl")
include("engine/simd.jl")
include("interp/nearest.jl")
include("interp/linear.jl")
include("interp/cubic.jl")
include("interp/orders.jl")
include("engine/prefetch.jl")
include("engine/threads.jl")
include("engine/rows.jl")
include("engine/project.jl")
include("engine/backproject.jl")
include("cabi/slicing.jl")
include("forward.jl")
include("padding.jl")
include("linalg.jl")
include("precompile.jl")

end
