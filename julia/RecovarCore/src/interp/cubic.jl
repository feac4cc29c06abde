# Periodic cubic B-spline interpolation of a volume at a grid point and its adjoint (the
# coefficients come from src/interp/spline.jl).

# base index floor(g) − 1 of the 4-point stencil, wrapped into [0, n), and whether the
# whole stencil lies inside [0, n) without wrapping
@inline function cubic_base(g::AbstractFloat, n::Int)
    b = floor(g)
    # wrap in floating point first so that any finite coordinate gives a valid index
    if !(abs(b) < 2.0^40)
        b = zero(b)
    end
    i = unsafe_trunc(Int, b) - 1
    inside = (0 <= i) & (i + 3 < n)
    return inside ? i : mod(i, n), inside   # (the division only near the edges)
end

# (j + a) mod n for 0 ≤ j < n and 0 ≤ a ≤ 3, without a division
@inline function wrap_next(j::Int, a::Int, n::Int)
    i = j + a
    while i >= n
        i -= n
    end
    return i
end

"""
    sample_cubic(v::VolumeView, g0, g1, g2)

Periodic cubic B-spline with coefficients `v` at the fractional grid index `g`:
`Σ_j V[j mod N]·Π_d β(g_d − j_d)` over `j_d = floor(g_d) − 1 … floor(g_d) + 2` (kernels.md §3;
recovar's `map_coordinates_with_cubic_spline(V, g, mode="wrap")`). A half volume is read as
its Hermitian expansion. Element type `promote_type(eltype(v), typeof(g0))`.
"""
@inline function sample_cubic(v::VolumeView{T}, g0::Tc, g1::Tc, g2::Tc) where {T,Tc<:AbstractFloat}
    To = promote_type(T, Tc)
    l = v.layout
    w0 = cubic_weights(g0 - floor(g0))
    w1 = cubic_weights(g1 - floor(g1))
    w2 = cubic_weights(g2 - floor(g2))
    j0, in0 = cubic_base(g0, l.n0)
    j1, in1 = cubic_base(g1, l.n1)
    j2, in2 = cubic_base(g2, l.n2)
    acc = zero(To)
    if in0 & in1 & in2 && v.layout isa FullVolume
        s1 = l.n2
        s0 = l.n1 * l.n2
        d = v.data
        for a0 in 1:4
            plane = zero(To)
            for a1 in 1:4
                k = 1 + j2 + s1 * (j1 + a1 - 1) + s0 * (j0 + a0 - 1)
                @inbounds line = w2[1] * d[k] + w2[2] * d[k+1] + w2[3] * d[k+2] + w2[4] * d[k+3]
                plane += w1[a1] * line
            end
            acc += w0[a0] * plane
        end
        return acc
    end
    for a0 in 1:4
        i0 = wrap_next(j0, a0 - 1, l.n0)
        plane = zero(To)
        for a1 in 1:4
            i1 = wrap_next(j1, a1 - 1, l.n1)
            line = zero(To)
            for a2 in 1:4
                line += w2[a2] * read_voxel(v, i0, i1, wrap_next(j2, a2 - 1, l.n2))
            end
            plane += w1[a1] * line
        end
        acc += w0[a0] * plane
    end
    return acc
end

"""
    scatter_cubic!(acc::VolumeView, g0, g1, g2, value)

Adjoint of `sample_cubic`: add `Π_d β(g_d − j_d)·value` at every stencil point `j mod N`.
"""
@inline function scatter_cubic!(acc::VolumeView{T}, g0::Tc, g1::Tc, g2::Tc, value) where {T,Tc<:AbstractFloat}
    l = acc.layout
    w0 = cubic_weights(g0 - floor(g0))
    w1 = cubic_weights(g1 - floor(g1))
    w2 = cubic_weights(g2 - floor(g2))
    j0, _ = cubic_base(g0, l.n0)
    j1, _ = cubic_base(g1, l.n1)
    j2, _ = cubic_base(g2, l.n2)
    for a0 in 1:4
        i0 = wrap_next(j0, a0 - 1, l.n0)
        v0 = w0[a0] * value
        for a1 in 1:4
            i1 = wrap_next(j1, a1 - 1, l.n1)
            v01 = w1[a1] * v0
            for a2 in 1:4
                add_voxel!(acc, i0, i1, wrap_next(j2, a2 - 1, l.n2), convert(T, w2[a2] * v01))
            end
        end
    end
    return nothing
end

"Cubic spline value at a cubic location (`sample_cubic`)."
@inline evaluate(v::VolumeView, loc::CubicLocation) = sample_cubic(v, loc.g0, loc.g1, loc.g2)
"Adjoint of `evaluate` at a cubic location (`scatter_cubic!`)."
@inline scatter_at!(acc::VolumeView, loc::CubicLocation, value) = scatter_cubic!(acc, loc.g0, loc.g1, loc.g2, value)
