# Trilinear interpolation of a volume at a grid point (`locate_linear`, `evaluate`) and its
# adjoint (`scatter_at!`), scalar and vectorised for complex float32.

# The 2×2×2 cell with corner b = floor(g): -1 (entirely outside), 0 (partly outside),
# 1 (all eight corners inside).
# (Comparisons in the coordinate type: Julia's exact Float-vs-Int comparisons are slow.)
@inline function cell_status(l::VolumeLayout, b0::Tc, b1::Tc, b2::Tc) where {Tc}
    lo = -one(Tc)
    ((lo <= b0) & (b0 <= Tc(l.n0 - 1)) & (lo <= b1) & (b1 <= Tc(l.n1 - 1)) & (lo <= b2) & (b2 <= Tc(l.n2 - 1))) ||
        return -1
    z = zero(Tc)
    ((z <= b0) & (b0 <= Tc(l.n0 - 2)) & (z <= b1) & (b1 <= Tc(l.n1 - 2)) & (z <= b2) & (b2 <= Tc(l.n2 - 2))) &&
        return 1
    return 0
end

# kind and first stored entry of an all-inside cell with corner (i0, i1, i2)
@inline block_location(l::FullVolume, i0::Int, i1::Int, i2::Int) = (DIRECT, 1 + i2 + l.n2 * (i1 + l.n1 * i0))

@inline function block_location(l::HalfVolume, i0::Int, i1::Int, i2::Int)
    kz = i2 - l.c2
    if kz >= 0
        # both z-neighbours stored directly (i2 + 1 ≤ n2 − 1 keeps kz + 1 ≤ n2h − 1)
        return (DIRECT, 1 + kz + l.n2h * (i1 + l.n1 * i0))
    elseif kz <= -2 && i0 >= 1 && i1 >= 1 && (i2 >= 1 || isodd(l.n2))
        # both z-neighbours at negative kz, and the partners of i0, i0 + 1 (i1, i1 + 1) are
        # p, p − 1: one stored 2×2×2 block, read backwards and conjugated
        p0 = conjugate_partner(i0, l.n0)
        p1 = conjugate_partner(i1, l.n1)
        return (CONJUGATED, 1 - kz + l.n2h * (p1 + l.n1 * p0))
    end
    return (GENERAL, 0)
end

"""
    locate_linear(v::VolumeView, g0, g1, g2) -> CellLocation

The trilinear cell of grid point `g`: corner `b = floor(g)`, fractions `f = g − b`.
"""
@inline function locate_linear(v::VolumeView, g0::Tc, g1::Tc, g2::Tc) where {Tc<:AbstractFloat}
    l = v.layout
    b0 = floor(g0)
    b1 = floor(g1)
    b2 = floor(g2)
    f0 = g0 - b0
    f1 = g1 - b1
    f2 = g2 - b2
    status = cell_status(l, b0, b1, b2)
    status < 0 && return CellLocation{Tc}(0, OUTSIDE, 0, 0, 0, f0, f1, f2)
    i0 = unsafe_trunc(Int, b0)
    i1 = unsafe_trunc(Int, b1)
    i2 = unsafe_trunc(Int, b2)
    kind, k = status > 0 ? block_location(l, i0, i1, i2) : (GENERAL, 0)
    return CellLocation{Tc}(k, kind, i0, i1, i2, f0, f1, f2)
end

# the eight corner values (d000, d001, d010, d011, d100, d101, d110, d111),
# dabc = V[b + (a, b, c)]
@inline function cell_values(v::VolumeView{T}, loc::CellLocation) where {T}
    d = v.data
    k = loc.k
    s1 = stride1(v.layout)
    s0 = stride0(v.layout)
    if loc.kind == DIRECT
        # DIRECT cells come from block_location of an all-inside cell: every index is stored
        @inbounds return (d[k], d[k+1], d[k+s1], d[k+s1+1], d[k+s0], d[k+s0+1], d[k+s0+s1], d[k+s0+s1+1])
    elseif loc.kind == CONJUGATED
        @inbounds return (conj(d[k]), conj(d[k-1]), conj(d[k-s1]), conj(d[k-s1-1]),
                          conj(d[k-s0]), conj(d[k-s0-1]), conj(d[k-s0-s1]), conj(d[k-s0-s1-1]))
    elseif loc.kind == GENERAL
        i0, i1, i2 = loc.i0, loc.i1, loc.i2
        return (read_voxel_or_zero(v, i0, i1, i2), read_voxel_or_zero(v, i0, i1, i2 + 1),
                read_voxel_or_zero(v, i0, i1 + 1, i2), read_voxel_or_zero(v, i0, i1 + 1, i2 + 1),
                read_voxel_or_zero(v, i0 + 1, i1, i2), read_voxel_or_zero(v, i0 + 1, i1, i2 + 1),
                read_voxel_or_zero(v, i0 + 1, i1 + 1, i2), read_voxel_or_zero(v, i0 + 1, i1 + 1, i2 + 1))
    end
    z = zero(T)
    return (z, z, z, z, z, z, z, z)
