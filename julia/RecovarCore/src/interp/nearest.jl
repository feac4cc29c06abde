# Nearest-neighbour interpolation of a volume at a grid point and its adjoint.

"""
    locate_nearest(v::VolumeView, g0, g1, g2) -> VoxelLocation

The grid point nearest to `g` (each coordinate rounded half to even, as recovar's CPU
path): its stored entry, or `OUTSIDE` if it is not in the grid.
"""
@inline function locate_nearest(v::VolumeView, g0::Tc, g1::Tc, g2::Tc) where {Tc<:AbstractFloat}
    l = v.layout
    r0 = round(g0)
    r1 = round(g1)
    r2 = round(g2)
    # compare as floats (of the coordinate type) first: huge coordinates never reach the
    # Int conversion
    z = zero(Tc)
    ((z <= r0) & (r0 <= Tc(l.n0 - 1)) & (z <= r1) & (r1 <= Tc(l.n1 - 1)) & (z <= r2) & (r2 <= Tc(l.n2 - 1))) ||
        return VoxelLocation(0, OUTSIDE)
    k, conjugated = stored_location(l, unsafe_trunc(Int, r0), unsafe_trunc(Int, r1), unsafe_trunc(Int, r2))
    return VoxelLocation(k, conjugated ? CONJUGATED : DIRECT)
end

"Value of `v` at a nearest-neighbour location (zero outside)."
@inline function evaluate(v::VolumeView{T}, loc::VoxelLocation) where {T}
    loc.kind == OUTSIDE && return zero(T)
    # k came from stored_location of an in-grid point of v's layout, and v's length matches it
    @inbounds value = v.data[loc.k]
    return loc.kind == CONJUGATED ? conj(value) : value
end

"Adjoint of `evaluate` at a nearest-neighbour location."
@inline function scatter_at!(acc::VolumeView, loc::VoxelLocation, value)
    loc.kind == OUTSIDE && return nothing
    @inbounds acc.data[loc.k] += loc.kind == CONJUGATED ? conj(value) : value
    return nothing
end

"""
    sample_nearest(v::VolumeView, g0, g1, g2)

Value at the grid point nearest to `(g0, g1, g2)` (rounded half to even); zero if that
point is outside the grid. Element type: that of the volume.
"""
@inline sample_nearest(v::VolumeView, g0::Tc, g1::Tc, g2::Tc) where {Tc<:AbstractFloat} =
    evaluate(v, locate_nearest(v, g0, g1, g2))

"""
    scatter_nearest!(acc::VolumeView, g0, g1, g2, value)

Adjoint of `sample_nearest`: add `value` at the nearest grid point if it is in the grid
(a half volume receives `conj(value)` at the stored partner for kz < 0).
"""
@inline scatter_nearest!(acc::VolumeView, g0::Tc, g1::Tc, g2::Tc, value) where {Tc<:AbstractFloat} =
    scatter_at!(acc, locate_nearest(acc, g0, g1, g2), value)
