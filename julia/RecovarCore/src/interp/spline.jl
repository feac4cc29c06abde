# Periodic cubic B-splines (docs/conventions.md §6): the prefilter that turns samples into spline
# coefficients, the evaluation weights, and n-dimensional evaluation. Slicing with cubic
# interpolation (src/interp/cubic.jl) is built on `cubic_weights` and `spline_coefficients!`.
#
# Basis: β(t) = 4 − 6t² + 3|t|³ for |t| ≤ 1, (2 − |t|)³ for 1 ≤ |t| ≤ 2, else 0
# (six times the standard cubic B-spline), so β(0) = 4, β(±1) = 1 and the samples of a
# spline with coefficients C are d[i] = C[i−1] + 4C[i] + C[i+1] (indices modulo N).

"""
    cubic_bspline(t)

The basis `β(t) = 4 − 6t² + 3|t|³` (|t| ≤ 1), `(2 − |t|)³` (1 ≤ |t| ≤ 2), 0 beyond.
"""
@inline function cubic_bspline(t::T) where {T<:AbstractFloat}
    a = abs(t)
    a <= 1 && return 4 - 6 * a * a + 3 * a * a * a
    a <= 2 && return (2 - a) * (2 - a) * (2 - a)
    return zero(T)
end

"""
    cubic_weights(t) -> (w₋₁, w₀, w₁, w₂)

Weights of the coefficients at `b − 1, b, b + 1, b + 2` for a point `x = b + t`,
`b = floor(x)`, `0 ≤ t < 1`: `β(t + 1), β(t), β(1 − t), β(2 − t)`. They sum to 6.
"""
@inline function cubic_weights(t::T) where {T<:AbstractFloat}
    s = 1 - t
    w_minus = s * s * s                         # β(t + 1) = (1 − t)³
    w_zero = 4 - 6 * t * t + 3 * t * t * t      # β(t)
    w_one = 4 - 6 * s * s + 3 * s * s * s       # β(1 − t)
    w_two = t * t * t                           # β(2 − t) = t³
    return (w_minus, w_zero, w_one, w_two)
end

# The pole of the [1, 4, 1] filter: 1 / (z⁻¹ + 4 + z) factors as a causal and an
# anti-causal first-order recursion with z = √3 − 2.
spline_pole(::Type{T}) where {T<:AbstractFloat} = sqrt(T(3)) - 2

# Number of terms after which zᵏ is below the working precision (the periodic start
# values are geometric sums).
function spline_start_terms(::Type{T}, n::Int) where {T}
    z = abs(spline_pole(Float64))
    k = ceil(Int, log(eps(T) / 4) / log(z)) + 1
    return min(n, k)
end

"""
    spline_coefficients!(data::AbstractArray)

Replace `data` (any dimension, real or complex) by its periodic cubic spline
coefficients: along every axis in turn, the solution `C` of
`C[i−1] + 4C[i] + C[i+1] = data[i]` (indices modulo the axis length), computed with the
causal/anti-causal recursions of the pole `z = √3 − 2` and periodic start values. Same
result as dividing the DFT along the axis by `4 + 2cos(2πk/N)`, up to rounding. The
operator is real and symmetric, hence its own adjoint.
"""
function spline_coefficients!(data::AbstractArray{T}) where {T<:Union{AbstractFloat,Complex{<:AbstractFloat}}}
    dims = size(data)
    for d in 1:ndims(data)
        pre = prod(dims[1:d-1])
        post = prod(dims[d+1:end])
        n = dims[d]
        lines = reshape(data, pre, n, post)
        prefilter_axis!(lines, real(T))
    end
    return data
end

# Filter along the middle axis of `lines` (pre, n, post): every (a, ·, c) is one periodic
# line. The innermost loops run over `a` (contiguous), so every pass streams memory.
function prefilter_axis!(lines::AbstractArray{T,3}, ::Type{R}) where {T,R}
    pre, n, post = size(lines)
    if n == 1   # C + 4C + C = d
        lines .*= inv(R(6))
        return lines
    end
    z = spline_pole(R)
    terms = spline_start_terms(R, n)
    causal_scale = inv(1 - z^n)
    anti_scale = -z * causal_scale
    static_blocks(post, max(1, min(Threads.nthreads(), post))) do _, columns
        start = zeros(T, pre)
        for c in columns
            prefilter_lines!(lines, c, start, z, terms, causal_scale, anti_scale)
        end
    end
    return lines
end