end

"Trilinear value of `v` at a cell location (cascaded lerps along axis 2, 1, 0, as recovar)."
@inline function evaluate(v::VolumeView, loc::CellLocation)
    loc.kind == DIRECT && return direct_value(v, loc.k, loc.f0, loc.f1, loc.f2)
    loc.kind == CONJUGATED && return conjugated_value(v, loc)
    return trilinear(v, loc)
end

"""
    direct_value(v, k, f0, f1, f2)

Trilinear value in the cell whose corner (0,0,0) is stored entry `k` with every corner
stored directly (a `DIRECT` location), fractions `f`.
"""
@inline direct_value(v::VolumeView, k::Int, f0::Tc, f1::Tc, f2::Tc) where {Tc} =
    trilinear(v, CellLocation{Tc}(k, DIRECT, 0, 0, 0, f0, f1, f2))

# complex float32 in dense storage: the cell is read as four pairs of axis-2 neighbours and
# interpolated four lanes at a time, with the same operations (so the same results) as
# `trilinear`
@inline function direct_value(v::VolumeView{ComplexF32,L,<:DenseComplexF32}, k::Int, f0::Float32, f1::Float32,
                              f2::Float32) where {L}
    d = v.data
    s1 = stride1(v.layout)
    s0 = stride0(v.layout)
    # a DIRECT cell: every corner k … k + s0 + s1 + 1 is stored
    GC.@preserve d begin
        q00 = load_pair(d, k)
        q01 = load_pair(d, k + s1)
        q10 = load_pair(d, k + s0)
        q11 = load_pair(d, k + s0 + s1)
    end
    return trilinear_pairs(q00, q01, q10, q11, f0, f1, f2)
end

"Trilinear value in a `CONJUGATED` cell (half volume, every corner at negative kz)."
@inline conjugated_value(v::VolumeView, loc::CellLocation) = trilinear(v, loc)

# complex float32 in dense storage: corner pair (a, b, 0:1) is the conjugate of entries
# (k', k' − 1) read backwards, i.e. of one pair load at k' − 1 with its halves swapped
@inline function conjugated_value(v::VolumeView{ComplexF32,L,<:DenseComplexF32}, loc::CellLocation{Float32}) where {L}
    d = v.data
    k = loc.k
    s1 = stride1(v.layout)
    s0 = stride0(v.layout)
    # a CONJUGATED cell: every entry k − s0 − s1 − 1 … k is stored
    GC.@preserve d begin
        q00 = swap_conj(load_pair(d, k - 1))
        q01 = swap_conj(load_pair(d, k - s1 - 1))
        q10 = swap_conj(load_pair(d, k - s0 - 1))
        q11 = swap_conj(load_pair(d, k - s0 - s1 - 1))
    end
    return trilinear_pairs(q00, q01, q10, q11, loc.f0, loc.f1, loc.f2)
end

"Scalar trilinear interpolation at a cell location (every kind)."
@inline function trilinear(v::VolumeView{T}, loc::CellLocation{Tc}) where {T,Tc}
    To = promote_type(T, Tc)
    loc.kind == OUTSIDE && return zero(To)
    d000, d001, d010, d011, d100, d101, d110, d111 = cell_values(v, loc)
    fx = loc.f0
    fy = loc.f1
    fz = loc.f2
    dx00 = d000 + (d001 - d000) * fz
    dx01 = d100 + (d101 - d100) * fz
    dx10 = d010 + (d011 - d010) * fz
    dx11 = d110 + (d111 - d110) * fz
    dxy0 = dx00 + (dx10 - dx00) * fy
    dxy1 = dx01 + (dx11 - dx01) * fy
    return convert(To, dxy0 + (dxy1 - dxy0) * fx)
end

"""
    cell_weights(loc) -> (w00, w01, w10, w11, mz, fz)

Trilinear weights of a cell location: `w_ab` for the corners (a, b, ·) over axes 0 and 1
(`(1 − f0 or f0)·(1 − f1 or f1)`), and `1 − f2`, `f2` along axis 2; corner (a, b, c) has
weight `w_ab·(c ? fz : mz)`.
"""
@inline function cell_weights(loc::CellLocation)
    fx = loc.f0
    fy = loc.f1
    fz = loc.f2
    mx = 1 - fx
    my = 1 - fy
    return (mx * my, mx * fy, fx * my, fx * fy, 1 - fz, fz)
end

"Adjoint of `evaluate` at a cell location: `w_a·value` into every in-grid corner a."
@inline scatter_at!(acc::VolumeView, loc::CellLocation, value) = scatter_cell!(acc, loc, value)

