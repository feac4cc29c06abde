"""
    RecovarCore

Numerical kernels of recovar_jl, a re-implementation of `recovar.core` (recovar 1.0.5):
centered FFTs and rfft half-spectrum packing, CTF evaluation, slice geometry, Fourier-slice
projection and backprojection (nearest, linear, periodic cubic B-spline), translations,
forward model and padding. Depends only on Julia's standard library; FFTW is the system
library reached by `ccall` (see `fftw.jl`).

Two ways in: the exported API on plain Julia arrays (`ProjectionPlan`, `ForwardModel`,
`ctf`, `centered_fft`, …; src/api/, tutorial in docs/julia.md), and, for Python, one C-ABI
entry point (`cabi.jl`) whose kernels receive column-major views of C-ordered NumPy
buffers, so a NumPy `(n, H, W)` stack is a Julia `(W, H, n)` array here. Both reach the
same engine; docs/architecture.md shows the layers, docs/conventions.md the conventions.
"""
module RecovarCore

using Libdl
import LinearAlgebra
using LinearAlgebra: mul!
using Random: AbstractRNG
import Random

# The exported API (src/api/, docs/julia.md): plain Julia arrays in (x, y, z) order.
export Nearest, Linear, Cubic, GridLayout, FullGrid, HalfGrid, ImageGrid,
       ProjectionPlan, CTFParams, CTFMode, SPA, SPAAntialiased, TiltSeries, CryoET, ctf,
       ForwardModel, normal, centered_fft, centered_ifft, centered_rfft, centered_irfft,
       zero_pad, crop, translate, padded_spectra, random_rotations, slice_points, fsc, resolution,
       volume_dims, image_dims, npose

include("cabi.jl")
include("engine/threads.jl")   # the thread partitioner, used by every kernel
include("fftw.jl")
include("fourier.jl")
include("ctf.jl")
include("geometry.jl")
include("image_spectra.jl")   # the reconstruct job's padded, translated image spectra
include("halfgrid_shells.jl")   # the reconstruct job's shell sums and Wiener division on its finished sums
include("radial_profiles.jl")   # the radial Wiener filter's radial sums and weighting
include("interp/spline.jl")

# Projection and backprojection, bottom up: volume layouts and voxel access, the image plane
# and slice geometry, per-order located access (locate, then evaluate or scatter), SIMD and
# prefetch helpers, row passes, then the threaded kernels. forward.jl
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
include("engine/rows.jl")
include("engine/project.jl")
include("engine/backproject.jl")
include("engine/accumulate.jl")
include("cabi/slicing.jl")
include("forward.jl")
include("engine/ctf_pixels.jl")  # the fused backprojection's in-kernel CTF (uses forward.jl's CTF sources)
include("api/grids.jl")
include("api/projection.jl")
include("api/ctf.jl")
include("api/forward_model.jl")
include("api/fourier.jl")
include("api/geometry.jl")
include("api/fsc.jl")
include("precompile.jl")

__init__() = init_math_pointers()

end