function prefilter_lines!(lines::AbstractArray{T,3}, c::Int, start::Vector{T}, z::R, terms::Int,
                          causal_scale::R, anti_scale::R) where {T,R}
    pre, n, _ = size(lines)
    @boundscheck checkbounds(lines, 1:pre, 1:n, c)
    @inbounds begin
        # causal: c⁺[0] = Σₘ zᵐ d[−m mod n] / (1 − zⁿ); c⁺[k] = d[k] + z c⁺[k−1]
        fill!(start, zero(T))
        zk = one(R)
        for m in 0:terms-1
            k = m == 0 ? 1 : n - m + 1
            for a in 1:pre
                start[a] += zk * lines[a, k, c]
            end
            zk *= z
        end
        for a in 1:pre
            lines[a, 1, c] = causal_scale * start[a]
        end
        for k in 2:n, a in 1:pre
            lines[a, k, c] += z * lines[a, k-1, c]
        end
        # anti-causal: c⁻[n−1] = −z/(1 − zⁿ) Σₘ zᵐ c⁺[(n−1+m) mod n]; c⁻[k] = z (c⁻[k+1] − c⁺[k])
        fill!(start, zero(T))
        zk = one(R)
        for m in 0:terms-1
            k = m == 0 ? n : m
            for a in 1:pre
                start[a] += zk * lines[a, k, c]
            end
            zk *= z
        end
        for a in 1:pre
            lines[a, n, c] = anti_scale * start[a]
        end
        for k in n-1:-1:1, a in 1:pre
            lines[a, k, c] = z * (lines[a, k+1, c] - lines[a, k, c])
        end
    end
    return nothing
end

"""
    interpolate_spline!(out, coeffs, coords, wrap, fill_value)

Evaluate the periodic cubic spline with coefficients `coeffs` (N-dimensional, Julia order)
at the points `coords` (N × m; row `d` is the coordinate along NumPy axis `d − 1`, i.e.
Julia dimension `N + 1 − d`). Point x: `S(x) = Σⱼ C[j]·Πβ(x_d − j_d)` over
`j_d = floor(x_d) − 1 … floor(x_d) + 2`; `wrap`: indices modulo the size, otherwise a stencil
index outside the array reads `fill_value`. (recovar's `interpolate_with_spline` applied to
coordinates already shifted by −1 is this with x = coordinate.)
"""
function interpolate_spline!(out::AbstractVector, coeffs::AbstractArray{T,N}, coords::AbstractMatrix{Tc},
                             wrap::Bool, fill_value) where {T,N,Tc<:AbstractFloat}
    size(coords, 1) == N || throw(DimensionMismatch("coords must have $N rows, got $(size(coords, 1))"))
    m = size(coords, 2)
    length(out) == m || throw(DimensionMismatch("out has $(length(out)) entries for $m points"))
    static_blocks(m, max(1, min(Threads.nthreads(), m ÷ 256))) do _, points
        interpolate_points!(out, coeffs, coords, wrap, fill_value, points)
    end
    return out
end

function interpolate_points!(out::AbstractVector{To}, coeffs::AbstractArray{T,N}, coords::AbstractMatrix{Tc},
                             wrap::Bool, fill_value, points::UnitRange{Int}) where {To,T,N,Tc}
    dims = size(coeffs)
    fill_out = convert(To, fill_value)
    for p in points
        # per Julia dimension: base index (floor − 1) and the four weights
        bases = ntuple(Val(N)) do jd
            x = coords[N + 1 - jd, p]
            fb = floor(x)
            abs(fb) < 2.0^40 ? unsafe_trunc(Int, fb) - 1 : typemin(Int) ÷ 2
        end
        weights = ntuple(Val(N)) do jd
            x = coords[N + 1 - jd, p]
            cubic_weights(x - floor(x))
        end
        acc = zero(To)
        for offsets in CartesianIndices(ntuple(_ -> 4, Val(N)))
            w = one(Tc)
            inside = true
            idx = ntuple(Val(N)) do jd
                j = bases[jd] + offsets[jd] - 1
                wrap ? mod(j, dims[jd]) + 1 : j + 1
            end
            for jd in 1:N
                w *= weights[jd][offsets[jd]]
                inside &= 1 <= idx[jd] <= dims[jd]
            end
            value = inside ? convert(To, coeffs[idx...]) : fill_out
            acc += w * value
        end
        out[p] = acc
    end
    return out
end

# ---- kernels ---------------------------------------------------------------------------

"""
    calculate_spline_coefficients_kernel!(data)

Kernel "calculate_spline_coefficients": `data` (any shape, float or complex) is replaced in
place by its periodic cubic spline coefficients (`spline_coefficients!`).
"""
function calculate_spline_coefficients_kernel!(data::AbstractArray)
    spline_coefficients!(data)
    return nothing
end

"""
    interpolate_with_spline_kernel!(out, coeffs, coords, wrap, fill_re, fill_im)

Kernel "interpolate_with_spline": `out` (m,), `coeffs` (NumPy any shape), `coords` (NumPy
(m, ndim): row p is point p, column d the coordinate along NumPy axis d), `wrap` 1/0,
fill value `fill_re + i·fill_im` (imaginary part ignored for real output).
"""
function interpolate_with_spline_kernel!(out::AbstractArray, coeffs::AbstractArray, coords::AbstractArray,
                                         wrap::Integer, fill_re::Real, fill_im::Real)
    eltype(coords) <: AbstractFloat || throw(ArgumentError("coords must be Float32 or Float64"))
    fill_value = eltype(out) <: Complex ? complex(fill_re, fill_im) : fill_re
    interpolate_spline!(vec(out), coeffs, reshape(coords, :, size(coords, ndims(coords))), wrap != 0,
                        fill_value)
    return nothing
end

register_kernel("calculate_spline_coefficients", calculate_spline_coefficients_kernel!)
register_kernel("interpolate_with_spline", interpolate_with_spline_kernel!)