# complex float32 into dense storage, a cell stored directly: the eight weighted values are
# added as four pairs of axis-2 neighbours (one load, one add, one store per pair), with the
# same operations (so the same results) as `scatter_cell!`
@inline function scatter_at!(acc::VolumeView{ComplexF32,L,<:DenseComplexF32}, loc::CellLocation{Float32},
                             value::ComplexF32) where {L}
    loc.kind == DIRECT || return scatter_cell!(acc, loc, value)
    w00, w01, w10, w11, mz, fz = cell_weights(loc)
    d = acc.data
    k = loc.k
    s1 = stride1(acc.layout)
    s0 = stride0(acc.layout)
    # a DIRECT cell: every corner k … k + s0 + s1 + 1 is stored
    GC.@preserve d begin
        add_pair!(d, k, w00 * mz, w00 * fz, value)
        add_pair!(d, k + s1, w01 * mz, w01 * fz, value)
        add_pair!(d, k + s0, w10 * mz, w10 * fz, value)
        add_pair!(d, k + s0 + s1, w11 * mz, w11 * fz, value)
    end
    return nothing
end

"Scalar adjoint of `trilinear` at a cell location (every kind)."
@inline function scatter_cell!(acc::VolumeView{T}, loc::CellLocation, value) where {T}
    loc.kind == OUTSIDE && return nothing
    w00, w01, w10, w11, mz, fz = cell_weights(loc)
    e000 = convert(T, (w00 * mz) * value)
    e001 = convert(T, (w00 * fz) * value)
    e010 = convert(T, (w01 * mz) * value)
    e011 = convert(T, (w01 * fz) * value)
    e100 = convert(T, (w10 * mz) * value)
    e101 = convert(T, (w10 * fz) * value)
    e110 = convert(T, (w11 * mz) * value)
    e111 = convert(T, (w11 * fz) * value)
    d = acc.data
    k = loc.k
    s1 = stride1(acc.layout)
    s0 = stride0(acc.layout)
    if loc.kind == DIRECT
        @inbounds begin
            d[k] += e000; d[k+1] += e001; d[k+s1] += e010; d[k+s1+1] += e011
            d[k+s0] += e100; d[k+s0+1] += e101; d[k+s0+s1] += e110; d[k+s0+s1+1] += e111
        end
    elseif loc.kind == CONJUGATED
        @inbounds begin
            d[k] += conj(e000); d[k-1] += conj(e001); d[k-s1] += conj(e010); d[k-s1-1] += conj(e011)
            d[k-s0] += conj(e100); d[k-s0-1] += conj(e101); d[k-s0-s1] += conj(e110); d[k-s0-s1-1] += conj(e111)
        end
    else
        i0, i1, i2 = loc.i0, loc.i1, loc.i2
        add_voxel_if_in_grid!(acc, i0, i1, i2, e000); add_voxel_if_in_grid!(acc, i0, i1, i2 + 1, e001)
        add_voxel_if_in_grid!(acc, i0, i1 + 1, i2, e010); add_voxel_if_in_grid!(acc, i0, i1 + 1, i2 + 1, e011)
        add_voxel_if_in_grid!(acc, i0 + 1, i1, i2, e100); add_voxel_if_in_grid!(acc, i0 + 1, i1, i2 + 1, e101)
        add_voxel_if_in_grid!(acc, i0 + 1, i1 + 1, i2, e110); add_voxel_if_in_grid!(acc, i0 + 1, i1 + 1, i2 + 1, e111)
    end
    return nothing
end

"""
    sample_linear(v::VolumeView, g0, g1, g2)

Trilinear interpolation at the fractional grid index `(g0, g1, g2)`: with `b = floor(g)`,
`f = g − b`, `Σ_{a∈{0,1}³} Π_d (a_d ? f_d : 1 − f_d)·V[b + a]`, evaluated as cascaded lerps
along axis 2, then 1, then 0 (as recovar). Corners outside the grid read zero. Element type
`promote_type(eltype(v), typeof(g0))`.
"""
@inline sample_linear(v::VolumeView, g0::Tc, g1::Tc, g2::Tc) where {Tc<:AbstractFloat} =
    evaluate(v, locate_linear(v, g0, g1, g2))

"""
    scatter_linear!(acc::VolumeView, g0, g1, g2, value)

Adjoint of `sample_linear`: add `w_a·value` at every in-grid corner `b + a` of the cell,
`w_a = Π_d (a_d ? f_d : 1 − f_d)` (for a half volume, corners with negative kz receive
`conj(w_a·value)` at the stored partner).
"""
@inline scatter_linear!(acc::VolumeView, g0::Tc, g1::Tc, g2::Tc, value) where {Tc<:AbstractFloat} =
    scatter_at!(acc, locate_linear(acc, g0, g1, g2), value)
