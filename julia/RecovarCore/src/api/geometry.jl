# Poses for the exported API: random rotations and the grid points a plan samples.

"""
    random_rotations([rng], n, T=Float32) -> Vector{Matrix{T}}

`n` rotations drawn uniformly (Haar) from unit quaternions.
"""
function random_rotations(rng::AbstractRNG, n::Integer, ::Type{T}=Float32) where {T<:AbstractFloat}
    n >= 0 || throw(ArgumentError("n must be non-negative, got $n"))
    out = Vector{Matrix{T}}(undef, n)
    for i in 1:n
        q = randn(rng, 4)
        a, b, c, d = q ./ sqrt(sum(abs2, q))
        out[i] = T[a^2+b^2-c^2-d^2  2(b*c-a*d)       2(b*d+a*c);
                   2(b*c+a*d)       a^2-b^2+c^2-d^2  2(c*d-a*b);
                   2(b*d-a*c)       2(c*d+a*b)       a^2-b^2-c^2+d^2]
    end
    return out
end

random_rotations(n::Integer, ::Type{T}=Float32) where {T<:AbstractFloat} = random_rotations(Random.default_rng(), n, T)

"""
    slice_points(P::ProjectionPlan) -> Array{T,3}

`(3, npixels, n)`: the fractional grid index `(i0, i1, i2)` (z, y, x; 0-based, center
`nz÷2`) each stored pixel of each image samples, `u·(kx, ky, 0)·R + center`. Square images
and cubic volumes only.
"""
function slice_points(P::ProjectionPlan)
    (P.image_size[1] == P.image_size[2] && allequal3(P.volume_size)) ||
        throw(ArgumentError("slice_points needs square images and a cubic volume"))
    width, side, n = image_dims(P)
    P.upsampling == P.volume_size[1] ÷ side ||
        throw(ArgumentError("slice_points needs the default upsampling $(P.volume_size[1] ÷ side)"))
    out = Array{eltype(P.rotations)}(undef, 3, width * side, n)
    gridpoint_coords!(out, P.rotations, side, P.volume_size[1], is_half(P.image_layout) ? 1 : 0)
    return out
end

allequal3(s::NTuple{3,Int}) = s[1] == s[2] == s[3]
