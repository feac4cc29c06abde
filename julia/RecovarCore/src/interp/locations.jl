# Located access.
#
# Each interpolation is split in two: `locate` turns a grid point into a location (which
# stored entries, how they are read, the interpolation fractions), `evaluate`/`scatter_at!`
# read or update the volume there. Kernels locate a whole row of pixels first (prefetching
# the cache lines) and evaluate afterwards; `sample_*`/`scatter_*!` are the composition.

"Block kinds of a location: outside the grid, stored directly, stored conjugated (half volume, kz < 0), anything else."
const OUTSIDE = 0
const DIRECT = 1
const CONJUGATED = 2
const GENERAL = 3

"Stride of axis 1 (the stored last-axis length) and of axis 0 in the flat storage."
@inline stride1(l::FullVolume) = l.n2
@inline stride1(l::HalfVolume) = l.n2h
@inline stride0(l::VolumeLayout) = l.n1 * stride1(l)

"""
    VoxelLocation(k, kind)

Where the nearest-neighbour sample lies: stored entry `k`, `kind` `OUTSIDE`, `DIRECT` or
`CONJUGATED`.
"""
struct VoxelLocation
    k::Int
    kind::Int
end

"""
    CellLocation{T}

The 2×2×2 cell of a linear interpolation: `kind` `OUTSIDE`, `DIRECT` (corner (0,0,0) is
stored entry `k`, the others at `k + a2 + a1·stride1 + a0·stride0`), `CONJUGATED` (half
volume, all corners at negative kz: corner a is the conjugate of entry
`k − a2 − a1·stride1 − a0·stride0`) or `GENERAL` (corner (0,0,0) is the full grid point
`(i0, i1, i2)`, each corner checked and read on its own). `f0, f1, f2`: the fractions.
"""
struct CellLocation{T}
    k::Int
    kind::Int
    i0::Int
    i1::Int
    i2::Int
    f0::T
    f1::T
    f2::T
end

"""
    CubicLocation{T}

A cubic stencil: the grid point itself (the stencil is recomputed when evaluating; its
64 reads dominate the cost).
"""
struct CubicLocation{T}
    g0::T
    g1::T
    g2::T
end
